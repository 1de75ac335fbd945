//! [`Rejected`]: why an answer of the model is not accepted, as an
//! [`Error`] with a [`RejectedKind`] (the nats.rs `Error<Kind>` pattern).
//! Callers and tests match the kind; the text is for people.

use std::fmt;

/// An error of kind `K` with its detail: `kind()` for code, `Display` for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error<K> {
    kind: K,
    detail: String,
}

impl<K: Copy> Error<K> {
    pub fn new(kind: K, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }

    pub fn kind(&self) -> K {
        self.kind
    }

    /// What exactly was wrong (the parser's words, the schema path).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// How a kind's text and its detail are joined: `": "` unless the kind says otherwise.
pub trait Joined {
    fn separator(&self) -> &'static str {
        ": "
    }
}

impl<K: fmt::Display + Joined> fmt::Display for Error<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}{}{}", self.kind, self.kind.separator(), self.detail)
        }
    }
}

impl<K: fmt::Debug + fmt::Display + Joined> std::error::Error for Error<K> {}

/// Why an answer is not accepted (the caller asks again, then fails the
/// segment as `unusable-answer` with the last one's reason).
pub type Rejected = Error<RejectedKind>;

/// The kinds of [`Rejected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectedKind {
    /// The reply is not JSON (or is cut off mid-way).
    NotJson,
    /// JSON, but not an object (nor a list holding one).
    NotObject,
    /// An object the schema does not allow; the detail names the path.
    SchemaViolation,
    /// A compact answer with none of its arrays (`c`, `j`, `p`, `m`).
    NoArrays,
    /// A compact answer whose items cite only sentences the segment does not have.
    NothingCited,
    /// The reply stopped at the output limit (`num_predict`).
    Truncated,
}

impl fmt::Display for RejectedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectedKind::NotJson => "output is not JSON",
            RejectedKind::NotObject => "output is JSON but not an object",
            RejectedKind::SchemaViolation => "output violates the schema",
            RejectedKind::NoArrays => "compact answer has none of the arrays c, j, p, m",
            RejectedKind::NothingCited => {
                "every item of the compact answer cites only sentences the segment does not have"
            }
            RejectedKind::Truncated => "output truncated",
        })
    }
}

impl Joined for RejectedKind {
    fn separator(&self) -> &'static str {
        match self {
            RejectedKind::Truncated => " ",
            _ => ": ",
        }
    }
}

impl Rejected {
    /// A reply cut at `num_predict` output tokens.
    pub fn truncated(num_predict: u32) -> Self {
        Self::new(RejectedKind::Truncated, format!("at num_predict={num_predict} tokens"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_the_kind_and_its_detail() {
        let err = Rejected::new(RejectedKind::SchemaViolation, "claims is \"none\", not an array");
        assert_eq!(err.kind(), RejectedKind::SchemaViolation);
        assert_eq!(err.to_string(), "output violates the schema: claims is \"none\", not an array");
        assert_eq!(Rejected::new(RejectedKind::NotObject, "").to_string(), "output is JSON but not an object");
        assert_eq!(Rejected::truncated(400).to_string(), "output truncated at num_predict=400 tokens");
    }
}
