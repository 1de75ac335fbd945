//! Inputs that fuzzing (scripts/fuzz.sh) found or that sit on the edges the
//! fuzz targets explore, replayed in CI exactly as the targets run them: no
//! panic, and the segments the readers produce keep their invariants.
//! Add a crash's input from fuzz/artifacts/<target>/ to fuzz_regressions/<target>/.

use protocol::{codec, FailureRecord, SegmentResult, Task};
use std::path::{Path, PathBuf};
use transcripts::{segmenter, transcript};

/// The same file names as fuzz/fuzz_targets/transcript.rs, chosen by the first byte.
const NAMES: [&str; 6] = ["e.srt", "e.vtt", "e.json", "e.md", "e.txt", "e.mp3.vtt"];

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("the regression folder").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {}", dir.display());
    files
}

#[test]
fn transcript_cases_read_without_panic_and_segment_in_order() {
    for case in cases("transcript") {
        let data = std::fs::read(&case).expect("read case");
        let Some((&pick, bytes)) = data.split_first() else { continue };
        let name = NAMES[usize::from(pick) % NAMES.len()];
        let Ok(read) = transcript::read(Path::new(name), bytes) else { continue };
        let id = protocol::EpisodeId::parse("show/e").expect("id");
        let segments = segmenter::segment(&id, &read.cues, 30_000);
        for segment in &segments {
            assert!(segment.t0_ms <= segment.t1_ms, "{}: a segment ends before it starts", case.display());
            assert!(!segment.text.trim().is_empty(), "{}: an empty segment", case.display());
        }
        for pair in segments.windows(2) {
            assert!(pair[0].t0_ms <= pair[1].t0_ms, "{}: segments out of order", case.display());
        }
    }
}

#[test]
fn wire_cases_are_errors_or_round_trip() {
    for case in cases("wire") {
        let data = std::fs::read(&case).expect("read case");
        if let Ok(task) = codec::decode::<Task>(&data) {
            let again = codec::decode::<Task>(&codec::encode(&task).expect("encode")).expect("decode");
            assert_eq!(again, task, "{}", case.display());
        }
        let _ = codec::decode::<SegmentResult>(&data);
        let _ = FailureRecord::decode(&data);
    }
}
