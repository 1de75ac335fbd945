//! Timestamps: milliseconds to `HH:MM:SS`, and parsing the spellings found in
//! transcripts (`MM:SS`, `HH:MM:SS`, `MM:SS.mmm`, `HH:MM:SS,mmm`, `HH:MM:SS.ff`,
//! minutes above 59 such as `100:08`).

/// Formats milliseconds as `HH:MM:SS` (hours grow past 99 if they must).
pub fn format_hms(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
}

/// Parses `[[H:]M:]S[.frac|,frac]` into milliseconds. Every part is decimal
/// digits; minutes and seconds may exceed 59 only in the leading position
/// (`100:08` is 100 minutes 8 seconds). Returns `None` for anything else.
pub fn parse_clock(text: &str) -> Option<u64> {
    let text = text.trim();
    let (clock, frac) = match text.find(['.', ',']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let mut total_secs: u64 = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = part.parse().ok()?;
        if i > 0 && value > 59 {
            return None;
        }
        total_secs = total_secs * 60 + value;
    }
    let frac_ms = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<3}");
            padded[..3].parse::<u64>().ok()?
        }
        Some(_) => return None,
    };
    Some(total_secs * 1000 + frac_ms)
}

/// Parses decimal seconds such as `12.00` or `15.5` into milliseconds.
pub fn parse_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    secs_to_ms(secs)
}

/// Converts non-negative, finite seconds to milliseconds.
pub fn secs_to_ms(secs: f64) -> Option<u64> {
    (0.0..1e9).contains(&secs).then(|| (secs * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_hours_minutes_seconds() {
        assert_eq!(format_hms(0), "00:00:00");
        assert_eq!(format_hms(3_723_999), "01:02:03");
        assert_eq!(format_hms(26_238_640), "07:17:18");
    }

    #[test]
    fn parses_the_spellings_transcripts_use() {
        assert_eq!(parse_clock("04:26"), Some(266_000));
        assert_eq!(parse_clock("01:08:11.16"), Some(4_091_160));
        assert_eq!(parse_clock("00:16.240"), Some(16_240));
        assert_eq!(parse_clock("00:00:16,240"), Some(16_240));
        assert_eq!(parse_clock("100:08"), Some(6_008_000));
        assert_eq!(parse_clock("1:2:3"), Some(3_723_000));
    }

    #[test]
    fn rejects_what_is_not_a_clock() {
        for bad in ["", "laughs", "12", "1:2:3:4", "00:61", "a:00", "00:00.x", "-1:00", "00:00."] {
            assert_eq!(parse_clock(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_decimal_seconds() {
        assert_eq!(parse_seconds("12.00"), Some(12_000));
        assert_eq!(parse_seconds("15.5"), Some(15_500));
        assert_eq!(parse_seconds("x"), None);
    }
}
