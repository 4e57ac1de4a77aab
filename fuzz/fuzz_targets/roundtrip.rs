//! PR07, PR08: messages of every kind built from the fuzz input (field values at every edge,
//! payloads past the read buffer's size), encoded, cut into arbitrary reads and decoded: each
//! message comes back, and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    if let Ok(msgs) = cfutures_fuzz::messages(&mut u) {
        let splits = cfutures_fuzz::Splits::from_rest(u.take_rest());
        cfutures_fuzz::check_messages(&msgs, splits);
    }
});
