//! The output: `out/<episode id>.json` per finished episode, written
//! atomically (temp file + rename), and one JSON line per segment for
//! `export --jsonl`. The mined object keeps the users' field names
//! (`claims`, `jargon`, `people`, `mental_models`).

use crate::store::{EpisodeRecord, Settled, Store};
use anyhow::Context;
use protocol::{timestamp::format_hms, EpisodeId, Provenance};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where an episode's file goes: `<out>/<episode id>.json` (ids keep their folders).
pub fn episode_path(out: &Path, id: &EpisodeId) -> PathBuf {
    out.join(format!("{}.json", id.as_str()))
}

/// One segment as it appears in the output.
pub fn segment_json(settled: &Settled) -> Value {
    let segment = &settled.task().segment;
    let mut value = json!({
        "index": segment.index,
        "t0": format_hms(segment.t0_ms),
        "t1": format_hms(segment.t1_ms),
        "times_estimated": segment.times_estimated,
        "speaker": segment.speaker,
        "text": segment.text,
    });
    let fields = match settled {
        Settled::Mined(result) => json!({
            "status": "mined",
            "mined": serde_json::from_str::<Value>(&result.mined_json).unwrap_or(Value::Null),
            "repairs": result.repairs,
            "provenance": provenance(&result.provenance),
        }),
        Settled::Failed(failure) => json!({
            "status": "failed",
            "failure": {"reason": failure.reason, "raw_output": failure.raw_output},
            "provenance": provenance(&failure.provenance),
        }),
    };
    if let (Some(target), Value::Object(more)) = (value.as_object_mut(), fields) {
        target.extend(more);
    }
    value
}

fn provenance(p: &Provenance) -> Value {
    json!({
        "model": p.spec.model, "prompt_hash": p.spec.prompt_hash, "schema_hash": p.spec.schema_hash,
        "worker": p.worker, "attempts": p.attempts, "delivery": p.delivery,
        "prompt_tokens": p.usage.prompt_tokens, "cached_prompt_tokens": p.usage.cached_prompt_tokens,
        "output_tokens": p.usage.output_tokens, "prefill_ms": p.usage.prefill_ms, "decode_ms": p.usage.decode_ms,
        "queue_ms": p.usage.queue_ms, "total_ms": p.usage.total_ms,
    })
}

/// The whole episode, if every segment is settled.
pub fn episode_json(store: &Store, id: &EpisodeId, record: &EpisodeRecord) -> anyhow::Result<Option<Value>> {
    if store.settled_in_episode(id) < record.segment_count as usize {
        return Ok(None);
    }
    let outcomes = store.episode_outcomes(id)?;
    let segments: Vec<Value> = outcomes.iter().map(segment_json).collect();
    Ok(Some(json!({
        "episode": {"id": id.as_str(), "source_path": record.source_path, "title": record.title, "format": record.format},
        "segments": segments,
    })))
}

/// Writes the episode file atomically if the episode is complete; true if written.
pub fn write_episode(store: &Store, out: &Path, id: &EpisodeId, record: &EpisodeRecord) -> anyhow::Result<bool> {
    let Some(value) = episode_json(store, id, record)? else { return Ok(false) };
    let path = episode_path(out, id);
    let dir = path.parent().context("output path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(&value)?)
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, &path).with_context(|| format!("cannot move {} into place", path.display()))?;
    store.mark_complete(id)?;
    Ok(true)
}
