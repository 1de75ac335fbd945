//! Speaker labels found at the start of cue text: `[Name]:`, `<v Name>`,
//! `**Name:**` / `**Name**:`, and `Name:` (only where a reader asks for it).

/// Longest label taken for a name; longer "labels" are sentences.
const MAX_NAME_CHARS: usize = 60;
const MAX_NAME_WORDS: usize = 6;

/// Splits a leading speaker label off `text`: returns (speaker, rest).
pub fn split_label(text: &str) -> (Option<String>, &str) {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix("<v").filter(|r| r.starts_with([' ', '.'])) {
        if let Some(end) = rest.find('>') {
            let inner = rest[..end].trim_start();
            // `<v.class Name>`: classes come first, then the name.
            let name = match inner.strip_prefix('.') {
                Some(classed) => classed.split_once(' ').map_or("", |(_, name)| name),
                None => inner,
            };
            return (valid_name(name), strip_voice_close(&rest[end + 1..]));
        }
    }
    if let Some(rest) = text.strip_prefix('[') {
        if let Some((name, after)) = rest.split_once("]:") {
            if let Some(name) = valid_name(name) {
                return (Some(name), after.trim_start());
            }
        }
    }
    if let Some(rest) = text.strip_prefix("**") {
        if let Some((label, after)) = rest.split_once("**") {
            let (name, after) = match (label.strip_suffix(':'), after.strip_prefix(':')) {
                (Some(name), _) => (name, after),
                (None, Some(after)) => (label, after),
                _ => return (None, text),
            };
            if let Some(name) = valid_name(name) {
                return (Some(name), after.trim_start());
            }
        }
    }
    (None, text)
}

fn strip_voice_close(text: &str) -> &str {
    text.trim().strip_suffix("</v>").unwrap_or(text.trim())
}

/// A plausible name: short, a few words, not a timestamp or a sentence.
pub fn valid_name(name: &str) -> Option<String> {
    let name = name.trim();
    let plausible = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.split_whitespace().count() <= MAX_NAME_WORDS
        && name.chars().any(char::is_alphabetic)
        && !name.contains(['.', '?', '!', '[', ']', '*'])
        && protocol::timestamp::parse_clock(name).is_none();
    plausible.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_label_spellings() {
        assert_eq!(split_label("[Amit Varma]: Ram Singh"), (Some("Amit Varma".into()), "Ram Singh"));
        assert_eq!(split_label("<v Roger Bingham>We are in"), (Some("Roger Bingham".into()), "We are in"));
        assert_eq!(split_label("<v Neil>Yes.</v>"), (Some("Neil".into()), "Yes."));
        assert_eq!(split_label("**Adam Stacoviak:** Spencer"), (Some("Adam Stacoviak".into()), "Spencer"));
        assert_eq!(split_label("**Jerod**: hi"), (Some("Jerod".into()), "hi"));
    }

    #[test]
    fn leaves_text_that_is_not_a_label() {
        assert_eq!(split_label("[laughs] so"), (None, "[laughs] so"));
        assert_eq!(split_label("**$102M per employee** wow"), (None, "**$102M per employee** wow"));
        assert_eq!(split_label("[00:12]: hi"), (None, "[00:12]: hi"));
    }
}
