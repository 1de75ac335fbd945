//! The output: `out/<episode id>.json` per finished episode, written
//! atomically (temp file + rename), and one line per segment for `export
//! --jsonl`. The shapes are `protocol::output`'s types (the published schema).

use crate::store::{EpisodeRecord, Settled, Store};
use anyhow::Context;
use protocol::output::{
    EpisodeCounts, EpisodeFile, EpisodeInfo, EpisodeRef, ExportLine, SegmentEntry, UngroundedItems,
};
use protocol::EpisodeId;
use std::path::{Path, PathBuf};

/// Where an episode's file goes: `<out>/<episode id>.json` (ids keep their folders).
pub fn episode_path(out: &Path, id: &EpisodeId) -> PathBuf {
    out.join(format!("{}.json", id.as_str()))
}

/// One segment as it appears in the output.
pub fn segment_entry(settled: &Settled, ungrounded: UngroundedItems) -> SegmentEntry {
    match settled {
        Settled::Mined(result) => mining::grounding::entry(result, ungrounded),
        Settled::Failed(failure) => SegmentEntry::failed(failure),
    }
}

/// The whole episode, if every segment is settled.
pub fn episode_file(
    store: &Store,
    id: &EpisodeId,
    record: &EpisodeRecord,
    ungrounded: UngroundedItems,
) -> anyhow::Result<Option<EpisodeFile>> {
    if store.outcomes.settled_in(id)? < u64::from(record.segment_count) {
        return Ok(None);
    }
    let segments: Vec<SegmentEntry> =
        store.outcomes.of_episode(id)?.iter().map(|settled| segment_entry(settled, ungrounded)).collect();
    let episode = EpisodeInfo {
        id: id.as_str().to_owned(),
        source_path: record.source_path.clone(),
        title: record.title.clone(),
        format: record.format.clone(),
        metadata: record.metadata.clone(),
    };
    let counts = EpisodeCounts::of(&segments);
    Ok(Some(EpisodeFile { format_version: protocol::output::FORMAT_VERSION, episode, counts, segments }))
}

/// Writes the episode file atomically if the episode is complete; true if written.
pub fn write_episode(
    store: &Store,
    out: &Path,
    id: &EpisodeId,
    record: &EpisodeRecord,
    ungrounded: UngroundedItems,
) -> anyhow::Result<bool> {
    let Some(file) = episode_file(store, id, record, ungrounded)? else { return Ok(false) };
    let path = episode_path(out, id);
    let dir = path.parent().context("output path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, &path).with_context(|| format!("cannot move {} into place", path.display()))?;
    store.episodes.mark_complete(id)?;
    Ok(true)
}

/// `export --jsonl`: every settled segment, one line each, episode by episode.
pub fn export_jsonl(
    store: &Store,
    writer: &mut dyn std::io::Write,
    ungrounded: UngroundedItems,
) -> anyhow::Result<u64> {
    let mut lines = 0;
    for (id, record) in store.episodes.all()? {
        let episode = EpisodeRef {
            id: id.as_str().to_owned(),
            source_path: record.source_path.clone(),
            title: record.title.clone(),
            metadata: record.metadata.clone(),
        };
        for settled in store.outcomes.of_episode(&id)? {
            let line = ExportLine { segment: segment_entry(&settled, ungrounded), episode: episode.clone() };
            serde_json::to_writer(&mut *writer, &line)?;
            writer.write_all(b"\n")?;
            lines += 1;
        }
    }
    writer.flush()?;
    Ok(lines)
}
