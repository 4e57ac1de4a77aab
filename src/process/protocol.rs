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
    /// A large body being filled, and how much of it is filled.
    big: Option<(Vec<u8>, usize)>,
}

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
        if let Some((b, filled)) = &mut self.big {
            return &mut b[*filled..];
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
            Some((_, filled)) => *filled += n,
            None => self.end += n,
        }
    }

    /// The next complete frame body, `Ok(None)` if more bytes are needed.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, ProtoError> {
        if let Some((b, filled)) = &self.big {
            if *filled < b.len() {
                return Ok(None);
            }
            return Ok(self.big.take().map(|(b, _)| b));
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
        body.resize(len, 0);
        let have = avail - 8;
        body[..have].copy_from_slice(&self.buf[self.start + 8..self.end]);
        self.start = 0;
        self.end = 0;
        self.big = Some((body, have));
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
}
