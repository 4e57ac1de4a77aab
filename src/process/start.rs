//! Start methods: how a worker process comes to be.
//!
//! - `fork`: the pool's manager thread forks the worker directly.
//! - `forkserver` (default): when the pool is created, its manager thread forks a small
//!   single-threaded server; the server forks each worker on request. Workers are children of
//!   a single-threaded process, so no lock of another thread of the application can be held in
//!   them, and every function present in the program when the pool was created runs in them.
//! - `spawn`: the worker is the `cf-worker` program, started with posix_spawn; it loads task
//!   functions by path and symbol.
//!
//! Every worker gets its channel as descriptor 3 (spawn: the slot table as 4), stdin from
//! /dev/null, no other descriptor, default signal handlers and an empty signal mask, no core
//! files, and `PR_SET_PDEATHSIG(SIGKILL)` bound to the manager thread (or the fork server), so
//! no worker outlives the pool. Workers always leave through `_exit`: the parent's buffered
//! stdio is never flushed twice.

use std::ffi::{c_int, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::slots::SlotTable;
use super::transport::Socket;
use crate::Error;

/// How workers start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Forked by a fork server made when the pool is created (the default).
    ForkServer,
    /// Forked directly from the pool's manager thread.
    Fork,
    /// The `cf-worker` program.
    Spawn,
}

/// The channel descriptor number in a worker.
pub(crate) const CHAN_FD: RawFd = 3;
/// The slot table descriptor number in a spawned worker.
pub(crate) const SLOTS_FD: RawFd = 4;
/// Environment variable naming the parent's pid for a spawned worker.
pub(crate) const PARENT_ENV: &str = "CFUTURES_PARENT_PID";

/// A started worker, from the parent's side.
pub struct Started {
    /// Its pid.
    pub pid: i32,
    /// The parent's end of its channel.
    pub chan: OwnedFd,
    /// A pidfd to watch it (`None` for fork-server children: the server reports their exit).
    pub pidfd: Option<OwnedFd>,
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(last_err())
    } else {
        Ok(r)
    }
}

/// A connected pair of close-on-exec stream sockets.
pub fn socketpair(kind: c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pidfd for `pid` (close-on-exec).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
    cvt(fd)?;
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

extern "C" {
    static mut stdout: *mut libc::FILE;
    static mut stderr: *mut libc::FILE;
    fn __fpurge(stream: *mut libc::FILE);
}

/// Discards the stdio output a forked process inherited unflushed from its parent, so that it
/// is written once (by the parent), never again by the child.
///
/// # Safety
/// Only in a freshly forked, single-threaded child.
unsafe fn purge_inherited_stdio() {
    // SAFETY: glibc's stdout/stderr are valid FILE pointers; the child is single-threaded.
    unsafe {
        __fpurge(stdout);
        __fpurge(stderr);
    }
}

/// In a freshly forked worker: sets the process up and runs the worker loop; never returns.
///
/// # Safety
/// Must be called only in the child right after `fork`, with `chan` its channel.
unsafe fn child_main(chan: RawFd, parent: i32, slots: &SlotTable) -> ! {
    // SAFETY: the caller guarantees we are the freshly forked child; these calls only change
    // this process's own descriptors, signal state and limits.
    unsafe {
        purge_inherited_stdio();
        child_setup(chan, parent, CHAN_FD + 1);
    }
    // SAFETY: child_setup put the channel at CHAN_FD; this process owns it from now on.
    let chan = unsafe { OwnedFd::from_raw_fd(CHAN_FD) };
    let code = super::worker::run(Socket::new(chan), slots);
    // SAFETY: flushing what the tasks printed (the inherited buffers were purged), then leaving
    // without running the parent's atexit handlers.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::_exit(code)
    }
}

/// Puts `chan` at descriptor 3, stdin on /dev/null, closes descriptors from `keep_below` on,
/// binds the worker's life to its parent, resets signals and forbids core files.
///
/// # Safety
/// Only in a new worker process (forked child, or `cf-worker` at startup).
pub(crate) unsafe fn child_setup(chan: RawFd, parent: i32, keep_below: RawFd) {
    // SAFETY: plain system calls on this process's own state (see the function's contract).
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != parent {
            libc::_exit(0); // the parent is already gone
        }
        if chan != CHAN_FD {
            libc::dup2(chan, CHAN_FD);
        } else {
            let fl = libc::fcntl(CHAN_FD, libc::F_GETFD);
            libc::fcntl(CHAN_FD, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if null >= 0 {
            libc::dup2(null, 0);
        }
        libc::syscall(libc::SYS_close_range, keep_below as u32, u32::MAX, 0u32);
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
    }
}

/// Forks a process that runs `child(its end of a new socketpair of `kind`, our pid, slots)`,
/// from the calling thread (the manager thread). Returns its pid and our end.
fn fork_with_channel(
    kind: c_int,
    what: &str,
    slots: &SlotTable,
    child: unsafe fn(RawFd, i32, &SlotTable) -> !,
) -> Result<(i32, OwnedFd), Error> {
    let (parent_end, child_end) = socketpair(kind).map_err(|e| sys_error("socketpair", e))?;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    // SAFETY: fork; the child only runs `child`, which never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(sys_error(what, last_err()));
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child, as `child` requires.
        unsafe { child(child_end.as_raw_fd(), me, slots) }
    }
    drop(child_end);
    Ok((pid, parent_end))
}

/// Forks a worker from the calling thread (the manager thread).
fn fork_worker(slots: &SlotTable) -> Result<Started, Error> {
    let (pid, chan) = fork_with_channel(libc::SOCK_STREAM, "fork", slots, child_main)?;
    let pidfd = pidfd_open(pid).map_err(|e| sys_error("pidfd_open", e))?;
    Ok(Started {
        pid,
        chan,
        pidfd: Some(pidfd),
    })
}

fn sys_error(what: &str, e: io::Error) -> Error {
    let status = if e.raw_os_error() == Some(libc::ENOMEM) {
        crate::Status::NoMemory
    } else {
        crate::Status::Broken
    };
    Error::new(
        status,
        format!("cannot start a worker process: {what}: {e}"),
    )
}

/// Record exchanged with the fork server: op, pid, status.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Rec {
    op: u32,
    pid: i32,
    status: i32,
}

const OP_SPAWN: u32 = 1;
const OP_SPAWNED: u32 = 2;
const OP_FAILED: u32 = 3;
const OP_EXITED: u32 = 4;

/// The fork server, from the parent's side.
pub struct ForkServer {
    pid: i32,
    sock: OwnedFd,
    /// Exit reports received while waiting for a spawn reply.
    pending_exits: Vec<(i32, i32)>,
}

impl ForkServer {
    /// Forks the server from the calling thread (the manager thread).
    fn new(slots: &SlotTable) -> Result<ForkServer, Error> {
        let (pid, sock) = fork_with_channel(
            libc::SOCK_SEQPACKET,
            "fork (fork server)",
            slots,
            server_main,
        )?;
        Ok(ForkServer {
            pid,
            sock,
            pending_exits: Vec::new(),
        })
    }

    /// The server's socket, to poll for exit reports.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The server's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn spawn(&mut self) -> Result<Started, Error> {
        let (parent_end, child_end) =
            socketpair(libc::SOCK_STREAM).map_err(|e| sys_error("socketpair", e))?;
        let rec = Rec {
            op: OP_SPAWN,
            ..Rec::default()
        };
        send_rec(self.fd(), &rec, Some(child_end.as_raw_fd()))
            .map_err(|e| sys_error("fork server request", e))?;
        drop(child_end);
        loop {
            let r = recv_rec(self.fd(), true).map_err(|e| sys_error("fork server reply", e))?;
            let Some(r) = r else {
                return Err(Error::new(
                    crate::Status::Broken,
                    "the fork server is gone: cannot start workers",
                ));
            };
            match r.op {
                OP_SPAWNED => {
                    return Ok(Started {
                        pid: r.pid,
                        chan: parent_end,
                        pidfd: None,
                    })
                }
                OP_FAILED => {
                    return Err(sys_error("fork", io::Error::from_raw_os_error(r.status)));
                }
                OP_EXITED => self.pending_exits.push((r.pid, r.status)),
                _ => {}
            }
        }
    }

    /// Whether exit reports arrived while waiting for a spawn reply.
    pub fn has_pending_exits(&self) -> bool {
        !self.pending_exits.is_empty()
    }

    /// Exit reports (pid, wait status) available now. `None` when the server is gone.
    pub fn exits(&mut self) -> Option<Vec<(i32, i32)>> {
        let mut out = std::mem::take(&mut self.pending_exits);
        loop {
            match recv_rec(self.fd(), false) {
                Ok(Some(r)) if r.op == OP_EXITED => out.push((r.pid, r.status)),
                Ok(Some(_)) => {}
                Ok(None) => return if out.is_empty() { None } else { Some(out) },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(out),
                Err(_) => return None,
            }
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        // Closing the socket tells the server to exit; reap it.
        // SAFETY: shutting down our own socket.
        unsafe { libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR) };
        let mut status = 0;
        // SAFETY: the server is our child; waiting for it cannot affect other processes.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

fn send_rec(fd: RawFd, rec: &Rec, pass: Option<RawFd>) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: (rec as *const Rec).cast_mut().cast(),
        iov_len: std::mem::size_of::<Rec>(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data, valid when zeroed.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(pfd) = pass {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen =
            unsafe { libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) } as usize;
        // SAFETY: the control buffer is large enough for one descriptor (checked by size).
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<c_int>(), pfd);
        }
    }
    loop {
        // SAFETY: `msg` points to valid buffers for the duration of the call.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = last_err();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one record (and a passed descriptor into `fd_out` if given). `Ok(None)` at EOF.
fn recv_rec_fd(fd: RawFd, block: bool, fd_out: Option<&mut RawFd>) -> io::Result<Option<Rec>> {
    let mut rec = Rec::default();
    let mut iov = libc::iovec {
        iov_base: (&mut rec as *mut Rec).cast(),
        iov_len: std::mem::size_of::<Rec>(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data, valid when zeroed.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let flags = libc::MSG_CMSG_CLOEXEC | if block { 0 } else { libc::MSG_DONTWAIT };
    loop {
        // SAFETY: `msg` points to valid buffers for the duration of the call.
        let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
        if n == 0 {
            return Ok(None);
        }
        if n < 0 {
            let e = last_err();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // SAFETY: walking the control messages the kernel wrote into `cbuf`.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let got = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<c_int>());
                    match &fd_out {
                        Some(_) => {}
                        None => {
                            libc::close(got);
                        }
                    }
                    if let Some(out) = fd_out {
                        *out = got;
                        break;
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        return Ok(Some(rec));
    }
}

fn recv_rec(fd: RawFd, block: bool) -> io::Result<Option<Rec>> {
    recv_rec_fd(fd, block, None)
}

/// The fork server's loop; never returns.
///
/// # Safety
/// Only in the freshly forked server process.
unsafe fn server_main(sock: RawFd, parent: i32, slots: &SlotTable) -> ! {
    // SAFETY: we are the new server process; these calls set up its own state.
    unsafe {
        purge_inherited_stdio();
        // Set up like a worker: the request socket at 3, nothing else, default signals.
        child_setup(sock, parent, CHAN_FD + 1);
        let s = CHAN_FD;
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let sfd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        let me = libc::getpid();
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: s,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: sfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if libc::poll(fds.as_mut_ptr(), 2, -1) < 0 {
                continue;
            }
            if fds[1].revents != 0 {
                let mut info = [0u8; 128];
                while libc::read(sfd, info.as_mut_ptr().cast(), info.len()) > 0 {}
                reap_and_report(s);
            }
            if fds[0].revents != 0 {
                let mut chan: RawFd = -1;
                match recv_rec_fd(s, false, Some(&mut chan)) {
                    Ok(Some(r)) if r.op == OP_SPAWN && chan >= 0 => {
                        let pid = libc::fork();
                        if pid == 0 {
                            libc::close(sfd);
                            libc::close(s);
                            child_main(chan, me, slots);
                        }
                        libc::close(chan);
                        let reply = if pid < 0 {
                            Rec {
                                op: OP_FAILED,
                                pid: 0,
                                status: *libc::__errno_location(),
                            }
                        } else {
                            Rec {
                                op: OP_SPAWNED,
                                pid,
                                status: 0,
                            }
                        };
                        let _ = send_rec(s, &reply, None);
                    }
                    Ok(Some(_)) => {
                        if chan >= 0 {
                            libc::close(chan);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    _ => {
                        // The pool is gone: our workers die with us (PDEATHSIG).
                        libc::_exit(0);
                    }
                }
            }
        }
    }
}

fn reap_and_report(sock: RawFd) {
    loop {
        let mut status = 0;
        // SAFETY: reaping our own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        let _ = send_rec(
            sock,
            &Rec {
                op: OP_EXITED,
                pid,
                status,
            },
            None,
        );
    }
}

/// Starts `cf-worker` with posix_spawn from the calling thread (the manager thread).
fn spawn_worker(program: &Path, slots: &SlotTable) -> Result<Started, Error> {
    let (parent_end, child_end) =
        socketpair(libc::SOCK_STREAM).map_err(|e| sys_error("socketpair", e))?;
    let path = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid("worker program path contains a NUL byte"))?;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != PARENT_ENV)
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{PARENT_ENV}={me}")).expect("no NUL"));
    let mut envp: Vec<*mut libc::c_char> = env.iter().map(|c| c.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());
    let argv0 = CString::new("cf-worker").expect("no NUL");
    let argv = [argv0.as_ptr().cast_mut(), std::ptr::null_mut()];
    // Sources above the target numbers, so that one dup2 cannot clobber the other's source.
    let high = |fd: RawFd| -> Result<OwnedFd, Error> {
        // SAFETY: duplicating a valid descriptor to a fresh one (close-on-exec) that we own.
        let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, SLOTS_FD + 1) };
        cvt(d).map_err(|e| sys_error("fcntl", e))?;
        // SAFETY: a fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(d) })
    };
    let chan_src = high(child_end.as_raw_fd())?;
    let slots_src = high(slots.raw_fd())?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: the file actions and attributes are initialised before use and destroyed after;
    // every pointer handed to posix_spawn is valid for the call.
    let rc = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_adddup2(&mut fa, chan_src.as_raw_fd(), CHAN_FD);
        libc::posix_spawn_file_actions_adddup2(&mut fa, slots_src.as_raw_fd(), SLOTS_FD);
        libc::posix_spawn_file_actions_addopen(
            &mut fa,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        );
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::posix_spawnattr_setsigmask(&mut attr, &empty);
        libc::posix_spawnattr_setsigdefault(&mut attr, &all);
        libc::posix_spawnattr_setflags(
            &mut attr,
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
        );
        let rc = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &fa,
            &attr,
            argv.as_ptr(),
            envp.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    if rc != 0 {
        return Err(sys_error(
            &format!("posix_spawn {}", program.display()),
            io::Error::from_raw_os_error(rc),
        ));
    }
    drop((child_end, chan_src, slots_src));
    let pidfd = pidfd_open(pid).map_err(|e| sys_error("pidfd_open", e))?;
    Ok(Started {
        pid,
        chan: parent_end,
        pidfd: Some(pidfd),
    })
}

/// Finds the `cf-worker` program: the option, then `CF_WORKER_PATH`, then beside the library
/// holding cfutures, then in `../libexec/cfutures/` from that library's directory (where
/// `make install` puts it), then beside the executable. The error names every place tried.
pub fn find_worker_program(option: Option<&Path>) -> Result<PathBuf, Error> {
    let mut tried = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = option {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("CF_WORKER_PATH") {
            candidates.push(PathBuf::from(p));
        }
        if let Ok(me) = super::resolve::describe(find_worker_program as *const () as usize, false) {
            if let Some(dir) = Path::new(&me.module).parent() {
                candidates.push(dir.join("cf-worker"));
                candidates.push(dir.join("../libexec/cfutures/cf-worker"));
            }
        }
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                candidates.push(dir.join("cf-worker"));
            }
        }
    }
    for c in candidates {
        let cs = CString::new(c.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: access only checks the path.
        if unsafe { libc::access(cs.as_ptr(), libc::X_OK) } == 0 {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    Err(Error::invalid(format!(
        "the spawn start method needs the cf-worker program; not found or not executable at: {} \
         (set it with cf_executor_options_set_worker_path or the CF_WORKER_PATH environment \
         variable)",
        if tried.is_empty() {
            "(no candidate)".to_string()
        } else {
            tried.join(", ")
        }
    )))
}

/// Starts workers by one method. Made (and used) on the pool's manager thread only.
pub struct Starter {
    method: Method,
    slots: Arc<SlotTable>,
    program: Option<PathBuf>,
    server: Option<ForkServer>,
}

impl Starter {
    /// Prepares the start method; for `forkserver`, forks the server now.
    pub fn new(
        method: Method,
        slots: Arc<SlotTable>,
        program: Option<PathBuf>,
    ) -> Result<Starter, Error> {
        crate::fault::load(); // test-only hooks (src/fault.rs); before any process is forked
        let server = match method {
            Method::ForkServer => Some(ForkServer::new(&slots)?),
            _ => None,
        };
        Ok(Starter {
            method,
            slots,
            program,
            server,
        })
    }

    /// Starts one worker.
    pub fn start(&mut self) -> Result<Started, Error> {
        if let Some(e) = crate::fault::start_failure() {
            return Err(sys_error("fork (CFUTURES_TEST_FAULT fail-start)", e));
        }
        match self.method {
            Method::Fork => fork_worker(&self.slots),
            Method::ForkServer => match &mut self.server {
                Some(s) => s.spawn(),
                None => Err(Error::new(crate::Status::Broken, "no fork server")),
            },
            Method::Spawn => match &self.program {
                Some(p) => spawn_worker(p, &self.slots),
                None => Err(Error::invalid("no worker program")),
            },
        }
    }

    /// The fork server, if this method uses one.
    pub fn server(&mut self) -> Option<&mut ForkServer> {
        self.server.as_mut()
    }
}

/// Entry point of the `cf-worker` program (spawn start method); returns its exit status.
pub fn spawned_worker_main() -> i32 {
    crate::fault::load(); // test-only hooks (src/fault.rs)
    let parent: i32 = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    if parent <= 0 {
        eprintln!(
            "cf-worker: this program is started by libcfutures' process pool (spawn start \
             method); it is not meant to be run by hand"
        );
        return 2;
    }
    // SAFETY: we are the new worker process, at startup.
    unsafe { child_setup(CHAN_FD, parent, SLOTS_FD + 1) };
    // SAFETY: descriptor 4 was set up by the parent as the slot table.
    let fd = unsafe { OwnedFd::from_raw_fd(SLOTS_FD) };
    let Ok(slots) = SlotTable::from_fd(fd) else {
        return 3;
    };
    // SAFETY: child_setup put the channel at CHAN_FD; this process owns it from now on.
    let chan = unsafe { OwnedFd::from_raw_fd(CHAN_FD) };
    super::worker::run(Socket::new(chan), &slots)
}
