//! JSON transcripts: Whisper's `{"segments": [{start, end, text, speaker?}]}`
//! (seconds as numbers; WhisperX adds `speaker`), and turn lists
//! `[{speaker, time, message}]` (time as a clock string). A Whisper object's
//! other top-level scalars (`language`, or `video_id`, `title` … where a tool
//! added them) are the episode's metadata.

use super::{speaker, Format, RawCue, ReadError};
use protocol::timestamp::{parse_clock, parse_seconds, secs_to_ms};
use serde_json::{Map, Value};

/// What a JSON transcript holds: its format, cues and metadata.
pub type Parsed = (Format, Vec<RawCue>, Map<String, Value>);

pub fn parse(text: &str) -> Result<Parsed, ReadError> {
    let value: Value = serde_json::from_str(text).map_err(|err| ReadError::InvalidJson {
        line: err.line(),
        column: err.column(),
        message: err.to_string(),
    })?;
    match &value {
        Value::Object(object) => match object.get("segments") {
            Some(Value::Array(segments)) => {
                Ok((Format::WhisperJson, segments.iter().filter_map(whisper_cue).collect(), scalars(object)))
            }
            _ => match object.get("text") {
                // Whisper output without segments: one untimed block of text.
                Some(Value::String(text)) => {
                    let cue = RawCue { text: text.clone(), ..RawCue::default() };
                    Ok((Format::WhisperJson, vec![cue], scalars(object)))
                }
                _ => Err(ReadError::NotTranscript("a JSON object without `segments` or `text`".into())),
            },
        },
        Value::Array(turns) if turns.iter().any(|t| text_of(t).is_some()) => {
            Ok((Format::TurnsJson, turns.iter().filter_map(turn_cue).collect(), Map::new()))
        }
        _ => Err(ReadError::NotTranscript("JSON that is neither Whisper `segments` nor a list of turns".into())),
    }
}

/// Top-level scalar fields other than the transcript's own text.
fn scalars(object: &Map<String, Value>) -> Map<String, Value> {
    object
        .iter()
        .filter(|(key, value)| key.as_str() != "text" && !value.is_array() && !value.is_object())
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn text_of(item: &Value) -> Option<&str> {
    ["message", "text", "content"].iter().find_map(|field| item.get(*field)?.as_str())
}

fn speaker_of(item: &Value) -> Option<String> {
    ["speaker", "name"].iter().find_map(|field| speaker::valid_name(item.get(*field)?.as_str()?))
}

/// A time given as seconds (number or numeric string) or as a clock string.
fn time_of(item: &Value, fields: &[&str]) -> Option<u64> {
    fields.iter().find_map(|field| match item.get(*field)? {
        Value::Number(n) => secs_to_ms(n.as_f64()?),
        Value::String(s) => parse_clock(s).or_else(|| parse_seconds(s)),
        _ => None,
    })
}

fn whisper_cue(segment: &Value) -> Option<RawCue> {
    let text = text_of(segment)?.trim();
    let (label, rest) = speaker::split_label(text);
    Some(RawCue {
        start_ms: time_of(segment, &["start"]),
        end_ms: time_of(segment, &["end"]),
        speaker: speaker_of(segment).or(label),
        text: rest.to_owned(),
    })
}

fn turn_cue(turn: &Value) -> Option<RawCue> {
    Some(RawCue {
        start_ms: time_of(turn, &["time", "start", "timestamp"]),
        end_ms: time_of(turn, &["end"]),
        speaker: speaker_of(turn),
        text: text_of(turn)?.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whisper_segments_with_and_without_speakers() {
        let json = r#"{"text":"…","segments":[{"id":0,"start":0.0,"end":4.5,"text":" Hello there."},
            {"id":1,"start":4.5,"end":9.25,"text":" Hi.","speaker":"SPEAKER_01"}],"language":"en"}"#;
        let (format, cues, metadata) = parse(json).unwrap();
        assert_eq!(format, Format::WhisperJson);
        assert_eq!(metadata, serde_json::json!({"language": "en"}).as_object().unwrap().clone());
        assert_eq!((cues[0].start_ms, cues[0].end_ms, cues[0].text.as_str()), (Some(0), Some(4_500), "Hello there."));
        assert_eq!(cues[0].speaker, None);
        assert_eq!((cues[1].end_ms, cues[1].speaker.as_deref()), (Some(9_250), Some("SPEAKER_01")));
    }

    #[test]
    fn reads_turn_lists() {
        let json = r#"[{"speaker":"Guest 2","time":"00:00:00.000","message":"Welcome."},
                       {"speaker":"Amit Varma","time":"00:00:07.000","message":"Ram Singh is a farmer."}]"#;
        let (format, cues, _) = parse(json).unwrap();
        assert_eq!(format, Format::TurnsJson);
        assert_eq!(cues[1].start_ms, Some(7_000));
        assert_eq!(cues[1].speaker.as_deref(), Some("Amit Varma"));
    }

    #[test]
    fn refuses_json_that_is_not_a_transcript() {
        assert!(matches!(parse(r#"[{"epnum":1,"title":"x"}]"#), Err(ReadError::NotTranscript(_))));
        assert!(matches!(parse(r#"{"a":1}"#), Err(ReadError::NotTranscript(_))));
    }
}
