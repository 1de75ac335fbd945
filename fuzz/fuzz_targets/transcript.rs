//! Every transcript reader, then the segmenter, on arbitrary bytes. The first
//! byte picks the file name the reader is given (its extension guides the
//! format when the content does not decide it); a panic is a bug.
#![no_main]

use transcripts::{segmenter, transcript};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = ["e.srt", "e.vtt", "e.json", "e.md", "e.txt", "e.mp3.vtt"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    if let Ok(read) = transcript::read(std::path::Path::new(name), bytes) {
        let id = protocol::EpisodeId::parse("show/e").expect("a valid id");
        let segments = segmenter::segment(&id, &read.cues, 30_000);
        for pair in segments.windows(2) {
            assert!(pair[0].t0_ms <= pair[1].t0_ms, "segments out of order");
        }
    }
});
