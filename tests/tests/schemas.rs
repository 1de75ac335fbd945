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
    json!({
        "episode": {"id": "show/ep-1", "source_path": "show/ep-1.md", "title": "Ep 1", "format": "markdown"},
        "segments": [
            {"index": 0, "t0": "00:00:00", "t1": "00:00:31", "times_estimated": false, "speaker": "Jerod",
             "text": "Hello.", "status": "mined", "mined": {"claims": []}, "repairs": [], "provenance": provenance},
            {"index": 1, "t0": "00:00:31", "t1": "00:01:02", "times_estimated": false, "speaker": null,
             "text": "Bye.", "status": "failed", "failure": {"reason": "unusable output", "raw_output": "{"},
             "provenance": provenance},
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
    let mut mined_without_object = good;
    mined_without_object["segments"][0].as_object_mut().expect("segment").remove("mined");
    for (what, file) in [
        ("a status that is neither mined nor failed", bad_status),
        ("a segment without t0", no_time),
        ("a failure without its reason", no_reason),
        ("a mined segment without its object", mined_without_object),
    ] {
        assert!(!validator.is_valid(&file), "{what} passed the schema");
    }
}
