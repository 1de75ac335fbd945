//! Reading what the coordinator wrote to out/: every segment, checked to
//! appear once (or counted, for the soak's report).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

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
    let mut files = vec![out.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            files.extend(entries.map(|e| e.expect("directory entry").path()));
        } else if path.extension().is_some_and(|e| e == "json") {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let episode: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let id = episode["episode"]["id"].as_str().expect("episode id").to_owned();
            for segment in episode["segments"].as_array().expect("segments") {
                let status = segment["status"].as_str().expect("status").to_owned();
                let detail =
                    if status == "mined" { segment["mined"].clone() } else { segment["failure"]["reason"].clone() };
                let index = segment["index"].as_u64().expect("index");
                segments.entry((id.clone(), index)).or_default().push((status, detail));
            }
        }
    }
    segments
}
