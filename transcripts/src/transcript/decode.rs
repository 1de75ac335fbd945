//! Bytes to text: BOMs, CRLF, text that is not UTF-8 (Windows-1252 when no
//! byte sequence in it is UTF-8, else lossy UTF-8; with a warning either
//! way), binary files (refused) and YAML front-matter (split off; its
//! scalar fields kept as the episode's metadata, `title` as its title).

use super::ReadError;
use serde_json::{Map, Value};

/// Text ready for a reader, and what decoding noticed.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The body, with `\n` line ends and without BOM or front-matter.
    pub text: String,
    /// `title:` from YAML front-matter, if any.
    pub title: Option<String>,
    /// The front-matter's scalar fields (`video_id`, `source`, `upload_date`, …).
    pub metadata: Map<String, Value>,
    pub warnings: Vec<String>,
}

/// Share of control bytes above which a file is taken for binary.
const MAX_CONTROL_SHARE: f64 = 0.01;

pub fn decode(bytes: &[u8]) -> Result<Decoded, ReadError> {
    let mut warnings = Vec::new();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some(utf16) = decode_utf16_with_bom(bytes) {
        return finish(utf16, vec!["decoded as UTF-16 (byte-order mark)".into()]);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::Empty);
    }
    let controls =
        bytes.iter().filter(|&&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))).count();
    if controls > 0 && (bytes.contains(&0) || controls as f64 / bytes.len() as f64 > MAX_CONTROL_SHARE) {
        return Err(ReadError::Binary);
    }
    let text = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => text,
        Err(err) if !has_utf8_sequences(err.as_bytes()) => {
            warnings.push(format!(
                "not UTF-8 (first non-ASCII byte at offset {}): read as Windows-1252 (Latin-1); \
                 save it as UTF-8 if its accents look wrong",
                err.utf8_error().valid_up_to()
            ));
            windows_1252(err.as_bytes())
        }
        Err(err) => {
            let bad_at = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            let replaced = text.matches('\u{FFFD}').count();
            warnings.push(format!(
                "not valid UTF-8 (first bad byte at offset {bad_at}); {replaced} character(s) replaced with U+FFFD"
            ));
            text
        }
    };
    finish(text, warnings)
}

/// Whether any multi-byte UTF-8 sequence occurs (a UTF-8 file with a few
/// damaged bytes, rather than a file in a single-byte encoding).
fn has_utf8_sequences(bytes: &[u8]) -> bool {
    bytes.utf8_chunks().any(|chunk| !chunk.valid().is_ascii())
}

/// Windows-1252, the superset of Latin-1 that editors on Windows and older
/// Macs save as "ANSI"; its five unassigned bytes become U+FFFD.
fn windows_1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž', '\u{FFFD}',
        '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}', 'ž', 'Ÿ',
    ];
    bytes.iter().map(|&b| if (0x80..0xA0).contains(&b) { HIGH[usize::from(b - 0x80)] } else { char::from(b) }).collect()
}

fn finish(text: String, warnings: Vec<String>) -> Result<Decoded, ReadError> {
    let text = if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text };
    let (metadata, body) = split_front_matter(&text);
    let title = metadata.get("title").and_then(Value::as_str).filter(|t| !t.trim().is_empty()).map(str::to_owned);
    let decoded = Decoded { title, metadata, text: body.to_owned(), warnings };
    if decoded.text.trim().is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(decoded)
}

fn decode_utf16_with_bom(bytes: &[u8]) -> Option<String> {
    let little_endian = match bytes.get(..2)? {
        [0xFF, 0xFE] => true,
        [0xFE, 0xFF] => false,
        _ => return None,
    };
    let units: Vec<u16> = bytes[2..]
        .chunks_exact(2)
        .map(|p| if little_endian { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) })
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// Splits `---\n…\n---\n` front-matter from the body; returns its scalar fields.
fn split_front_matter(text: &str) -> (Map<String, Value>, &str) {
    let Some(rest) = text.strip_prefix("---\n") else {
        return (Map::new(), text);
    };
    let Some(end) = rest
        .find("\n---\n")
        .map(|i| (i, i + 5))
        .or_else(|| rest.strip_suffix("\n---").map(|head| (head.len(), rest.len())))
    else {
        return (Map::new(), text);
    };
    let (header, body) = (&rest[..end.0], &rest[end.1..]);
    (front_matter_scalars(header), body)
}

/// The top-level `key: value` lines of YAML whose value is a scalar; lists,
/// maps and block values (`tags:` followed by `- …` lines) are left out.
fn front_matter_scalars(header: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    for line in header.lines().filter(|l| !l.starts_with([' ', '\t', '-', '#'])) {
        let Some((key, value)) = line.split_once(':') else { continue };
        let (key, value) = (key.trim(), value.trim());
        let plain_key = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if plain_key && !value.is_empty() && !value.starts_with(['[', '{', '|', '>', '&', '*']) {
            fields.insert(key.to_owned(), yaml_scalar(value));
        }
    }
    fields
}

/// A YAML scalar as JSON: quoted → string, `true`/`false` → bool, a plain
/// integer → number (not `0123`: an id keeps its zeros), anything else → string.
fn yaml_scalar(value: &str) -> Value {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return Value::String(inner.replace("\\\"", "\"").replace("''", "'"));
        }
    }
    let value = value.split(" #").next().unwrap_or(value).trim();
    match value {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        "null" | "~" => Value::Null,
        _ => match value.parse::<i64>() {
            Ok(n) if !value.starts_with(['0', '+']) || value == "0" => Value::from(n),
            _ => Value::String(value.to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_bom_and_normalises_line_ends() {
        let decoded = decode(b"\xEF\xBB\xBFline one\r\nline two\rthree").unwrap();
        assert_eq!(decoded.text, "line one\nline two\nthree");
        assert!(decoded.warnings.is_empty());
    }

    #[test]
    fn decodes_damaged_utf8_lossily_with_a_warning() {
        let decoded = decode("café \u{2014} ".bytes().chain(*b"\xE9 au lait").collect::<Vec<u8>>().as_slice()).unwrap();
        assert_eq!(decoded.text, "café \u{2014} \u{FFFD} au lait");
        assert!(decoded.warnings[0].contains("offset 10"), "{:?}", decoded.warnings);
    }

    #[test]
    fn decodes_a_single_byte_encoding_as_windows_1252() {
        let decoded = decode(b"Caf\xE9 cr\xE8me, na\xEFve \x93quotes\x94 \x80 5").unwrap();
        assert_eq!(decoded.text, "Café crème, naïve “quotes” € 5");
        assert!(decoded.warnings[0].contains("Windows-1252"), "{:?}", decoded.warnings);
    }

    #[test]
    fn refuses_empty_and_binary() {
        assert!(matches!(decode(b""), Err(ReadError::Empty)));
        assert!(matches!(decode(b" \n\t\n"), Err(ReadError::Empty)));
        assert!(matches!(decode(b"ID3\x03\x00\x00\x00\x00\x0f\x76"), Err(ReadError::Binary)));
    }

    #[test]
    fn reads_utf16_with_bom() {
        let bytes: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("hi there".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&bytes).unwrap().text, "hi there");
    }

    #[test]
    fn splits_yaml_front_matter() {
        let decoded = decode(b"---\ntitle: \"Ep 1: Intro\"\ndate: 2024\n---\n**A:** hello").unwrap();
        assert_eq!(decoded.title.as_deref(), Some("Ep 1: Intro"));
        assert_eq!(decoded.text, "**A:** hello");
    }

    #[test]
    fn keeps_the_users_front_matter_scalars() {
        let header = "---\ntitle: \"Gold: why now\"\nsource: https://youtube.com/watch?v=abc\nvideo_id: \"0Ab_9\"\n\
            uploader: Some Channel\nupload_date: \"August 02, 2025\"\nduration: \"61:25\"\nview_count: 12345\n\
            tags:\n  - gold\n  - macro\nkeywords: [a, b]\ndiarization_enabled: true\nepisode: 0042\n---\nbody";
        let decoded = decode(header.as_bytes()).unwrap();
        let m = &decoded.metadata;
        assert_eq!(m["video_id"], "0Ab_9");
        assert_eq!(m["source"], "https://youtube.com/watch?v=abc");
        assert_eq!(m["uploader"], "Some Channel");
        assert_eq!(m["upload_date"], "August 02, 2025");
        assert_eq!(m["duration"], "61:25");
        assert_eq!(m["view_count"], 12345);
        assert_eq!(m["diarization_enabled"], true);
        assert_eq!(m["episode"], "0042", "leading zeros kept");
        assert!(!m.contains_key("tags") && !m.contains_key("keywords"), "lists are not scalars");
        assert_eq!(decoded.title.as_deref(), Some("Gold: why now"));
    }
}
