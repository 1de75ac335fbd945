//! Reading what the coordinator wrote to out/, with the same types it wrote
//! (`protocol::output`): every segment, checked to appear once (or counted,
//! for the soak's report), and every file checked against the published schema.

use protocol::output::{EpisodeFile, SegmentOutcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every segment in out/: (episode id, index) → status, with its mined object
/// (or its failure's reason). Panics if a segment appears twice.
pub fn read_out(out: &Path) -> BTreeMap<(String, u64), (String, Value)> {
    let mut segments = BTreeMap::new();
    for (key, mut copies) in tally(out) {
        assert!(copies.len() == 1, "segment {}#{} appears {} times in {}", key.0, key.1, copies.len(), out.display());
        segments.insert(key, copies.remove(0));
    }
    segments
}

/// Every copy of every segment in out/ (a correct run has exactly one each).
pub fn tally(out: &Path) -> BTreeMap<(String, u64), Vec<(String, Value)>> {
    let mut segments: BTreeMap<(String, u64), Vec<(String, Value)>> = BTreeMap::new();
    for path in episode_files(out) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let episode: EpisodeFile =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not an episode file: {e}", path.display()));
        for segment in episode.segments {
            let (status, detail) = match segment.outcome {
                SegmentOutcome::Mined { mined, .. } => ("mined", mined),
                SegmentOutcome::Failed { failure } => {
                    ("failed", serde_json::json!({"kind": failure.kind, "reason": failure.reason}))
                }
            };
            let key = (episode.episode.id.clone(), u64::from(segment.index));
            segments.entry(key).or_default().push((status.to_owned(), detail));
        }
    }
    segments
}

/// Every `*.json` file below `out`.
pub fn episode_files(out: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![out.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            pending.extend(entries.map(|e| e.expect("directory entry").path()));
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// A published schema from `deploy/schemas/`, ready to validate with.
pub fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/schemas").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

/// Panics, listing the violations, unless `value` (from `what`) is valid.
pub fn assert_valid(validator: &jsonschema::Validator, value: &Value, what: &str) {
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match the published schema:\n{}", errors.join("\n"));
}

/// Every episode file in `out` validates against `deploy/schemas/episode-file.schema.json`; returns how many.
pub fn validate_out(out: &Path) -> usize {
    let validator = schema("episode-file.schema.json");
    let files = episode_files(out);
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_valid(&validator, &value, &path.display().to_string());
    }
    files.len()
}
