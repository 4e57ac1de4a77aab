//! The worker loop, shared by forked workers and the `cf-worker` program.
//!
//! A worker says hello, takes its settings, runs the initializer, then reads jobs and runs
//! them one at a time. Before running a job it claims the job's slot in the shared slot table
//! (a job cancelled meanwhile is skipped; the claimed slot is how the parent sees that the job
//! is running). When the pool has a time limit it also sends `Started`, and the `Done` of one
//! job and the `Started` of the next go out in one write; otherwise each `Done` is written as
//! soon as the job ends. The loop knows nothing of how the bytes travel: it runs over any
//! [`Transport`].

use std::collections::VecDeque;

use super::protocol::{self, FrameReader, ItemOutcome, Msg};
use super::resolve::Loader;
use super::slots::SlotTable;
use super::transport::{Interest, Transport};
use crate::future::{run_task, Bytes, Outcome};

/// How long an idle worker polls its channel before it blocks.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);
/// An idle worker polling its channel yields its CPU at most this often.
const IDLE_YIELD_GAP: std::time::Duration = std::time::Duration::from_micros(20);

/// The worker's end of the channel, over any [`Transport`].
struct Chan<'s, T: Transport> {
    t: T,
    slots: &'s SlotTable,
    /// The reply bell's index in `slots` (known from Setup; `None` before, or if out of range).
    bell: Option<usize>,
    /// The job bell's index, rung by the parent after writing to us, and its count when we
    /// last read. While it has not changed and the last read found nothing, there is nothing to
    /// read: no system call.
    job_bell: Option<usize>,
    job_seen: u64,
    /// The last read may have left bytes in the channel.
    maybe_more: bool,
    reader: FrameReader,
    out: Vec<u8>,
    /// The last wait ended in a real sleep (see `wait_readable`).
    slept: bool,
}

enum Read {
    Some,
    Nothing,
    Eof,
}

impl<T: Transport> Chan<'_, T> {
    /// Reads what is available without blocking.
    fn read_now(&mut self) -> Read {
        if !self.maybe_more {
            if let Some(b) = self.job_bell {
                let rings = self.slots.rings(b);
                if rings == self.job_seen {
                    return Read::Nothing;
                }
                // Counted before reading: a later write rings again.
                self.job_seen = rings;
            }
        }
        let room = self.reader.spare().len();
        match self.t.read(self.reader.spare()) {
            Ok(0) => Read::Eof,
            Ok(n) => {
                self.reader.filled(n);
                // A short read took all there was (a stream socket gives what it has).
                self.maybe_more = n == room || self.job_bell.is_none();
                Read::Some
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.maybe_more = false;
                Read::Nothing
            }
            Err(_) => Read::Eof,
        }
    }

    /// Blocks until something is readable (spinning briefly first). `false` at EOF.
    fn wait_readable(&mut self) -> bool {
        let mut got = Read::Nothing;
        // A worker that had gone to sleep was woken on its waiter's CPU, most likely: the
        // scheduler puts the reader of a socket where its writer runs. That waiter now needs the
        // CPU to read the reply, so such a worker does not spin after it: it sleeps at once.
        // It spins again once a job comes back within the spin's time (jobs are flowing).
        let budget = if self.slept {
            std::time::Duration::ZERO
        } else {
            IDLE_SPIN
        };
        let since = std::time::Instant::now();
        // Yielding by time: a look that finds the job bell unchanged costs nanoseconds.
        if crate::sync::spin_until_yielding(
            || {
                got = self.read_now();
                !matches!(got, Read::Nothing)
            },
            budget,
            crate::sync::Yield::After(IDLE_YIELD_GAP),
        ) {
            self.slept = false;
            return !matches!(got, Read::Eof);
        }
        loop {
            self.t.wait(Interest::Read, None);
            // Woken by the channel itself (data, or its end): read whatever the bell says.
            self.maybe_more = true;
            match self.read_now() {
                Read::Some => {
                    self.slept = since.elapsed() > IDLE_SPIN;
                    return true;
                }
                Read::Eof => return false,
                Read::Nothing => {}
            }
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
        if self.out.is_empty() {
            return Ok(());
        }
        let r = self.t.write_all(&self.out).map_err(|_| ());
        self.out.clear();
        self.ring();
        r
    }

    /// Tells the parent's waiters that replies were written (see the slot table's docs).
    fn ring(&self) {
        if let Some(b) = self.bell {
            self.slots.ring(b);
        }
    }
}

/// Runs the worker on `transport` until the parent says exit or goes away; returns the exit
/// status. `slots` is the pool's shared slot table.
pub(crate) fn run<T: Transport>(transport: T, slots: &SlotTable) -> i32 {
    let mut ch = Chan {
        t: transport,
        reader: FrameReader::default(),
        out: Vec::with_capacity(4096),
        slept: false,
        slots,
        bell: None,
        job_bell: None,
        job_seen: 0,
        maybe_more: true,
    };
    ch.send(&Msg::Hello {
        magic: protocol::MAGIC,
        version: crate::fault::hello_version(protocol::VERSION),
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
    // The bells are the two words after this worker's slots.
    let bell = slot_base as usize + slot_count as usize;
    if bell + 1 < slots.len() {
        ch.bell = Some(bell);
        ch.job_bell = Some(bell + 1);
        ch.job_seen = slots.rings(bell + 1);
        ch.maybe_more = true;
    }
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
    // Out at once: jobs may already be waiting behind Setup, and if the first one crashes
    // the worker, the pool must know it got this far (a crash before Ready counts as a
    // failure to start).
    ch.send(&Msg::Ready);
    if ch.flush().is_err() {
        return 0;
    }
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
            // The pool counts every job it sends toward max_tasks_per_child: it sends no more
            // after that many and waits for this worker to exit. A skipped (cancelled) job
            // counts too, or the worker would wait for a job that never comes.
            done_jobs += 1;
            if max_tasks > 0 && done_jobs >= max_tasks {
                let _ = ch.flush();
                return 0;
            }
            continue;
        }
        if notify_start {
            ch.send(&Msg::Started { job });
            if ch.flush().is_err() {
                return 0;
            }
        }
        let items = run_job(&mut loader, fid, n, item_len as usize, &data);
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

fn run_job(
    loader: &mut Loader,
    fid: u32,
    n: u32,
    item_len: usize,
    data: &Bytes,
) -> Vec<ItemOutcome> {
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
fn send_done<T: Transport>(ch: &mut Chan<T>, job: u64, items: Vec<ItemOutcome>) {
    if let [ItemOutcome::Ok(data)] = items.as_slice() {
        if data.len() > 64 * 1024 {
            protocol::encode_done1_header(&mut ch.out, job, data.len());
            if ch.flush().is_ok() {
                let _ = ch.t.write_all(data.as_slice());
                ch.ring();
            }
            return;
        }
    }
    ch.send(&Msg::Done { job, items });
}

#[cfg(test)]
mod tests {
    //! The worker loop over an in-memory transport: it needs nothing of a descriptor.

    use super::*;
    use crate::process::protocol::FnRef;
    use crate::process::transport::mem;
    use std::ffi::{c_int, c_void};
    use std::time::Duration;

    /// Task: the argument's bytes reversed; an empty argument fails with code 7.
    unsafe extern "C" fn reverse(
        arg: *const c_void,
        len: usize,
        out: *mut crate::future::Out,
    ) -> c_int {
        if len == 0 {
            return 7;
        }
        // SAFETY: the pool passes `len` readable bytes at `arg`.
        let mut v = unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), len) }.to_vec();
        v.reverse();
        crate::ffi::out::cf_out_set(out.cast(), v.as_ptr().cast(), v.len());
        0
    }

    /// The parent's side of the exchange, by hand: frames over `t`.
    struct Parent {
        t: mem::End,
        reader: FrameReader,
    }

    impl Parent {
        fn send(&mut self, m: &Msg) {
            let mut out = Vec::new();
            protocol::encode(m, &mut out);
            self.t.write_all(&out).expect("the worker is there");
        }

        fn recv(&mut self) -> Msg {
            loop {
                if let Some(body) = self.reader.next_body().expect("well-formed frames") {
                    return protocol::decode(body).expect("a known message");
                }
                match self.t.read(self.reader.spare()) {
                    Ok(0) => panic!("the worker closed its end"),
                    Ok(n) => self.reader.filled(n),
                    Err(_) => self.t.wait(Interest::Read, Some(Duration::from_secs(30))),
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "memfd_create and dladdr: not supported by Miri")]
    fn worker_loop_runs_over_any_transport() {
        // 5 bytes of room each way: every frame crosses in pieces, through WouldBlock.
        let (parent_end, worker_end) = mem::pair(5);
        let slots = std::sync::Arc::new(SlotTable::new(4).expect("memfd"));
        let worker = {
            let slots = slots.clone();
            std::thread::spawn(move || run(worker_end, &slots))
        };
        let mut p = Parent {
            t: parent_end,
            reader: FrameReader::default(),
        };
        match p.recv() {
            Msg::Hello { magic, version, .. } => {
                assert_eq!(magic, protocol::MAGIC);
                assert_eq!(version, protocol::VERSION);
            }
            m => panic!("expected Hello, got {m:?}"),
        }
        p.send(&Msg::Setup {
            slot_base: 0,
            slot_count: 4,
            max_tasks: 0,
            notify_start: true,
            init: None,
        });
        assert!(matches!(p.recv(), Msg::Ready));
        let func: FnRef = crate::process::resolve::describe(reverse as *const () as usize, false)
            .expect("dladdr");
        p.send(&Msg::Define { fid: 0, func });
        for (job, arg) in [(1u64, &b"abcdef"[..]), (2, &b""[..])] {
            slots.arm(job as usize, job);
            p.send(&Msg::Run {
                job,
                slot: job as u32,
                fid: 0,
                n: 1,
                item_len: arg.len() as u64,
                data: Bytes::copy_from(arg).unwrap(),
            });
            assert!(matches!(p.recv(), Msg::Started { job: j } if j == job));
            match p.recv() {
                Msg::Done { job: j, items } => {
                    assert_eq!(j, job);
                    match (&items[..], arg.is_empty()) {
                        ([ItemOutcome::Ok(b)], false) => assert_eq!(b.as_slice(), b"fedcba"),
                        ([ItemOutcome::Failed(7, _)], true) => {}
                        (other, _) => panic!("job {job}: unexpected outcome {other:?}"),
                    }
                }
                m => panic!("expected Done, got {m:?}"),
            }
        }
        // A job whose slot the parent cancelled is skipped, not run.
        slots.arm(3, 3);
        assert!(crate::future::CancelGate::try_cancel(
            &*slots,
            crate::process::slots::token(3, 3)
        ));
        p.send(&Msg::Run {
            job: 3,
            slot: 3,
            fid: 0,
            n: 1,
            item_len: 1,
            data: Bytes::copy_from(b"x").unwrap(),
        });
        assert!(matches!(p.recv(), Msg::Skipped { job: 3 }));
        p.send(&Msg::Exit);
        assert_eq!(worker.join().expect("the worker thread"), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore = "memfd_create and dladdr: not supported by Miri")]
    fn skipped_jobs_count_toward_max_tasks() {
        // The pool sends a worker at most max_tasks_per_child jobs, then waits for it to exit.
        // A job skipped because it was cancelled counts: otherwise the worker waits for a job
        // that never comes, and a pool with no room for a replacement hangs (found by the
        // soak: one worker, max_tasks_per_child 2, a cancelled job sent ahead, then a map).
        let (parent_end, worker_end) = mem::pair(1 << 16);
        let slots = std::sync::Arc::new(SlotTable::new(4).expect("memfd"));
        let worker = {
            let slots = slots.clone();
            std::thread::spawn(move || run(worker_end, &slots))
        };
        let mut p = Parent {
            t: parent_end,
            reader: FrameReader::default(),
        };
        assert!(matches!(p.recv(), Msg::Hello { .. }));
        p.send(&Msg::Setup {
            slot_base: 0,
            slot_count: 4,
            max_tasks: 2,
            notify_start: false,
            init: None,
        });
        assert!(matches!(p.recv(), Msg::Ready));
        let func: FnRef = crate::process::resolve::describe(reverse as *const () as usize, false)
            .expect("dladdr");
        p.send(&Msg::Define { fid: 0, func });
        for job in 1..=2u64 {
            slots.arm(job as usize, job);
        }
        // Job 1 is cancelled while sent ahead; job 2 runs.
        assert!(crate::future::CancelGate::try_cancel(
            &*slots,
            crate::process::slots::token(1, 1)
        ));
        for job in 1..=2u64 {
            p.send(&Msg::Run {
                job,
                slot: job as u32,
                fid: 0,
                n: 1,
                item_len: 2,
                data: Bytes::copy_from(b"ab").unwrap(),
            });
        }
        assert!(matches!(p.recv(), Msg::Skipped { job: 1 }));
        assert!(matches!(p.recv(), Msg::Done { job: 2, .. }));
        // Two jobs sent: the worker exits by itself (no Exit message), closing its end.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 64];
        loop {
            match p.t.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => panic!("{n} unexpected bytes from the worker"),
                Err(_) => {
                    let now = std::time::Instant::now();
                    assert!(
                        now < deadline,
                        "the worker did not exit after max_tasks_per_child jobs (one skipped)"
                    );
                    p.t.wait(Interest::Read, Some(deadline - now));
                }
            }
        }
        assert_eq!(worker.join().expect("the worker thread"), 0);
    }
}
