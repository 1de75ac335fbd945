//! Reading what the coordinator wrote to out/: every segment, checked to
//! appear once.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Every segment in out/: (episode id, index) → status, with its mined object
/// (or its failure's reason). Panics if a segment appears twice.
pub fn read_out(out: &Path) -> BTreeMap<(String, u64), (String, Value)> {
    let mut segments = BTreeMap::new();
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
                let previous = segments.insert((id.clone(), index), (status, detail));
                assert!(previous.is_none(), "segment {id}#{index} appears twice in {}", out.display());
            }
        }
    }
    segments
}
