//! Grounding findings as records: what the check (`mining::grounding`) found
//! in one mined answer, kept beside it in the store and the output files.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What grounding found in one mined answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Grounding {
    /// Items in the answer's arrays.
    pub items: u32,
    /// Quotes checked, and how many of them were not found in the segment.
    pub quotes: u32,
    pub ungrounded_quotes: u32,
    /// Items with a quote not in the segment or a time outside it.
    pub ungrounded: Vec<Ungrounded>,
    /// Real speech (at least 40 words) mined with every array empty.
    pub empty: bool,
}

/// One ungrounded item: where it is and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ungrounded {
    /// `claims[2]`: the array and the item's index in it.
    pub item: String,
    /// The field, as a path inside the item (`evidence_spans[0].quote`).
    pub field: String,
    pub why: String,
}

impl Grounding {
    /// Items with at least one finding.
    pub fn ungrounded_items(&self) -> u32 {
        let mut items: Vec<&str> = self.ungrounded.iter().map(|u| u.item.as_str()).collect();
        items.dedup();
        items.len() as u32
    }
}
