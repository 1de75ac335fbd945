//! The published schemas are not vacuous: an episode file as the coordinator
//! writes it passes, and files with a wrong status, a missing time or a
//! failure without its reason are refused. (`collect_run.rs` validates the
//! files of a real end-to-end run.)

use podmine_tests::outputs::schema;
use serde_json::json;

fn episode_file() -> serde_json::Value {
    let provenance = json!({"model": "m", "prompt_hash": "p", "schema_hash": "s", "worker": "mac/1", "attempts": 1,
        "delivery": 1, "prompt_tokens": 900, "cached_prompt_tokens": 800, "output_tokens": 120, "prefill_ms": 30,
        "decode_ms": 1500, "queue_ms": 2, "total_ms": 1540});
    let grounding = json!({"items": 1, "quotes": 1, "ungrounded_quotes": 1, "empty": false,
        "ungrounded": [{"item": "claims[0]", "field": "evidence_quote", "why": "quote not found in the segment"}]});
    json!({
        "format_version": 2,
        "episode": {"id": "show/ep-1", "source_path": "show/ep-1.md", "title": "Ep 1", "format": "markdown",
                    "metadata": {"video_id": "abc123", "upload_date": "August 02, 2025", "view_count": 12}},
        "counts": {"segments": 2, "mined": 1, "failed": 1, "empty": 0, "items": 1, "ungrounded_items": 1},
        "segments": [
            {"segment_id": "show_ep-1_x_0", "index": 0, "t0": "00:00:00", "t1": "00:00:31", "times_estimated": false,
             "speaker": "Jerod", "text": "Hello.", "status": "mined", "repairs": [], "grounding": grounding,
             "mined": {"claims": [{"claim_text": "Hello is a greeting", "evidence_quote": "Goodbye"}]}, "provenance": provenance},
            {"segment_id": "show_ep-1_x_1", "index": 1, "t0": "00:00:31", "t1": "00:01:02", "times_estimated": false,
             "speaker": "Unknown", "text": "Bye.", "status": "failed",
             "failure": {"reason": "unusable output", "raw_output": "{"}, "provenance": provenance},
        ]
    })
}

#[test]
fn the_episode_file_schema_accepts_what_the_coordinator_writes_and_refuses_the_rest() {
    let validator = schema("episode-file.schema.json");
    let good = episode_file();
    assert!(validator.is_valid(&good), "{:?}", validator.iter_errors(&good).map(|e| e.to_string()).collect::<Vec<_>>());
    let typed: protocol::output::EpisodeFile = serde_json::from_value(good.clone()).expect("the type reads it");
    assert_eq!(typed.segments.len(), 2);

    let mut bad_status = good.clone();
    bad_status["segments"][0]["status"] = json!("maybe");
    let mut no_time = good.clone();
    no_time["segments"][1].as_object_mut().expect("segment").remove("t0");
    let mut no_reason = good.clone();
    no_reason["segments"][1]["failure"].as_object_mut().expect("failure").remove("reason");
    let mut mined_without_object = good.clone();
    mined_without_object["segments"][0].as_object_mut().expect("segment").remove("mined");
    let mut no_segment_id = good.clone();
    no_segment_id["segments"][0].as_object_mut().expect("segment").remove("segment_id");
    let mut null_speaker = good.clone();
    null_speaker["segments"][1]["speaker"] = json!(null);
    let mut no_counts = good;
    no_counts.as_object_mut().expect("file").remove("counts");
    for (what, file) in [
        ("a status that is neither mined nor failed", bad_status),
        ("a segment without t0", no_time),
        ("a failure without its reason", no_reason),
        ("a mined segment without its object", mined_without_object),
        ("a segment without its segment_id", no_segment_id),
        ("a speaker that is not a string", null_speaker),
        ("a file without its counts", no_counts),
    ] {
        assert!(!validator.is_valid(&file), "{what} passed the schema");
    }
}
