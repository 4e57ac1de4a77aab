//! PR07: arbitrary bytes, fed to the frame reader in arbitrary splits, then decoded.
//!
//! Input: a control byte `c`, then `c & 7` split bytes, then the stream (see
//! [`cfutures_fuzz::Splits`]). Asserts (in `check_stream`): no panic; the reader yields exactly
//! the frames a plain model of the framing finds, and fails exactly where the model does; no
//! allocation larger than the input unless a header announced it and it passed the cap (an
//! allocator refuses anything above 1 MiB, so the large-frame path must fail cleanly); every
//! body that decodes re-encodes to a frame that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((splits, stream)) = cfutures_fuzz::Splits::parse(data) {
        cfutures_fuzz::check_stream(stream, splits);
    }
});
