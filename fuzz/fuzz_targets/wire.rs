//! The wire decoder on arbitrary bytes, as every message type: garbage must
//! be an error, never a panic or an allocation the size of a lie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{codec, FailureRecord, SegmentResult, Task};

fuzz_target!(|data: &[u8]| {
    if let Ok(task) = codec::decode::<Task>(data) {
        assert_eq!(codec::decode::<Task>(&codec::encode(&task).expect("encode")).ok(), Some(task));
    }
    let _ = codec::decode::<SegmentResult>(data);
    let _ = FailureRecord::decode(data);
});
