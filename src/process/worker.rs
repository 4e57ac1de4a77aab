//! The worker loop, shared by forked workers and the `cf-worker` program.
//!
//! A worker says hello, takes its settings, runs the initializer, then reads jobs and runs
//! them one at a time. Before running a job it claims the job's slot in the shared slot table
//! (a job cancelled meanwhile is skipped; the claimed slot is how the parent sees that the job
//! is running). When the pool has a time limit it also sends `Started`, and the `Done` of one
//! job and the `Started` of the next go out in one write; otherwise each `Done` is written as
//! soon as the job ends. The loop knows nothing of how the bytes travel beyond a file
//! descriptor.

use std::collections::VecDeque;
use std::os::fd::RawFd;

use super::protocol::{self, FrameReader, ItemOutcome, Msg};
use super::resolve::Loader;
use super::slots::SlotTable;
use crate::future::{run_task, Bytes, Outcome};

/// How long an idle worker polls its channel before it blocks.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The worker's end of the channel: a non-blocking socket.
struct Chan {
    fd: RawFd,
    reader: FrameReader,
    out: Vec<u8>,
}

enum Read {
    Some,
    Nothing,
    Eof,
}

impl Chan {
    /// Reads what is available without blocking.
    fn read_now(&mut self) -> Read {
        loop {
            let spare = self.reader.spare();
            // SAFETY: `spare` is a writable buffer of `spare.len()` bytes.
            let n = unsafe { libc::read(self.fd, spare.as_mut_ptr().cast(), spare.len()) };
            if n > 0 {
                self.reader.filled(n as usize);
                return Read::Some;
            }
            if n == 0 {
                return Read::Eof;
            }
            match errno() {
                libc::EINTR => continue,
                libc::EAGAIN => return Read::Nothing,
                _ => return Read::Eof,
            }
        }
    }

    /// Blocks until something is readable (spinning briefly first). `false` at EOF.
    fn wait_readable(&mut self) -> bool {
        let mut got = Read::Nothing;
        crate::sync::spin_until(
            || {
                got = self.read_now();
                !matches!(got, Read::Nothing)
            },
            IDLE_SPIN,
        );
        match got {
            Read::Some => return true,
            Read::Eof => return false,
            Read::Nothing => {}
        }
        loop {
            let mut p = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, -1) };
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            return match self.read_now() {
                Read::Some => true,
                Read::Nothing => continue,
                Read::Eof => false,
            };
        }
    }

    /// The next decoded message, blocking. `None` at EOF or on garbage from the parent.
    fn recv(&mut self) -> Option<Msg> {
        loop {
            match self.reader.next_body() {
                Ok(Some(body)) => return protocol::decode(body).ok(),
                Ok(None) => {}
                Err(_) => return None,
            }
            self.flush().ok()?;
            if !self.wait_readable() {
                return None;
            }
        }
    }

    /// A message already received, without blocking; reads what is available first.
    fn try_recv(&mut self) -> Result<Option<Msg>, ()> {
        loop {
            match self.reader.next_body() {
                Ok(Some(body)) => return protocol::decode(body).map(Some).map_err(|_| ()),
                Ok(None) => {}
                Err(_) => return Err(()),
            }
            match self.read_now() {
                Read::Some => continue,
                Read::Nothing => return Ok(None),
                Read::Eof => return Err(()),
            }
        }
    }

    fn send(&mut self, m: &Msg) {
        protocol::encode(m, &mut self.out);
    }

    /// Writes everything buffered. `Err` when the parent is gone.
    fn flush(&mut self) -> Result<(), ()> {
        let out = std::mem::take(&mut self.out);
        let r = write_all(self.fd, &out);
        self.out = out;
        self.out.clear();
        r
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Writes all of `buf` to a non-blocking socket, waiting for room as needed. `Err` when the
/// peer is gone. Never raises SIGPIPE.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), ()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for `buf.len()` bytes.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            buf = &buf[n as usize..];
            continue;
        }
        match errno() {
            libc::EINTR => {}
            libc::EAGAIN => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            _ => return Err(()),
        }
    }
    Ok(())
}

/// Runs the worker on channel `fd` until the parent says exit or goes away; returns the exit
/// status. `slots` is the pool's shared slot table.
pub fn run(fd: RawFd, slots: &SlotTable) -> i32 {
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut ch = Chan {
        fd,
        reader: FrameReader::default(),
        out: Vec::with_capacity(4096),
    };
    ch.send(&Msg::Hello {
        magic: protocol::MAGIC,
        version: protocol::VERSION,
        // SAFETY: getpid has no preconditions.
        pid: unsafe { libc::getpid() } as u32,
    });
    if ch.flush().is_err() {
        return 0;
    }
    let Some(Msg::Setup {
        slot_base,
        slot_count,
        max_tasks,
        notify_start,
        init,
    }) = ch.recv()
    else {
        return 0;
    };
    let mut loader = Loader::default();
    if let Some((f, arg)) = init {
        let outcome = match loader.resolve(&f) {
            Ok(func) => run_task(func, arg.as_slice()),
            Err(e) => Outcome::failed(crate::FailKind::Task, 0, e),
        };
        if let Outcome::Failed(_, code, msg) = outcome {
            ch.send(&Msg::InitFailed {
                code,
                message: msg.to_string_lossy().into_owned(),
            });
            let _ = ch.flush();
            return 0;
        }
    }
    ch.send(&Msg::Ready);
    let mut queue: VecDeque<(u64, u32, u32, u32, u64, Bytes)> = VecDeque::new();
    let mut exiting = false;
    let mut done_jobs: u64 = 0;
    loop {
        // Take in everything already sent, without blocking.
        loop {
            match ch.try_recv() {
                Ok(Some(m)) => match m {
                    Msg::Define { fid, func } => loader.define(fid, &func),
                    Msg::Run {
                        job,
                        slot,
                        fid,
                        n,
                        item_len,
                        data,
                    } => queue.push_back((job, slot, fid, n, item_len, data)),
                    Msg::Exit => exiting = true,
                    _ => return 0,
                },
                Ok(None) => break,
                Err(()) => {
                    exiting = true;
                    break;
                }
            }
        }
        let Some((job, slot, fid, n, item_len, data)) = queue.pop_front() else {
            if exiting || ch.flush().is_err() {
                let _ = ch.flush();
                return 0;
            }
            if !ch.wait_readable() {
                return 0;
            }
            continue;
        };
        if slot >= slot_count || !slots.start((slot_base + slot) as usize, job) {
            ch.send(&Msg::Skipped { job });
            continue;
        }
        if notify_start {
            ch.send(&Msg::Started { job });
            if ch.flush().is_err() {
                return 0;
            }
        }
        let items = run_job(&loader, fid, n, item_len as usize, &data);
        drop(data);
        send_done(&mut ch, job, items);
        if !notify_start && ch.flush().is_err() {
            return 0;
        }
        done_jobs += 1;
        if max_tasks > 0 && done_jobs >= max_tasks {
            let _ = ch.flush();
            return 0;
        }
    }
}

fn run_job(loader: &Loader, fid: u32, n: u32, item_len: usize, data: &Bytes) -> Vec<ItemOutcome> {
    let func = match loader.get(fid) {
        Ok(f) => f,
        Err(e) => return (0..n).map(|_| ItemOutcome::Unresolved(e.clone())).collect(),
    };
    let all = data.as_slice();
    let mut items = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let arg = &all[i * item_len..(i + 1) * item_len];
        let outcome = if (arg.as_ptr() as usize) % 16 == 0 {
            run_task(func, arg)
        } else {
            // Keep the 16-byte alignment promised to tasks.
            match Bytes::copy_from(arg) {
                Some(b) => run_task(func, b.as_slice()),
                None => Outcome::failed(crate::FailKind::Task, 0, "out of memory".into()),
            }
        };
        items.push(match outcome {
            Outcome::Ok(b) => ItemOutcome::Ok(b),
            Outcome::Failed(_, code, msg) => {
                ItemOutcome::Failed(code, msg.to_string_lossy().into_owned())
            }
        });
    }
    items
}

/// Queues a job's `Done`; a big single result is written straight from its buffer.
fn send_done(ch: &mut Chan, job: u64, items: Vec<ItemOutcome>) {
    if let [ItemOutcome::Ok(data)] = items.as_slice() {
        if data.len() > 64 * 1024 {
            protocol::encode_done1_header(&mut ch.out, job, data.len());
            if ch.flush().is_ok() {
                let _ = write_all(ch.fd, data.as_slice());
            }
            return;
        }
    }
    ch.send(&Msg::Done { job, items });
}
