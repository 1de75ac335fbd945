use super::*;
use proptest::prelude::*;

fn cue(start_ms: u64, end_ms: u64, speaker: Option<&str>, text: &str) -> Cue {
    Cue { start_ms, end_ms, speaker: speaker.map(Into::into), text: text.into(), estimated: false }
}

#[test]
fn groups_short_cues_to_the_target_at_cue_boundaries() {
    let cues: Vec<Cue> = (0..10).map(|i| cue(i * 10_000, (i + 1) * 10_000, None, &format!("cue {i}."))).collect();
    let drafts = drafts(&cues, 30_000);
    let bounds: Vec<(u64, u64)> = drafts.iter().map(|d| (d.start_ms, d.end_ms)).collect();
    assert_eq!(bounds, vec![(0, 30_000), (30_000, 60_000), (60_000, 90_000), (90_000, 100_000)]);
}

#[test]
fn splits_an_over_long_cue_at_sentence_ends() {
    let text = "One two three four. Five six seven eight. Nine ten eleven twelve.";
    let drafts = drafts(&[cue(0, 90_000, Some("A"), text)], 30_000);
    let texts: Vec<&str> = drafts.iter().map(|d| d.pieces[0].text.as_str()).collect();
    assert_eq!(texts, vec!["One two three four.", "Five six seven eight.", "Nine ten eleven twelve."]);
    assert_eq!((drafts[1].start_ms, drafts[1].end_ms), (30_000, 60_000));
}

#[test]
fn a_long_silence_closes_a_short_segment() {
    let drafts = drafts(&[cue(0, 2_000, None, "Hi."), cue(300_000, 310_000, None, "Later.")], 30_000);
    assert_eq!(drafts.len(), 2);
}

#[test]
fn renders_speaker_changes_inside_a_segment() {
    let episode = EpisodeId::parse("e").unwrap();
    let cues = [
        cue(0, 5_000, Some("Ada"), "Hi."),
        cue(5_000, 9_000, Some("Bob"), "Hello."),
        cue(9_000, 12_000, Some("Bob"), "Again."),
    ];
    let segments = segment(&episode, &cues, 30_000);
    assert_eq!(segments.len(), 1);
    assert_eq!(segments[0].speaker.as_deref(), Some("Ada"));
    assert_eq!(segments[0].text, "Hi.\nBob: Hello. Again.");
}

/// Cues in order with gaps, at most 3 s per word (as real speech is).
fn arbitrary_cues() -> impl Strategy<Value = Vec<Cue>> {
    let one =
        (0u64..60_000, 0u64..3_000, proptest::option::of("[AB]"), proptest::collection::vec("[a-z]{1,8}[.?]?", 1..40));
    proptest::collection::vec(one, 1..60).prop_map(|raw| {
        let mut at = 0;
        raw.into_iter()
            .map(|(gap, ms_per_word, speaker, words)| {
                let start = at + gap;
                at = start + ms_per_word * words.len() as u64;
                Cue { start_ms: start, end_ms: at, speaker, text: words.join(" "), estimated: false }
            })
            .collect()
    })
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

proptest! {
    #[test]
    fn no_text_lost_or_duplicated_and_times_monotonic(cues in arbitrary_cues(), target in 5_000u64..60_000) {
        let drafts = drafts(&cues, target);
        let transcript: Vec<&str> = cues.iter().flat_map(|c| words(&c.text)).collect();
        let segmented: Vec<&str> = drafts.iter().flat_map(|d| d.pieces.iter()).flat_map(|p| words(&p.text)).collect();
        prop_assert_eq!(segmented, transcript);
        for d in &drafts {
            prop_assert!(d.start_ms <= d.end_ms);
            prop_assert!(!d.pieces.is_empty() && d.pieces.iter().all(|p| !p.text.trim().is_empty()));
        }
        for pair in drafts.windows(2) {
            prop_assert!(pair[0].end_ms <= pair[1].start_ms, "{:?} then {:?}", pair[0], pair[1]);
        }
        prop_assert_eq!(drafts, super::drafts(&cues, target));
    }

    #[test]
    fn segments_stay_within_twice_the_target(cues in arbitrary_cues(), target in 10_000u64..60_000) {
        for d in super::drafts(&cues, target) {
            prop_assert!(d.end_ms - d.start_ms <= target * 2, "{} ms > 2 × {target}", d.end_ms - d.start_ms);
        }
    }
}

#[test]
fn a_long_cue_of_few_words_splits_word_by_word() {
    let drafts = drafts(&[cue(0, 600_000, None, "Two words.")], 30_000);
    let texts: Vec<&str> = drafts.iter().map(|d| d.pieces[0].text.as_str()).collect();
    assert_eq!(texts, vec!["Two", "words."]);
}

#[test]
fn cue_marks_give_a_sentence_spanning_two_cues_the_times_of_both() {
    let episode = EpisodeId::parse("e").unwrap();
    let cues = [
        cue(10_000, 14_000, Some("Ada"), "We test models. They drift"),
        cue(14_000, 20_000, Some("Ada"), "over a long time."),
        cue(20_000, 24_000, Some("Bob"), "True."),
    ];
    let timed = segment_timed(&episode, &cues, 30_000);
    assert_eq!(timed.len(), 1);
    let (segment, marks) = &timed[0];
    assert_eq!(segment, &segment_of(&episode, &cues), "the same segment as `segment` cuts");
    let starts: Vec<&str> = marks.iter().map(|m| &segment.text[m.at as usize..]).collect();
    assert!(starts[0].starts_with("We test") && starts[1].starts_with("over a") && starts[2].starts_with("True."));
    let sentences = mining::sentences::sentences(segment, marks);
    let got: Vec<(&str, u64, u64, Option<&str>)> =
        sentences.iter().map(|s| (s.text.as_str(), s.t0_ms, s.t1_ms, s.speaker.as_deref())).collect();
    assert_eq!(
        got,
        [
            // 3 of the first cue's 5 words: 10 s + 4 s × 3/5.
            ("We test models.", 10_000, 12_400, Some("Ada")),
            // From the 4th word of the first cue to the end of the second.
            ("They drift over a long time.", 12_400, 20_000, Some("Ada")),
            ("True.", 20_000, 24_000, Some("Bob")),
        ]
    );
    assert!(sentences.iter().all(|s| !s.estimated));
}

fn segment_of(episode: &EpisodeId, cues: &[Cue]) -> Segment {
    segment(episode, cues, 30_000).remove(0)
}
