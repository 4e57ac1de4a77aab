//! What the fuzz targets share: an allocator that refuses large allocations, the way the
//! transports feed a [`FrameReader`], a plain model of the framing, and a message generator.
//!
//! The process-pool protocol (`src/process/protocol.rs`) reaches this crate through
//! `cfutures::fuzzing` (feature `fuzzing`).

use cfutures::fuzzing::{
    decode, encode, encode_items, max_frame, read_item, FnRef, FrameReader, ItemOutcome, ItemRef,
    Msg,
};
use cfutures::Bytes;
use libfuzzer_sys::arbitrary::{Result, Unstructured};

// ---- The allocator: the library's own test allocator (thread-local caps; the targets run on
// one thread), shared by path so that the unit tests and the fuzz targets check the same way.

#[path = "../../src/process/capped_alloc.rs"]
mod capped_alloc;
pub use capped_alloc::with_cap;

/// The cap for arbitrary streams: above the reader's buffer (64 KiB), so that large frames
/// take their own-buffer path, and far above any input libFuzzer makes by default (4 KiB).
pub const GARBAGE_CAP: usize = 1 << 20;
/// The cap for generated messages (a few MiB of payload at most).
pub const MESSAGES_CAP: usize = 64 << 20;

// ---- Splits

/// How a stream is cut into reads: sizes taken in turn from a few bytes of the input.
///
/// Format: a control byte `c`, then `c & 7` size bytes. A size byte `b` reads `b` bytes (times
/// 257 when `c & 8`, to cross the reader's buffer in few steps), or as much as the reader has
/// room for when `b` is 0. With no size bytes, every read takes all the room.
pub struct Splits<'a> {
    sizes: &'a [u8],
    wide: bool,
    next: usize,
}

impl<'a> Splits<'a> {
    /// The splits at the start of `data`, and the rest of it.
    pub fn parse(data: &'a [u8]) -> Option<(Splits<'a>, &'a [u8])> {
        let (&c, rest) = data.split_first()?;
        let k = usize::from(c & 7);
        if rest.len() < k {
            return None;
        }
        let (sizes, rest) = rest.split_at(k);
        let splits = Splits {
            sizes,
            wide: c & 8 != 0,
            next: 0,
        };
        Some((splits, rest))
    }

    /// The splits described by `data` (the end of an input), or reads of all the room.
    pub fn from_rest(data: &'a [u8]) -> Splits<'a> {
        Splits::parse(data).map_or(
            Splits {
                sizes: &[],
                wide: false,
                next: 0,
            },
            |(s, _)| s,
        )
    }

    fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let b = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        match (b, self.wide) {
            (0, _) => usize::MAX,
            (b, false) => usize::from(b),
            (b, true) => usize::from(b) * 257,
        }
    }
}

// ---- Feeding and the model

#[path = "../../src/process/frame_model.rs"]
mod frame_model;
pub use frame_model::{decode_round_trip, feed, model, Fed};

/// The size of the reader's own buffer.
pub fn read_buf() -> usize {
    FrameReader::default().spare().len()
}

/// A multi-item `Done` decodes as `DoneRaw`: turn it back, to compare with what was sent.
pub fn normal(m: Msg) -> Msg {
    match m {
        Msg::DoneRaw { job, n, items } => {
            let raw = items.as_slice();
            let mut pos = 0;
            let items = (0..n)
                .map(
                    |_| match read_item(raw, &mut pos).expect("checked records") {
                        ItemRef::Ok(b) => ItemOutcome::Ok(bytes(b)),
                        ItemRef::Failed(c, m) => ItemOutcome::Failed(c, m.into()),
                        ItemRef::Unresolved(m) => ItemOutcome::Unresolved(m.into()),
                    },
                )
                .collect();
            assert_eq!(pos, raw.len(), "records past the count");
            Msg::Done { job, items }
        }
        m => m,
    }
}

fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from(b).expect("out of memory")
}

/// The decode target: `stream` through a reader (cut by `splits`) and the decoder.
pub fn check_stream(stream: &[u8], mut splits: Splits<'_>) {
    let (expected, announced) = model(stream, GARBAGE_CAP);
    assert!(read_buf() < GARBAGE_CAP);
    let (fed, largest) = with_cap(GARBAGE_CAP, || {
        let fed = feed(stream, || splits.next());
        for body in &fed.bodies {
            decode_round_trip(body.clone());
        }
        fed
    });
    assert_eq!(fed, expected, "the reader and the model disagree");
    // Anything bigger than the input was asked for because a header announced it, and only
    // after the announced length passed the cap.
    let bound = (read_buf() as u64).max(4 * stream.len() as u64 + 256);
    assert!(
        largest as u64 <= bound.max(announced),
        "allocated {largest} bytes from a {}-byte stream",
        stream.len()
    );
}

/// The roundtrip target: `msgs` encoded, through a reader (cut by `splits`) and the decoder.
pub fn check_messages(msgs: &[Msg], mut splits: Splits<'_>) {
    let mut stream = Vec::new();
    let mut frames = Vec::new();
    for m in msgs {
        let at = stream.len();
        encode(m, &mut stream);
        frames.push(stream[at..].to_vec());
    }
    let (expected, announced) = model(&stream, MESSAGES_CAP);
    assert!(!expected.error && !expected.mid_frame && expected.bodies.len() == msgs.len());
    let ((fed, got), largest) = with_cap(MESSAGES_CAP, || {
        let fed = feed(&stream, || splits.next());
        let got: Vec<Msg> = fed
            .bodies
            .iter()
            .map(|b| decode_round_trip(b.clone()).expect("an encoded message decodes"))
            .collect();
        (fed, got)
    });
    assert_eq!(fed, expected, "the reader and the model disagree");
    for ((got, m), frame) in got.into_iter().zip(msgs).zip(&frames) {
        let mut again = Vec::new();
        encode(&got, &mut again);
        assert!(&again == frame, "{got:?} re-encodes differently");
        assert_eq!(normal(got), normal(m.clone()));
    }
    let bound = (read_buf() as u64).max(4 * stream.len() as u64 + 256);
    assert!(largest as u64 <= bound.max(announced));
}

// ---- Messages built from the fuzz input

/// Largest payload generated: past the reader's 64 KiB buffer, so a frame takes the
/// own-buffer path.
const BIG: usize = 200_000;

fn payload(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    if u.ratio(1, 8)? {
        // Large, from a pattern (the input is small).
        let len = u.int_in_range(0..=BIG)?;
        let (a, b) = (u.arbitrary::<u8>()?, u.arbitrary::<u8>()? | 1);
        return Ok((0..len)
            .map(|i| a.wrapping_add(b.wrapping_mul(i as u8)))
            .collect());
    }
    let n = u.arbitrary_len::<u8>()?;
    Ok(u.bytes(n)?.to_vec())
}

fn fnref(u: &mut Unstructured<'_>) -> Result<FnRef> {
    Ok(FnRef {
        addr: u.arbitrary()?,
        base: u.arbitrary()?,
        module: u.arbitrary()?,
        symbol: u.arbitrary()?,
    })
}

fn outcome(u: &mut Unstructured<'_>) -> Result<ItemOutcome> {
    Ok(match u.int_in_range(0..=2)? {
        0 => ItemOutcome::Ok(bytes(&payload(u)?)),
        1 => ItemOutcome::Failed(u.arbitrary()?, u.arbitrary()?),
        _ => ItemOutcome::Unresolved(u.arbitrary()?),
    })
}

/// One message of any kind, with any field values the encoder accepts.
pub fn message(u: &mut Unstructured<'_>) -> Result<Msg> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Msg::Hello {
            magic: u.arbitrary()?,
            version: u.arbitrary()?,
            pid: u.arbitrary()?,
        },
        1 => Msg::Ready,
        2 => Msg::InitFailed {
            code: u.arbitrary()?,
            message: u.arbitrary()?,
        },
        3 => Msg::Started {
            job: u.arbitrary()?,
        },
        4 => {
            let n = u.int_in_range(0..=8)?;
            Msg::Done {
                job: u.arbitrary()?,
                items: (0..n).map(|_| outcome(u)).collect::<Result<_>>()?,
            }
        }
        5 => {
            let n = u.int_in_range(2..=8)?;
            let items = (0..n).map(|_| outcome(u)).collect::<Result<Vec<_>>>()?;
            let mut raw = Vec::new();
            encode_items(&items, &mut raw);
            Msg::DoneRaw {
                job: u.arbitrary()?,
                n,
                items: bytes(&raw),
            }
        }
        6 => Msg::Skipped {
            job: u.arbitrary()?,
        },
        7 => Msg::Setup {
            slot_base: u.arbitrary()?,
            slot_count: u.arbitrary()?,
            max_tasks: u.arbitrary()?,
            notify_start: u.arbitrary()?,
            init: if u.arbitrary()? {
                Some((fnref(u)?, bytes(&payload(u)?)))
            } else {
                None
            },
        },
        8 => Msg::Define {
            fid: u.arbitrary()?,
            func: fnref(u)?,
        },
        9 | 10 => {
            let n: u32 = u.int_in_range(0..=16)?;
            let data = payload(u)?;
            // n items of item_len bytes: the payload cut to a multiple of n; any item_len
            // (up to 2^64 - 1) when there are no items.
            let item_len = match n {
                0 => u.arbitrary()?,
                n => (data.len() / n as usize) as u64,
            };
            let used = (u64::from(n) * item_len) as usize;
            Msg::Run {
                job: u.arbitrary()?,
                slot: u.arbitrary()?,
                fid: u.arbitrary()?,
                n,
                item_len,
                data: bytes(&data[..used]),
            }
        }
        _ => Msg::Exit,
    })
}

/// One to eight messages.
pub fn messages(u: &mut Unstructured<'_>) -> Result<Vec<Msg>> {
    let n = u.int_in_range(1..=8)?;
    (0..n).map(|_| message(u)).collect()
}
