// The framing as the reader must see it, and a feeder that drives a [`FrameReader`] the way
// the transports do: shared by the protocol's unit tests and the fuzz targets in fuzz/, which
// include this file by path. Its parent provides `decode`, `encode`, `max_frame`,
// `FrameReader` and `Msg`.

use super::{decode, encode, max_frame, FrameReader, Msg};

/// What a [`FrameReader`] makes of a stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Fed {
    /// The complete frame bodies, in order.
    pub bodies: Vec<Vec<u8>>,
    /// Whether the reader failed (after `bodies`).
    pub error: bool,
    /// Whether bytes of an unfinished frame were left at the end (without error).
    pub mid_frame: bool,
}

/// Feeds `stream` to a fresh reader the way the transports do: each read goes into
/// `spare()` (`chunk()` bytes at most), and complete bodies are taken after each. Stops at the first error, as the
/// callers do (the peer is then killed or abandoned).
pub fn feed(stream: &[u8], mut chunk: impl FnMut() -> usize) -> Fed {
    let mut rd = FrameReader::default();
    let mut bodies = Vec::new();
    let mut pos = 0;
    loop {
        loop {
            match rd.next_body() {
                Ok(Some(b)) => bodies.push(b),
                Ok(None) => break,
                Err(_) => {
                    return Fed {
                        bodies,
                        error: true,
                        mid_frame: false,
                    }
                }
            }
        }
        if pos == stream.len() {
            return Fed {
                bodies,
                error: false,
                mid_frame: rd.is_mid_frame(),
            };
        }
        let spare = rd.spare();
        // A read into no room returns 0, which every caller takes for the peer's EOF.
        assert!(
            !spare.is_empty(),
            "the reader wants bytes but offers no room"
        );
        let n = chunk().clamp(1, spare.len()).min(stream.len() - pos);
        spare[..n].copy_from_slice(&stream[pos..pos + n]);
        rd.filled(n);
        pos += n;
    }
}

/// The framing as the reader must see it, written as plainly as possible, when allocations
/// above `cap` bytes fail (`cap` larger than the reader's buffer). Also returns the largest
/// announced length that passed the `MAX_FRAME` check: the only size taken from the input
/// that the reader may ask the allocator for.
pub fn model(stream: &[u8], cap: usize) -> (Fed, u64) {
    let mut bodies = Vec::new();
    let mut largest = 0;
    let mut pos = 0;
    let (error, mid_frame) = loop {
        let left = stream.len() - pos;
        if left == 0 {
            break (false, false);
        }
        if left < 8 {
            break (false, true);
        }
        let len = u64::from_le_bytes(stream[pos..pos + 8].try_into().unwrap());
        if len == 0 || len > max_frame() {
            break (true, false);
        }
        largest = largest.max(len);
        if len > cap as u64 {
            // Never fits the read buffer, and its own buffer is refused.
            break (true, false);
        }
        if ((left - 8) as u64) < len {
            break (false, true);
        }
        bodies.push(stream[pos + 8..pos + 8 + len as usize].to_vec());
        pos += 8 + len as usize;
    };
    let fed = Fed {
        bodies,
        error,
        mid_frame,
    };
    (fed, largest)
}

/// Decodes `body`; if it decodes, checks that the message encodes to a frame that decodes to
/// the same message, and that encoding that again gives the same bytes.
pub fn decode_round_trip(body: Vec<u8>) -> Option<Msg> {
    let m = decode(body).ok()?;
    let mut frame = Vec::new();
    encode(&m, &mut frame);
    let len = u64::from_le_bytes(frame[..8].try_into().unwrap());
    assert_eq!(len, frame.len() as u64 - 8, "frame length of {m:?}");
    let again = decode(frame[8..].to_vec()).expect("an encoded message decodes");
    assert_eq!(again, m);
    let mut frame2 = Vec::new();
    encode(&again, &mut frame2);
    assert!(frame2 == frame, "encoding is not stable for {m:?}");
    Some(m)
}
