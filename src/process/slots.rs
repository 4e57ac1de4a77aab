//! The slot table: one atomic word per job handed to a worker, in memory shared by the parent
//! and every worker of a pool (a memfd, mapped before the workers are forked or passed to a
//! spawned one).
//!
//! A job sent ahead to a worker is still pending: the parent may cancel it until the worker
//! begins it. Both sides settle that race with one compare-and-swap on the job's slot word:
//! the worker swaps (job, PENDING) for (job, RUNNING), the parent's cancel swaps it for
//! (job, CANCELLED). Exactly one succeeds, so a cancelled task never runs and a started one is
//! never reported cancelled.
//!
//! The two words after a worker's slots are its bells, counters incremented after writing to a
//! channel: the reply bell (rung by the worker) and the job bell (rung by the parent). Whoever
//! polls a channel without blocking checks the bell first, so spinning costs no system call
//! while nothing has come. Blocking waits still poll the channel itself (which also sees it
//! close): a bell is only a hint, and a missed ring costs time, never a message.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::future::CancelGate;

/// Not begun; may still be cancelled.
pub(crate) const PENDING: u64 = 0;
/// Begun by the worker.
pub(crate) const RUNNING: u64 = 1;
/// Cancelled by the parent; the worker skips it.
pub(crate) const CANCELLED: u64 = 2;

const JOB_BITS: u32 = 40;
const JOB_MASK: u64 = (1 << JOB_BITS) - 1;

/// The slot word of `job` in `state`.
pub fn word(job: u64, state: u64) -> u64 {
    ((job & JOB_MASK) << 2) | state
}

/// The cancel-gate token of `job` in slot `slot`.
pub fn token(slot: u32, job: u64) -> u64 {
    (u64::from(slot) << JOB_BITS) | (job & JOB_MASK)
}

/// A shared table of slot words.
pub struct SlotTable {
    ptr: NonNull<AtomicU64>,
    len: usize,
    /// The memfd (the parent's table); `None` in a spawned worker, which keeps the mapping only.
    fd: Option<OwnedFd>,
}

// SAFETY: the table is a fixed mapping of atomics; every access goes through `AtomicU64`.
unsafe impl Send for SlotTable {}
// SAFETY: as above: shared access is only through atomic operations.
unsafe impl Sync for SlotTable {}

impl SlotTable {
    /// A new table of `len` slots in a fresh memfd.
    pub fn new(len: usize) -> io::Result<SlotTable> {
        // SAFETY: the name is a valid C string; the flags are valid.
        let fd = unsafe { libc::memfd_create(c"cfutures-slots".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let bytes = len.max(1) * 8;
        // SAFETY: `fd` is a valid memfd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), bytes as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Self::map(fd, len.max(1))
    }

    /// Maps an existing table passed as descriptor `fd` (spawned workers).
    pub fn from_fd(fd: OwnedFd) -> io::Result<SlotTable> {
        // SAFETY: stat is plain data; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is valid and `st` a valid out-pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut table = Self::map(fd, (st.st_size as usize / 8).max(1))?;
        // The worker needs the mapping only. Closing the descriptor keeps a task's stray
        // write() from overwriting the slot words the parent and the other workers rely on
        // (PR01: a task writing to every descriptor made the parent re-run a started task).
        table.fd = None;
        Ok(table)
    }

    fn map(fd: OwnedFd, len: usize) -> io::Result<SlotTable> {
        // SAFETY: mapping `len * 8` bytes of a file of at least that size, shared.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<AtomicU64>()).ok_or_else(io::Error::last_os_error)?;
        Ok(SlotTable {
            ptr,
            len,
            fd: Some(fd),
        })
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty (never: it has at least one slot).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table's descriptor (to pass to a spawned worker); -1 in a spawned worker.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Slot `i`; `None` out of range (a worker naming a slot it does not own is garbage).
    pub fn get(&self, i: usize) -> Option<&AtomicU64> {
        if i >= self.len {
            return None;
        }
        // SAFETY: `i < len` and the mapping holds `len` properly aligned atomics for as long as
        // `self` lives (page-aligned base).
        Some(unsafe { &*self.ptr.as_ptr().add(i) })
    }

    /// Stores (job, PENDING) in slot `i` before the job is sent.
    pub fn arm(&self, i: usize, job: u64) {
        if let Some(s) = self.get(i) {
            s.store(word(job, PENDING), Ordering::Release);
        }
    }

    /// Worker side: claims `job` in slot `i` to run it. `false`: cancelled (or not ours).
    pub fn start(&self, i: usize, job: u64) -> bool {
        self.get(i).is_some_and(|s| {
            s.compare_exchange(
                word(job, PENDING),
                word(job, RUNNING),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        })
    }

    /// Rings bell `i` (a word of the table used as a counter) after writing to a channel, so
    /// that the reader can tell without a system call that there is something to read.
    pub fn ring(&self, i: usize) {
        if let Some(s) = self.get(i) {
            s.fetch_add(1, Ordering::Release);
        }
    }

    /// How many times bell `i` has rung (0 out of range).
    pub fn rings(&self, i: usize) -> u64 {
        self.get(i).map_or(0, |s| s.load(Ordering::Acquire))
    }

    /// Whether the worker has begun `job` in slot `i`.
    pub fn is_running(&self, i: usize, job: u64) -> bool {
        self.get(i)
            .is_some_and(|s| s.load(Ordering::Acquire) == word(job, RUNNING))
    }
}

impl CancelGate for SlotTable {
    fn started(&self, token: u64) -> bool {
        self.is_running((token >> JOB_BITS) as usize, token & JOB_MASK)
    }

    fn try_cancel(&self, token: u64) -> bool {
        let slot = (token >> JOB_BITS) as usize;
        let job = token & JOB_MASK;
        let Some(s) = self.get(slot) else {
            return false;
        };
        match s.compare_exchange(
            word(job, PENDING),
            word(job, CANCELLED),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => true,
            Err(cur) => cur == word(job, CANCELLED),
        }
    }
}

impl Drop for SlotTable {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `map`; no references outlive `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len * 8) };
    }
}
