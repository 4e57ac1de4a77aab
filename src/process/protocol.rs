//! Messages between the parent and a worker process: length-prefixed, versioned frames.
//!
//! A frame is a little-endian `u64` body length followed by the body; the body's first byte is
//! the message kind. Lengths are checked against [`MAX_FRAME`] before anything is allocated,
//! and every field is bounds-checked: a worker that writes garbage yields a [`ProtoError`] and
//! is treated as dead, never trusted. This module is pure (no I/O), so it can be fuzzed, and
//! the dispatcher and worker loop do not depend on the byte transport.
//!
//! The payload of a single-result `Done` starts at a 16-byte aligned offset of the body, so the
//! parent hands the received buffer to the future without copying it.

use crate::future::Bytes;

/// Magic of the worker's hello.
pub(crate) const MAGIC: [u8; 4] = *b"CFUT";
/// Protocol version; bumped on any incompatible change.
pub(crate) const VERSION: u32 = 1;
/// Largest frame body accepted (1 TiB): anything larger is garbage.
pub(crate) const MAX_FRAME: u64 = 1 << 40;

/// Where a task function lives, so that a worker can find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnRef {
    /// Address in the parent (valid as-is in a worker forked while the module was loaded).
    pub addr: u64,
    /// Address of the module's base in the parent.
    pub base: u64,
    /// Path of the shared object (or program) holding it.
    pub module: String,
    /// Symbol name ("" if none).
    pub symbol: String,
}

/// How one task ended in the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Success with result bytes.
    Ok(Bytes),
    /// The task failed: code and message.
    Failed(i32, String),
    /// The worker could not find the task function (message: the loader's error).
    Unresolved(String),
}

/// A message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    // ---- worker -> parent
    /// First message of a worker.
    Hello {
        /// Must be [`MAGIC`].
        magic: [u8; 4],
        /// Must be [`VERSION`].
        version: u32,
        /// The worker's pid.
        pid: u32,
    },
    /// The initializer ran (or there is none): the worker takes tasks.
    Ready,
    /// The initializer failed.
    InitFailed {
        /// Its code.
        code: i32,
        /// Its message.
        message: String,
    },
    /// The worker began job `job`.
    Started {
        /// Job id.
        job: u64,
    },
    /// Job `job` ended; one outcome per item.
    Done {
        /// Job id.
        job: u64,
        /// Outcomes, in item order.
        items: Vec<ItemOutcome>,
    },
    /// Job `job` (a map chunk of `n` > 1 items) ended: its item records, checked but kept as
    /// received (read them with [`read_item`]).
    DoneRaw {
        /// Job id.
        job: u64,
        /// Number of items.
        n: u32,
        /// The item records, end to end.
        items: Bytes,
    },
    /// Job `job` was cancelled before the worker began it; it was skipped.
    Skipped {
        /// Job id.
        job: u64,
    },
    // ---- parent -> worker
    /// Settings, sent once after the hello.
    Setup {
        /// The worker's index into the pool's slot table.
        slot_base: u32,
        /// How many slots are the worker's.
        slot_count: u32,
        /// Exit after this many jobs (0: never).
        max_tasks: u64,
        /// Send `Started` before each job (needed for time limits); otherwise the parent
        /// learns that a job began from its slot.
        notify_start: bool,
        /// The initializer and its argument, if any.
        init: Option<(FnRef, Bytes)>,
    },
    /// Defines function id `fid` for later `Run`s.
    Define {
        /// Function id.
        fid: u32,
        /// Where it lives.
        func: FnRef,
    },
    /// Runs `n` items of `item_len` bytes each (`n` = 1 for a plain submit) as job `job`,
    /// arbitrated by slot `slot`.
    Run {
        /// Job id.
        job: u64,
        /// Slot (relative to the worker's `slot_base`).
        slot: u32,
        /// Function id.
        fid: u32,
        /// Number of items.
        n: u32,
        /// Bytes per item.
        item_len: u64,
        /// The items, end to end.
        data: Bytes,
    },
    /// Finish the jobs already sent, then exit.
    Exit,
}

/// A malformed frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

const K_HELLO: u8 = 1;
const K_READY: u8 = 2;
const K_INIT_FAILED: u8 = 3;
const K_STARTED: u8 = 4;
const K_DONE: u8 = 5;
const K_SKIPPED: u8 = 6;
const K_DONE1: u8 = 7;
const K_SETUP: u8 = 16;
const K_DEFINE: u8 = 17;
const K_RUN: u8 = 18;
const K_EXIT: u8 = 19;

/// Offset of the payload in a single-result `Done` body (16-byte aligned).
pub(crate) const DONE1_PAYLOAD: usize = 32;

const T_OK: u8 = 0;
const T_FAILED: u8 = 1;
const T_UNRESOLVED: u8 = 2;

/// Appends the frame of `msg` to `out`.
pub fn encode(msg: &Msg, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    let body = out.len();
    match msg {
        Msg::Hello {
            magic,
            version,
            pid,
        } => {
            out.push(K_HELLO);
            out.extend_from_slice(magic);
            put_u32(out, *version);
            put_u32(out, *pid);
        }
        Msg::Ready => out.push(K_READY),
        Msg::InitFailed { code, message } => {
            out.push(K_INIT_FAILED);
            put_u32(out, *code as u32);
            put_str(out, message);
        }
        Msg::Started { job } => {
            out.push(K_STARTED);
            put_u64(out, *job);
        }
        Msg::Done { job, items } => {
            if let [ItemOutcome::Ok(data)] = items.as_slice() {
                out.truncate(start);
                encode_done1_header(out, *job, data.len());
                out.extend_from_slice(data.as_slice());
                return;
            } else {
                out.push(K_DONE);
                put_u64(out, *job);
                put_u32(out, items.len() as u32);
                encode_items(items, out);
            }
        }
        Msg::DoneRaw { job, n, items } => {
            out.push(K_DONE);
            put_u64(out, *job);
            put_u32(out, *n);
            out.extend_from_slice(items.as_slice());
        }
        Msg::Skipped { job } => {
            out.push(K_SKIPPED);
            put_u64(out, *job);
        }
        Msg::Setup {
            slot_base,
            slot_count,
            max_tasks,
            notify_start,
            init,
        } => {
            out.push(K_SETUP);
            put_u32(out, *slot_base);
            put_u32(out, *slot_count);
            put_u64(out, *max_tasks);
            out.push(u8::from(*notify_start));
            match init {
                None => out.push(0),
                Some((f, arg)) => {
                    out.push(1);
                    put_fnref(out, f);
                    put_bytes(out, arg.as_slice());
                }
            }
        }
        Msg::Define { fid, func } => {
            out.push(K_DEFINE);
            put_u32(out, *fid);
            put_fnref(out, func);
        }
        Msg::Run {
            job,
            slot,
            fid,
            n,
            item_len,
            data,
        } => {
            out.truncate(start);
            encode_run_header(out, *job, *slot, *fid, *n, *item_len);
            out.extend_from_slice(data.as_slice());
            return;
        }
        Msg::Exit => out.push(K_EXIT),
    }
    let len = (out.len() - body) as u64;
    out[start..start + 8].copy_from_slice(&len.to_le_bytes());
}

/// Appends the frame header and fixed fields of a `Run` whose `n * item_len` data bytes the
/// caller appends (or writes) right after.
pub fn encode_run_header(out: &mut Vec<u8>, job: u64, slot: u32, fid: u32, n: u32, item_len: u64) {
    let data_len = u64::from(n) * item_len;
    let start = out.len();
    put_u64(out, RUN_DATA as u64 + data_len);
    // Body: kind, 3 pad bytes, slot, job, fid, n, item_len: the data starts 16-byte aligned.
    out.extend_from_slice(&[K_RUN, 0, 0, 0]);
    put_u32(out, slot);
    put_u64(out, job);
    put_u32(out, fid);
    put_u32(out, n);
    put_u64(out, item_len);
    debug_assert_eq!(out.len() - start, 8 + RUN_DATA);
}

/// Appends the item records of `items` (the body of a multi-item `Done` after its count).
pub fn encode_items(items: &[ItemOutcome], out: &mut Vec<u8>) {
    for it in items {
        match it {
            ItemOutcome::Ok(b) => {
                out.push(T_OK);
                put_bytes(out, b.as_slice());
            }
            ItemOutcome::Failed(code, msg) => {
                out.push(T_FAILED);
                put_u32(out, *code as u32);
                put_str(out, msg);
            }
            ItemOutcome::Unresolved(msg) => {
                out.push(T_UNRESOLVED);
                put_str(out, msg);
            }
        }
    }
}

/// One item record, borrowed from a run of records (see [`read_item`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemRef<'a> {
    /// Success with result bytes.
    Ok(&'a [u8]),
    /// The task failed: code and message.
    Failed(i32, &'a str),
    /// The worker could not find the task function.
    Unresolved(&'a str),
}

/// Reads the item record at `*pos` of `buf` and moves `*pos` past it.
pub fn read_item<'a>(buf: &'a [u8], pos: &mut usize) -> Result<ItemRef<'a>, ProtoError> {
    let mut r = Reader { buf, pos: *pos };
    let text = |b: &'a [u8]| std::str::from_utf8(b).unwrap_or("(message is not UTF-8)");
    let item = match r.u8()? {
        T_OK => {
            let n = r.len()?;
            ItemRef::Ok(r.take(n)?)
        }
        T_FAILED => {
            let code = r.u32()? as i32;
            let n = r.len()?;
            ItemRef::Failed(code, text(r.take(n)?))
        }
        T_UNRESOLVED => {
            let n = r.len()?;
            ItemRef::Unresolved(text(r.take(n)?))
        }
        t => return Err(ProtoError(format!("unknown item tag {t}"))),
    };
    *pos = r.pos;
    Ok(item)
}

/// Appends the frame header of a single successful result of `len` bytes; the caller appends
/// (or writes) the `len` payload bytes right after.
pub fn encode_done1_header(out: &mut Vec<u8>, job: u64, len: usize) {
    put_u64(out, (DONE1_PAYLOAD + len) as u64);
    // Body: kind, 7 pad bytes, job, len, pad: the payload starts 16-byte aligned.
    out.extend_from_slice(&[K_DONE1, 0, 0, 0, 0, 0, 0, 0]);
    put_u64(out, job);
    put_u64(out, len as u64);
    out.extend_from_slice(&[0; DONE1_PAYLOAD - 24]);
}

/// Offset of the data in a `Run` body (16-byte aligned).
pub(crate) const RUN_DATA: usize = 32;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_fnref(out: &mut Vec<u8>, f: &FnRef) {
    put_u64(out, f.addr);
    put_u64(out, f.base);
    put_str(out, &f.module);
    put_str(out, &f.symbol);
}

/// Reads fields from a frame body, bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| ProtoError(format!("truncated field of {n} bytes")))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ProtoError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, ProtoError> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len(&mut self) -> Result<usize, ProtoError> {
        let n = self.u64()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(ProtoError(format!("length {n} exceeds the frame")));
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Bytes, ProtoError> {
        let n = self.len()?;
        let s = self.take(n)?;
        Bytes::copy_from(s).ok_or_else(|| ProtoError("out of memory".into()))
    }
    fn string(&mut self) -> Result<String, ProtoError> {
        let n = self.len()?;
        let s = self.take(n)?;
        Ok(String::from_utf8_lossy(s).into_owned())
    }
    fn fnref(&mut self) -> Result<FnRef, ProtoError> {
        Ok(FnRef {
            addr: self.u64()?,
            base: self.u64()?,
            module: self.string()?,
            symbol: self.string()?,
        })
    }
    fn end(&self) -> Result<(), ProtoError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(ProtoError(format!(
                "{} trailing bytes",
                self.buf.len() - self.pos
            )))
        }
    }
}

/// Decodes one frame body (without its length prefix). `body` is taken by value so that a
/// single-result `Done` keeps the buffer as its payload without a copy.
pub fn decode(body: Vec<u8>) -> Result<Msg, ProtoError> {
    let Some(&kind) = body.first() else {
        return Err(ProtoError("empty frame".into()));
    };
    if kind == K_DONE1 {
        if body.len() < DONE1_PAYLOAD {
            return Err(ProtoError("truncated result frame".into()));
        }
        let (job, len) = {
            let mut r = Reader { buf: &body, pos: 8 };
            (r.u64()?, r.u64()?)
        };
        if len != (body.len() - DONE1_PAYLOAD) as u64 {
            return Err(ProtoError("result length does not match the frame".into()));
        }
        let data = Bytes::from_vec_at(body, DONE1_PAYLOAD);
        return Ok(Msg::Done {
            job,
            items: vec![ItemOutcome::Ok(data)],
        });
    }
    let mut r = Reader { buf: &body, pos: 1 };
    let msg = match kind {
        K_HELLO => {
            let m = r.take(4)?;
            Msg::Hello {
                magic: [m[0], m[1], m[2], m[3]],
                version: r.u32()?,
                pid: r.u32()?,
            }
        }
        K_READY => Msg::Ready,
        K_INIT_FAILED => Msg::InitFailed {
            code: r.u32()? as i32,
            message: r.string()?,
        },
        K_STARTED => Msg::Started { job: r.u64()? },
        K_DONE => {
            let job = r.u64()?;
            let n = r.u32()? as usize;
            // Each item takes at least 9 bytes: no allocation beyond what the frame can hold.
            if n > (body.len() - r.pos) / 9 {
                return Err(ProtoError(format!("{n} items cannot fit the frame")));
            }
            if n > 1 {
                // A map chunk: check every record now, keep them as they came (no copy).
                let start = r.pos;
                let mut pos = start;
                for _ in 0..n {
                    read_item(&body, &mut pos)?;
                }
                if pos != body.len() {
                    return Err(ProtoError(format!("{} trailing bytes", body.len() - pos)));
                }
                return Ok(Msg::DoneRaw {
                    job,
                    n: n as u32,
                    items: Bytes::from_vec_at(body, start),
                });
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(match r.u8()? {
                    T_OK => ItemOutcome::Ok(r.bytes()?),
                    T_FAILED => ItemOutcome::Failed(r.u32()? as i32, r.string()?),
                    T_UNRESOLVED => ItemOutcome::Unresolved(r.string()?),
                    t => return Err(ProtoError(format!("unknown item tag {t}"))),
                });
            }
            Msg::Done { job, items }
        }
        K_SKIPPED => Msg::Skipped { job: r.u64()? },
        K_SETUP => {
            let slot_base = r.u32()?;
            let slot_count = r.u32()?;
            let max_tasks = r.u64()?;
            let notify_start = match r.u8()? {
                0 => false,
                1 => true,
                t => return Err(ProtoError(format!("bad flag {t}"))),
            };
            let init = match r.u8()? {
                0 => None,
                1 => Some((r.fnref()?, r.bytes()?)),
                t => return Err(ProtoError(format!("bad initializer tag {t}"))),
            };
            Msg::Setup {
                slot_base,
                slot_count,
                max_tasks,
                notify_start,
                init,
            }
        }
        K_DEFINE => Msg::Define {
            fid: r.u32()?,
            func: r.fnref()?,
        },
        K_RUN => {
            r.pos = 4;
            let slot = r.u32()?;
            let job = r.u64()?;
            let fid = r.u32()?;
            let n = r.u32()?;
            let item_len = r.u64()?;
            let rest = body.len() - RUN_DATA;
            if u64::from(n).checked_mul(item_len) != Some(rest as u64) {
                return Err(ProtoError("run data does not match n * item_len".into()));
            }
            return Ok(Msg::Run {
                job,
                slot,
                fid,
                n,
                item_len,
                data: Bytes::from_vec_at(body, RUN_DATA),
            });
        }
        K_EXIT => Msg::Exit,
        k => return Err(ProtoError(format!("unknown message kind {k}"))),
    };
    r.end()?;
    Ok(msg)
}

/// Splits a byte stream into frame bodies.
///
/// The transport reads into [`FrameReader::spare`] and reports with [`FrameReader::filled`];
/// [`FrameReader::next_body`] then yields complete bodies. A large body is read straight into
/// its own buffer, so a 1 GiB result is never copied.
pub struct FrameReader {
    /// Buffered bytes not yet parsed: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A large body being filled (see [`Big`]).
    big: Option<Big>,
}

/// A frame body too large for the read buffer, read straight into its own allocation.
///
/// Its full length is reserved at once (address space only), but pages are zeroed and so
/// touched only a step ahead of the bytes received: a peer announcing a huge frame it never
/// sends costs memory in proportion to what it sends, not to what it announced.
struct Big {
    /// The bytes so far, zero-filled ahead of `filled`; capacity `len`.
    body: Vec<u8>,
    /// How many bytes of `body` have been received.
    filled: usize,
    /// The announced length.
    len: usize,
}

/// The least a large body's filled-ahead region grows by at a time.
const BIG_STEP: usize = 1 << 20;

const READ_BUF: usize = 64 * 1024;

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            big: None,
        }
    }
}

impl FrameReader {
    /// Where the next read should put its bytes.
    pub fn spare(&mut self) -> &mut [u8] {
        if let Some(big) = &mut self.big {
            if big.filled == big.body.len() && big.body.len() < big.len {
                // Zero the next step (at least 1 MiB, and doubling): within the capacity
                // reserved for the whole frame, so nothing is moved.
                let step = big.body.len().max(BIG_STEP).min(big.len - big.body.len());
                big.body.resize(big.body.len() + step, 0);
            }
            return &mut big.body[big.filled..];
        }
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that the last read put `n` bytes into [`FrameReader::spare`].
    pub fn filled(&mut self, n: usize) {
        match &mut self.big {
            Some(big) => big.filled += n,
            None => self.end += n,
        }
    }

    /// The next complete frame body, `Ok(None)` if more bytes are needed.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, ProtoError> {
        if let Some(big) = &self.big {
            if big.filled < big.len {
                return Ok(None);
            }
            return Ok(self.big.take().map(|big| big.body));
        }
        let avail = self.end - self.start;
        if avail < 8 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end = avail;
                self.start = 0;
            }
            return Ok(None);
        }
        let mut h = [0; 8];
        h.copy_from_slice(&self.buf[self.start..self.start + 8]);
        let len = u64::from_le_bytes(h);
        if len == 0 || len > MAX_FRAME {
            return Err(ProtoError(format!("bad frame length {len}")));
        }
        let len = usize::try_from(len).map_err(|_| ProtoError("frame too large".into()))?;
        if avail - 8 >= len {
            let s = self.start + 8;
            let body = self.buf[s..s + len].to_vec();
            self.start = s + len;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
            return Ok(Some(body));
        }
        if len + 8 <= self.buf.len() {
            // Fits the buffer: wait for the rest (compacting first if needed).
            if self.start + 8 + len > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end = avail;
                self.start = 0;
            }
            return Ok(None);
        }
        // A large body: move what we have into its own buffer and read the rest into it.
        let mut body = Vec::new();
        body.try_reserve_exact(len)
            .map_err(|_| ProtoError(format!("cannot allocate a {len}-byte frame")))?;
        let have = avail - 8;
        body.extend_from_slice(&self.buf[self.start + 8..self.end]);
        self.start = 0;
        self.end = 0;
        self.big = Some(Big {
            body,
            filled: have,
            len,
        });
        Ok(None)
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub fn is_mid_frame(&self) -> bool {
        self.big.is_some() || self.end > self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> Bytes {
        Bytes::copy_from(s).unwrap()
    }

    fn samples() -> Vec<Msg> {
        let f = FnRef {
            addr: 0x1234,
            base: 0x1000,
            module: "/lib/x.so".into(),
            symbol: "task".into(),
        };
        vec![
            Msg::Hello {
                magic: MAGIC,
                version: VERSION,
                pid: 42,
            },
            Msg::Ready,
            Msg::InitFailed {
                code: -3,
                message: "no".into(),
            },
            Msg::Started { job: 7 },
            Msg::Done {
                job: 9,
                items: vec![ItemOutcome::Ok(b(&[1; 100]))],
            },
            Msg::Done {
                job: 9,
                items: vec![ItemOutcome::Ok(b(&[]))],
            },
            Msg::Done {
                job: 10,
                items: vec![
                    ItemOutcome::Ok(b(b"ab")),
                    ItemOutcome::Failed(5, "x".into()),
                    ItemOutcome::Unresolved("dl".into()),
                ],
            },
            Msg::Skipped { job: 3 },
            Msg::Setup {
                slot_base: 4,
                slot_count: 64,
                max_tasks: 0,
                notify_start: true,
                init: Some((f.clone(), b(b"init"))),
            },
            Msg::Setup {
                slot_base: 0,
                slot_count: 1,
                max_tasks: 9,
                notify_start: false,
                init: None,
            },
            Msg::Define { fid: 2, func: f },
            Msg::Run {
                job: 11,
                slot: 3,
                fid: 2,
                n: 3,
                item_len: 4,
                data: b(&[7; 12]),
            },
            Msg::Exit,
        ]
    }

    /// A multi-item `Done` decodes as `DoneRaw`: turn it back for comparisons.
    fn normal(m: Msg) -> Msg {
        match m {
            Msg::DoneRaw { job, n, items } => {
                let mut pos = 0;
                let raw = items.as_slice();
                let items = (0..n)
                    .map(|_| match read_item(raw, &mut pos).unwrap() {
                        ItemRef::Ok(b) => ItemOutcome::Ok(Bytes::copy_from(b).unwrap()),
                        ItemRef::Failed(c, m) => ItemOutcome::Failed(c, m.into()),
                        ItemRef::Unresolved(m) => ItemOutcome::Unresolved(m.into()),
                    })
                    .collect();
                Msg::Done { job, items }
            }
            m => m,
        }
    }

    #[test]
    fn round_trip_in_any_split() {
        let msgs = samples();
        let mut stream = Vec::new();
        for m in &msgs {
            encode(m, &mut stream);
        }
        for step in [1, 2, 3, 7, 64, 1000, stream.len()] {
            let mut rd = FrameReader::default();
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < stream.len() {
                let spare = rd.spare();
                let n = step.min(spare.len()).min(stream.len() - pos);
                spare[..n].copy_from_slice(&stream[pos..pos + n]);
                rd.filled(n);
                pos += n;
                while let Some(body) = rd.next_body().unwrap() {
                    got.push(normal(decode(body).unwrap()));
                }
            }
            assert_eq!(got, msgs, "split {step}");
            assert!(!rd.is_mid_frame());
        }
    }

    #[test]
    fn big_frames_are_read_in_place() {
        let big = Msg::Done {
            job: 1,
            items: vec![ItemOutcome::Ok(b(&vec![0xab; 300_000]))],
        };
        let mut stream = Vec::new();
        encode(&big, &mut stream);
        encode(&Msg::Started { job: 2 }, &mut stream);
        let mut rd = FrameReader::default();
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            let spare = rd.spare();
            let n = spare.len().min(stream.len() - pos).min(10_000);
            spare[..n].copy_from_slice(&stream[pos..pos + n]);
            rd.filled(n);
            pos += n;
            while let Some(body) = rd.next_body().unwrap() {
                got.push(decode(body).unwrap());
            }
        }
        assert_eq!(got, vec![big, Msg::Started { job: 2 }]);
        if let Msg::Done { items, .. } = &got[0] {
            if let ItemOutcome::Ok(data) = &items[0] {
                assert_eq!(data.as_slice().as_ptr() as usize % 16, 0);
            }
        }
    }

    #[test]
    fn garbage_is_rejected_not_trusted() {
        // Oversized length.
        let mut rd = FrameReader::default();
        rd.spare()[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        rd.filled(8);
        assert!(rd.next_body().is_err());
        // Zero length.
        let mut rd = FrameReader::default();
        rd.spare()[..8].copy_from_slice(&0u64.to_le_bytes());
        rd.filled(8);
        assert!(rd.next_body().is_err());
        // Truncated and trailing fields, unknown kinds, huge item counts.
        for body in [
            vec![],
            vec![99],
            vec![K_STARTED, 1, 2],
            vec![K_STARTED, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            vec![K_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255],
            vec![K_DONE1, 0, 0, 0],
        ] {
            assert!(decode(body).is_err());
        }
    }

    #[test]
    fn every_prefix_and_mutation_decodes_or_errors() {
        // A small deterministic fuzz: no panic on any truncation or single-byte change.
        let mut stream = Vec::new();
        for m in samples() {
            let mut one = Vec::new();
            encode(&m, &mut one);
            stream.push(one[8..].to_vec());
        }
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for body in stream {
            for cut in 0..body.len() {
                let _ = decode(body[..cut].to_vec());
            }
            for _ in 0..200 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut m = body.clone();
                let i = (seed as usize) % m.len();
                m[i] = (seed >> 32) as u8;
                let _ = decode(m);
            }
        }
    }

    // ---- A test allocator: refuses large allocations on the threads that ask it to.

    use crate::process::capped_alloc::with_cap;

    /// The cap of the property tests: above the read buffer (so large frames do take the
    /// own-buffer path) and far above anything the test streams hold.
    const CAP: usize = 1 << 20;

    /// xorshift64*: a deterministic generator, so a failing case is the same on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, one_in: u64) -> bool {
            self.below(one_in) == 0
        }
        /// A length: mostly tiny, sometimes around the read buffer's size.
        fn len(&mut self) -> usize {
            match self.below(64) {
                0 => READ_BUF - 64 + self.below(200) as usize,
                1..=4 => self.below(4096) as usize,
                5..=12 => 0,
                _ => self.below(40) as usize,
            }
        }
        fn bytes(&mut self) -> Bytes {
            let n = self.len();
            let v: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
            Bytes::copy_from(&v).unwrap()
        }
        fn string(&mut self) -> String {
            const CHARS: [char; 8] = ['a', 'Z', '0', ' ', '\0', 'é', '€', '😀'];
            let n = self.below(24) as usize;
            (0..n).map(|_| CHARS[self.below(8) as usize]).collect()
        }
        fn u32(&mut self) -> u32 {
            match self.below(4) {
                0 => 0,
                1 => u32::MAX,
                _ => self.next() as u32,
            }
        }
        fn u64(&mut self) -> u64 {
            match self.below(4) {
                0 => 0,
                1 => u64::MAX,
                _ => self.next(),
            }
        }
        fn fnref(&mut self) -> FnRef {
            FnRef {
                addr: self.u64(),
                base: self.u64(),
                module: self.string(),
                symbol: self.string(),
            }
        }
        fn outcome(&mut self) -> ItemOutcome {
            match self.below(3) {
                0 => ItemOutcome::Ok(self.bytes()),
                1 => ItemOutcome::Failed(self.u32() as i32, self.string()),
                _ => ItemOutcome::Unresolved(self.string()),
            }
        }
        /// A message of any kind, with any field values the encoder accepts.
        fn msg(&mut self) -> Msg {
            match self.below(12) {
                0 => Msg::Hello {
                    magic: (self.next() as u32).to_le_bytes(),
                    version: self.u32(),
                    pid: self.u32(),
                },
                1 => Msg::Ready,
                2 => Msg::InitFailed {
                    code: self.u32() as i32,
                    message: self.string(),
                },
                3 => Msg::Started { job: self.u64() },
                4 => {
                    let n = match self.below(4) {
                        0 => 0,
                        1 => 1,
                        _ => 2 + self.below(6) as usize,
                    };
                    Msg::Done {
                        job: self.u64(),
                        items: (0..n).map(|_| self.outcome()).collect(),
                    }
                }
                5 => {
                    let n = 2 + self.below(6) as u32;
                    let items: Vec<ItemOutcome> = (0..n).map(|_| self.outcome()).collect();
                    let mut raw = Vec::new();
                    encode_items(&items, &mut raw);
                    Msg::DoneRaw {
                        job: self.u64(),
                        n,
                        items: Bytes::copy_from(&raw).unwrap(),
                    }
                }
                6 => Msg::Skipped { job: self.u64() },
                7 => Msg::Setup {
                    slot_base: self.u32(),
                    slot_count: self.u32(),
                    max_tasks: self.u64(),
                    notify_start: self.chance(2),
                    init: if self.chance(2) {
                        None
                    } else {
                        Some((self.fnref(), self.bytes()))
                    },
                },
                8 => Msg::Define {
                    fid: self.u32(),
                    func: self.fnref(),
                },
                9 | 10 => {
                    let n = self.below(5) as u32;
                    let item_len = if n == 0 {
                        self.u64()
                    } else {
                        self.len() as u64 / u64::from(n)
                    };
                    let data: Vec<u8> = (0..u64::from(n) * item_len)
                        .map(|_| self.next() as u8)
                        .collect();
                    Msg::Run {
                        job: self.u64(),
                        slot: self.u32(),
                        fid: self.u32(),
                        n,
                        item_len,
                        data: Bytes::copy_from(&data).unwrap(),
                    }
                }
                _ => Msg::Exit,
            }
        }
        /// The size of the next read: one byte, a few, or as much as there is room for.
        fn chunk(&mut self) -> usize {
            match self.below(4) {
                0 => 1,
                1 => 1 + self.below(16) as usize,
                2 => 1 + self.below(READ_BUF as u64 * 2) as usize,
                _ => usize::MAX,
            }
        }
    }

    /// The framing model, the feeder and the round-trip check, shared with fuzz/.
    mod frame_model {
        include!("frame_model.rs");
    }
    use frame_model::{decode_round_trip, feed, model};

    fn max_frame() -> u64 {
        MAX_FRAME
    }

    #[test]
    #[cfg_attr(miri, ignore = "3000 random cases: over 10 minutes under Miri")]
    fn random_messages_survive_any_split() {
        let mut rng = Rng(0x5eed_0001);
        for case in 0..3000 {
            let msgs: Vec<Msg> = (0..1 + rng.below(6)).map(|_| rng.msg()).collect();
            let mut stream = Vec::new();
            let mut frames = Vec::new();
            for m in &msgs {
                let at = stream.len();
                encode(m, &mut stream);
                frames.push(stream[at..].to_vec());
            }
            let fed = feed(&stream, || rng.chunk());
            assert!(!fed.error && !fed.mid_frame, "case {case}: {msgs:?}");
            assert_eq!(fed.bodies.len(), msgs.len(), "case {case}");
            for ((body, m), frame) in fed.bodies.into_iter().zip(&msgs).zip(&frames) {
                assert_eq!(body[..], frame[8..], "case {case}");
                let got = decode(body).unwrap_or_else(|e| panic!("case {case}: {e}: {m:?}"));
                assert_eq!(normal(got.clone()), normal(m.clone()), "case {case}");
                // Re-encoding what was decoded gives the same frame.
                let mut again = Vec::new();
                encode(&got, &mut again);
                assert_eq!(&again, frame, "case {case}");
            }
        }
    }

    /// A stream that is wrong somewhere: random bytes, or real frames damaged.
    fn garbage(rng: &mut Rng) -> Vec<u8> {
        let mut s = Vec::new();
        for _ in 0..1 + rng.below(4) {
            encode(&rng.msg(), &mut s);
        }
        match rng.below(6) {
            // Pure noise.
            0 => (0..rng.len()).map(|_| rng.next() as u8).collect(),
            // A header announcing a length of any magnitude, then a few bytes.
            1 => {
                let len = match rng.below(4) {
                    0 => rng.next() >> rng.below(64),
                    1 => MAX_FRAME + rng.below(3) - 1,
                    2 => READ_BUF as u64 - 16 + rng.below(32),
                    _ => rng.below(64),
                };
                let mut s = len.to_le_bytes().to_vec();
                s.extend((0..rng.below(100)).map(|_| rng.next() as u8));
                s
            }
            // Real frames with bytes changed (length fields, counts, tags: anywhere).
            2 | 3 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(s.len() as u64) as usize;
                    s[i] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => 0xff,
                        _ => s[i] ^ (1 << rng.below(8)),
                    };
                }
                s
            }
            // Real frames, truncated, with noise appended.
            4 => {
                s.truncate(rng.below(s.len() as u64) as usize);
                s.extend((0..rng.below(20)).map(|_| rng.next() as u8));
                s
            }
            // A frame whose body is a known kind byte followed by noise.
            _ => {
                let kinds = [
                    K_HELLO,
                    K_READY,
                    K_INIT_FAILED,
                    K_STARTED,
                    K_DONE,
                    K_SKIPPED,
                    K_DONE1,
                    K_SETUP,
                    K_DEFINE,
                    K_RUN,
                    K_EXIT,
                ];
                let mut body = vec![kinds[rng.below(kinds.len() as u64) as usize]];
                body.extend((0..rng.below(80)).map(|_| rng.below(3) as u8 * 0x7f));
                let mut s = (body.len() as u64).to_le_bytes().to_vec();
                s.extend(body);
                s
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "4000 random cases: over 10 minutes under Miri")]
    fn garbage_gives_errors_never_panics_nor_unchecked_allocations() {
        let mut rng = Rng(0x5eed_0002);
        let mut decoded = 0;
        for case in 0..4000 {
            let stream = garbage(&mut rng);
            let (expected, announced) = model(&stream, CAP);
            let splits: Vec<usize> = (0..64).map(|_| rng.chunk()).collect();
            let mut k = 0;
            let (ok, largest) = with_cap(CAP, || {
                let fed = feed(&stream, || {
                    k += 1;
                    splits[k % splits.len()]
                });
                if fed != expected {
                    return Err(format!("framing {fed:?}, expected {expected:?}"));
                }
                for body in fed.bodies {
                    decoded += usize::from(decode_round_trip(body).is_some());
                }
                Ok(())
            });
            if let Err(e) = ok {
                panic!("case {case}: {e}: stream {stream:?}");
            }
            // Anything bigger than the input was asked for because a header announced it, and
            // only after the announced length passed the cap.
            let bound = (READ_BUF as u64).max(4 * stream.len() as u64 + 256);
            assert!(
                largest as u64 <= bound.max(announced),
                "case {case}: allocated {largest} bytes from a {}-byte stream",
                stream.len()
            );
        }
        // The damaged streams are not all rejected at once: the checks past the framing run.
        assert!(decoded > 1000, "only {decoded} bodies decoded");
    }

    /// PR01: a peer that announces a huge frame and sends a little of it costs memory for
    /// what it sent. The whole length is reserved (address space), but the reader zero-fills,
    /// and so touches, only a step ahead of the bytes received, growing as they arrive.
    #[test]
    #[cfg_attr(miri, ignore = "fills of MiBs: too slow under Miri")]
    fn a_huge_announced_frame_is_filled_only_as_bytes_arrive() {
        // 4 GiB: reserved but never touched, whatever the machine's memory.
        let len: usize = 4 << 30;
        let mut rd = FrameReader::default();
        let mut header = (len as u64).to_le_bytes().to_vec();
        header.extend_from_slice(&[7; 100]);
        rd.spare()[..header.len()].copy_from_slice(&header);
        rd.filled(header.len());
        assert_eq!(rd.next_body(), Ok(None));
        assert!(rd.is_mid_frame());
        // What the next read may fill: one step, not the 4 GiB announced.
        let first = rd.spare().len();
        assert!(
            first <= BIG_STEP,
            "the reader zero-filled {first} bytes ahead"
        );
        // Bytes arrive: the region ahead grows by steps (doubling), never past the frame.
        let mut got = 100;
        for _ in 0..4 {
            let n = rd.spare().len();
            assert!(
                n <= got.max(BIG_STEP),
                "{n} bytes ahead with {got} received"
            );
            rd.spare().fill(9);
            rd.filled(n);
            got += n;
            assert_eq!(rd.next_body(), Ok(None));
        }
        // A frame that does arrive whole comes back intact.
        let mut rd = FrameReader::default();
        let len = 3 * BIG_STEP + 5;
        let mut stream = (len as u64).to_le_bytes().to_vec();
        stream.extend((0..len).map(|i| (i % 251) as u8));
        let mut fed = 0;
        let body = loop {
            let spare = rd.spare();
            let n = spare.len().min(stream.len() - fed).min(40_000);
            spare[..n].copy_from_slice(&stream[fed..fed + n]);
            rd.filled(n);
            fed += n;
            if let Some(b) = rd.next_body().unwrap() {
                break b;
            }
        };
        assert_eq!(fed, stream.len());
        assert_eq!(body, stream[8..]);
    }

    /// PR08: announced lengths around 2^31 and 2^32 and past the cap are read as 64-bit
    /// numbers, checked against the cap before anything is allocated, and never overflow an
    /// offset.
    #[test]
    fn length_edges_are_64_bit_and_capped_before_allocating() {
        const EDGES: [u64; 7] = [
            (1 << 31) - 1,
            1 << 31,
            (1 << 32) - 1,
            1 << 32,
            (1 << 32) + 1,
            MAX_FRAME - 1,
            MAX_FRAME,
        ];
        // The reader's header check: an allowed length is asked of the allocator exactly
        // (fallibly: refused here, it is an error naming it); a larger one never is.
        let header = |h: &[u8]| {
            with_cap(CAP, || {
                let mut rd = FrameReader::default();
                rd.spare()[..h.len()].copy_from_slice(h);
                rd.filled(h.len());
                rd.next_body().map(|b| b.map(|b| b.len()))
            })
        };
        for len in EDGES {
            let (r, largest) = header(&len.to_le_bytes());
            assert_eq!(
                r,
                Err(ProtoError(format!("cannot allocate a {len}-byte frame")))
            );
            assert_eq!(largest as u64, len);
        }
        for len in [MAX_FRAME + 1, 1 << 63, u64::MAX - 7, u64::MAX] {
            let (r, largest) = header(&len.to_le_bytes());
            assert_eq!(r, Err(ProtoError(format!("bad frame length {len}"))));
            assert!(
                largest <= READ_BUF,
                "allocated {largest} for a rejected length"
            );
        }
        // The encoders announce 64-bit lengths: header + data, with no 32-bit wrap.
        for (n, item_len) in [
            (1, (1 << 31) - 1),
            (1, 1 << 31),
            (1, (1 << 32) + 1),
            (3, 1 << 31),
            (u32::MAX, 2),
            (2, (1 << 32) - 1),
        ] {
            let mut h = Vec::new();
            encode_run_header(&mut h, 1, 2, 3, n, item_len);
            let len = RUN_DATA as u64 + u64::from(n) * item_len;
            assert_eq!(h[..8], len.to_le_bytes());
            let (_, largest) = header(&h);
            assert_eq!(largest as u64, len, "run of {n} x {item_len}");
        }
        for data in [(1usize << 31) - 1, 1 << 31, (1 << 32) - 1, (1 << 32) + 1] {
            let mut h = Vec::new();
            encode_done1_header(&mut h, 9, data);
            let len = (DONE1_PAYLOAD + data) as u64;
            assert_eq!(h[..8], len.to_le_bytes());
            assert_eq!(h[24..32], (data as u64).to_le_bytes());
            let (_, largest) = header(&h);
            assert_eq!(largest as u64, len);
        }
        // Length fields inside a body: rejected against the frame, before any allocation.
        let edges = EDGES.into_iter().chain([MAX_FRAME + 1, 1 << 63, u64::MAX]);
        for len in edges {
            let l = len.to_le_bytes();
            let mut bodies = Vec::new();
            // A string (InitFailed's message), a byte field (Setup's initializer argument),
            // a single result (Done1), a one-item Done, a map chunk's second item.
            let mut b = vec![K_INIT_FAILED, 0, 0, 0, 0];
            b.extend(l);
            b.extend([b'x'; 40]);
            bodies.push(b);
            let mut b = vec![K_SETUP];
            b.extend([0; 16]);
            b.extend([0, 1]);
            b.extend([0; 16]);
            b.extend([0; 16]); // empty module and symbol
            b.extend(l);
            b.extend([7; 40]);
            bodies.push(b);
            let mut b = vec![K_DONE1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0];
            b.extend(l);
            b.extend([0; 8 + 40]);
            bodies.push(b);
            let mut b = vec![K_DONE];
            b.extend(5u64.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            b.push(T_OK);
            b.extend(l);
            b.extend([1; 40]);
            bodies.push(b);
            let mut b = vec![K_DONE];
            b.extend(5u64.to_le_bytes());
            b.extend(2u32.to_le_bytes());
            b.extend([T_UNRESOLVED, 0, 0, 0, 0, 0, 0, 0, 0, T_FAILED, 1, 0, 0, 0]);
            b.extend(l);
            b.extend([1; 40]);
            bodies.push(b);
            for body in bodies {
                let size = body.len();
                let (r, largest) = with_cap(CAP, || decode(body));
                assert!(r.is_err(), "length {len} accepted: {r:?}");
                assert!(
                    largest <= 4 * size,
                    "allocated {largest} for a {size}-byte body"
                );
            }
        }
        // Counts: n * item_len past 64 bits (wrapping to exactly the 16 data bytes there are,
        // or to 0), or equal to 2^64 - 1; an item count of 2^32 - 1.
        for (n, item_len) in [
            (2u32, (1u64 << 63) + 8),
            (16, (1 << 60) + 1),
            (1 << 31, 1 << 33),
            (u32::MAX, (1 << 32) + 1),
            (u32::MAX, u64::MAX),
        ] {
            let mut h = vec![K_RUN, 0, 0, 0];
            h.extend(0u32.to_le_bytes());
            h.extend(1u64.to_le_bytes());
            h.extend(0u32.to_le_bytes());
            h.extend(n.to_le_bytes());
            h.extend(item_len.to_le_bytes());
            h.extend([0; 16]);
            let (r, largest) = with_cap(CAP, || decode(h));
            assert_eq!(
                r,
                Err(ProtoError("run data does not match n * item_len".into()))
            );
            assert!(largest < 4096);
        }
        let mut b = vec![K_DONE];
        b.extend(5u64.to_le_bytes());
        b.extend(u32::MAX.to_le_bytes());
        b.extend([T_OK; 64]);
        let (r, largest) = with_cap(CAP, || decode(b));
        assert_eq!(
            r,
            Err(ProtoError(format!(
                "{} items cannot fit the frame",
                u32::MAX
            )))
        );
        assert!(largest < 4096);
    }

    /// Writes the seed corpus of the fuzz target `decode` (fuzz/corpus/decode/): one file per
    /// message kind, each a real encoded frame behind the target's split prefix, and one with
    /// every frame in a row. A multi-item `Done` and a `Run` are in `samples()`. Regenerate after a protocol change with
    /// `cargo test --lib write_fuzz_seeds -- --ignored` and commit the files.
    #[test]
    #[ignore = "writes fuzz/corpus/decode; run by hand after a protocol change"]
    fn write_fuzz_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
        std::fs::create_dir_all(&dir).unwrap();
        let names = [
            "hello",
            "ready",
            "init_failed",
            "started",
            "done1",
            "done1_empty",
            "done_many",
            "skipped",
            "setup_init",
            "setup",
            "define",
            "run",
            "exit",
        ];
        let msgs = samples();
        assert_eq!(msgs.len(), names.len());
        let mut all = Vec::new();
        for (i, (m, name)) in msgs.iter().zip(names).enumerate() {
            let mut frame = Vec::new();
            encode(m, &mut frame);
            all.extend_from_slice(&frame);
            // The split prefix (fuzz/src/lib.rs, `Splits`): one size byte, so the frame goes
            // in reads of `i` bytes (the first: all at once).
            let mut seed = vec![1, i as u8];
            seed.extend(frame);
            std::fs::write(dir.join(name), seed).unwrap();
        }
        // Every frame, in reads of 2 bytes, all the room, 249 bytes, in turn.
        let mut seed = vec![3, 2, 0, 249];
        seed.extend(all);
        std::fs::write(dir.join("all"), seed).unwrap();
    }
}
