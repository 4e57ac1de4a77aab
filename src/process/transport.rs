//! The byte transport between the pool and one worker.
//!
//! The dispatcher (`process/mod.rs`) and the worker loop (`worker.rs`) move frames through
//! [`Transport`] and know nothing else of how the bytes travel: a socket pair to a local
//! process today ([`Socket`]), a connection to another machine later. What a transport must
//! give:
//! - non-blocking reads and writes, `WouldBlock` when there is nothing to read or no room;
//!   a peer that is gone reads as end of stream or fails a write, and never raises a signal;
//! - a blocking wait for readability or room, for the worker loop (which has nothing else to
//!   do) and for big writes;
//! - a descriptor that polls readable when there is something to read, so that one manager
//!   thread can watch every worker of a pool with one `poll`.
//!
//! Frames, handshake, coalescing and caps live above this layer (`protocol.rs`).
//!
//! One thing is not behind this trait: the start/cancel slot table (`slots.rs`), a shared
//! memory page that lets a worker claim a job and the parent cancel one without a round trip.
//! A worker on another machine would do the same with messages (`Started`, and a cancel
//! request), which the protocol already has the room for.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// What a blocking [`Transport::wait`] waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// A bidirectional byte stream to one peer (see the module documentation).
pub(crate) trait Transport: Send {
    /// Reads what is available into `buf` without blocking: `Ok(0)` when the peer is gone,
    /// `Err(WouldBlock)` when nothing is there yet. Retries on `EINTR` itself.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes as much of `buf` as fits without blocking: `Err(WouldBlock)` when there is no
    /// room, another error when the peer is gone (never a signal). Retries on `EINTR` itself.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// Blocks until the transport is readable (or at end of stream) or writable, or until
    /// `timeout` passes (`None`: no limit).
    fn wait(&self, interest: Interest, timeout: Option<Duration>);

    /// The descriptor that polls readable when [`Transport::read`] has something to give.
    fn poll_fd(&self) -> RawFd;

    /// Writes all of `buf`, waiting for room as needed. `Err` when the peer is gone.
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(Interest::Write, None),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A local stream socket (one end of a `socketpair`), switched to non-blocking mode.
pub(crate) struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Takes `fd`, a connected stream socket, and makes it non-blocking.
    pub(crate) fn new(fd: OwnedFd) -> Socket {
        set_nonblocking(fd.as_raw_fd());
        Socket { fd }
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor the caller holds open.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

impl Transport for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is writable for `buf.len()` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is readable for `buf.len()` bytes. MSG_NOSIGNAL: a dead peer gives
            // EPIPE instead of SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn wait(&self, interest: Interest, timeout: Option<Duration>) {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: match interest {
                Interest::Read => libc::POLLIN,
                Interest::Write => libc::POLLOUT,
            },
            revents: 0,
        };
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        // SAFETY: one valid pollfd. EINTR simply returns: callers retry their operation.
        unsafe { libc::poll(&mut p, 1, ms) };
    }

    fn poll_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
pub(crate) mod mem {
    //! An in-memory transport for tests: two byte queues and a condition variable. It shows
    //! that the worker loop needs nothing of a descriptor (it has no `poll_fd`, so the
    //! dispatcher, which multiplexes with `poll`, cannot use it).

    use super::{Interest, Transport};
    use std::collections::VecDeque;
    use std::io;
    use std::os::fd::RawFd;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    #[derive(Default)]
    struct Pipe {
        bytes: VecDeque<u8>,
        closed: bool,
    }

    #[derive(Default)]
    struct Shared {
        pipes: Mutex<[Pipe; 2]>,
        cv: Condvar,
    }

    /// One end: reads pipe `me`, writes pipe `1 - me`.
    pub(crate) struct End {
        sh: Arc<Shared>,
        me: usize,
        /// Room in the peer's pipe, to exercise the `WouldBlock` paths.
        cap: usize,
    }

    /// A connected pair of ends; each direction holds at most `cap` bytes.
    pub(crate) fn pair(cap: usize) -> (End, End) {
        let sh = Arc::new(Shared::default());
        (
            End {
                sh: sh.clone(),
                me: 0,
                cap,
            },
            End { sh, me: 1, cap },
        )
    }

    impl Drop for End {
        fn drop(&mut self) {
            let mut p = self.sh.pipes.lock().unwrap();
            p[0].closed = true;
            p[1].closed = true;
            self.sh.cv.notify_all();
        }
    }

    impl Transport for End {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let mut p = self.sh.pipes.lock().unwrap();
            let pipe = &mut p[self.me];
            if pipe.bytes.is_empty() {
                return if pipe.closed {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(pipe.bytes.len());
            for (d, s) in buf.iter_mut().zip(pipe.bytes.drain(..n)) {
                *d = s;
            }
            self.sh.cv.notify_all();
            Ok(n)
        }

        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut p = self.sh.pipes.lock().unwrap();
            let pipe = &mut p[1 - self.me];
            if pipe.closed {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.cap - pipe.bytes.len());
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            pipe.bytes.extend(&buf[..n]);
            self.sh.cv.notify_all();
            Ok(n)
        }

        fn wait(&self, interest: Interest, timeout: Option<Duration>) {
            let p = self.sh.pipes.lock().unwrap();
            let ready = |p: &[Pipe; 2]| match interest {
                Interest::Read => !p[self.me].bytes.is_empty() || p[self.me].closed,
                Interest::Write => p[1 - self.me].bytes.len() < self.cap || p[1 - self.me].closed,
            };
            let t = timeout.unwrap_or(Duration::from_secs(3600));
            let _unused = self.sh.cv.wait_timeout_while(p, t, |p| !ready(p)).unwrap();
        }

        fn poll_fd(&self) -> RawFd {
            -1
        }
    }
}
