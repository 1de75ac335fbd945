//! The summary `enqueue` prints at the end: what was read, per format, what
//! was published, and every file that was skipped, unused or unreadable.

use super::prepare::{BadFile, Prepared};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Episodes and segments read in one format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatCount {
    pub episodes: u64,
    pub segments: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    /// Episodes read (new or changed) and their segments, per format.
    pub formats: BTreeMap<String, FormatCount>,
    /// Tasks the server stored as new.
    pub published: u64,
    /// Tasks the server already had (dedup or still queued).
    pub already_queued: u64,
    /// Queued tasks removed because their segment changed or disappeared.
    pub stale: u64,
    /// Segments the server had lost (on no stream, not settled): published again.
    pub lost: u64,
    /// Outcomes of earlier runs found on the streams that this data dir had
    /// not collected (a new, deleted or restored data dir): read into the store.
    pub history: u64,
    pub unchanged_episodes: u64,
    pub unchanged_segments: u64,
    pub skipped: Vec<(PathBuf, String)>,
    /// (file not used, file used instead) for episodes in several formats.
    pub alternatives: Vec<(PathBuf, PathBuf)>,
    pub bad: Vec<BadFile>,
    /// Episodes the server refused, with its reason; `enqueue` must run again.
    pub refused: Vec<(String, String)>,
    /// (file, warning) for files read with something worth knowing.
    pub warnings: Vec<(String, String)>,
    /// The run's mining spec, as one line.
    pub spec: Option<String>,
    /// Segments that need more context than the `--num-ctx` given, and the most one needs.
    pub too_long: (u64, u32),
}

impl Summary {
    pub fn note_prepared(&mut self, prepared: &Prepared) {
        let count = self.formats.entry(prepared.format.to_string()).or_default();
        count.episodes += 1;
        count.segments += u64::from(prepared.record.segment_count);
        self.stale += prepared.stale.len() as u64;
        for warning in &prepared.warnings {
            self.warnings.push((prepared.record.source_path.clone(), warning.clone()));
        }
    }

    pub fn episodes_read(&self) -> u64 {
        self.formats.values().map(|c| c.episodes).sum()
    }

    pub fn segments_read(&self) -> u64 {
        self.formats.values().map(|c| c.segments).sum()
    }

    /// True when some episode is (now or already) enqueued and the server refused nothing.
    pub fn succeeded(&self) -> bool {
        self.refused.is_empty() && self.episodes_read() + self.unchanged_episodes > 0
    }
}

/// Items listed per section before "… and N more".
const LISTED: usize = 20;

fn list<T>(f: &mut fmt::Formatter<'_>, items: &[T], line: impl Fn(&T) -> String) -> fmt::Result {
    for item in items.iter().take(LISTED) {
        writeln!(f, "    {}", line(item))?;
    }
    if items.len() > LISTED {
        writeln!(f, "    … and {} more", items.len() - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.history > 0 {
            writeln!(
                f,
                "found {} outcome(s) of earlier runs on the streams that this data dir had not collected: \
                 read them into the store; their segments are not published again",
                self.history
            )?;
        }
        writeln!(f, "read {} episode(s), {} segment(s):", self.episodes_read(), self.segments_read())?;
        for (format, count) in &self.formats {
            writeln!(f, "    {format:<24} {:>6} episodes {:>9} segments", count.episodes, count.segments)?;
        }
        writeln!(f, "published {} new task(s); {} already queued", self.published, self.already_queued)?;
        if let Some(spec) = &self.spec {
            writeln!(f, "mining spec {spec} (change it with `coordinator respec`)")?;
        }
        if self.too_long.0 > 0 {
            writeln!(
                f,
                "{} segment(s) need a context of up to {} tokens, more than --num-ctx: they will fail with that \
                 reason; `coordinator respec --num-ctx {}` lets them fit",
                self.too_long.0, self.too_long.1, self.too_long.1
            )?;
        }
        if self.stale > 0 {
            writeln!(f, "removed {} queued task(s) of edited segments", self.stale)?;
        }
        if self.lost > 0 {
            writeln!(f, "the server had lost {} unfinished segment(s): published them again", self.lost)?;
        }
        if self.unchanged_episodes > 0 {
            writeln!(
                f,
                "unchanged since the last enqueue: {} episode(s), {} segment(s)",
                self.unchanged_episodes, self.unchanged_segments
            )?;
        }
        if !self.alternatives.is_empty() {
            writeln!(f, "not used, the same episode was read from a preferred format ({}):", self.alternatives.len())?;
            list(f, &self.alternatives, |(unused, used)| {
                let used =
                    used.file_name().map_or_else(|| used.display().to_string(), |n| n.to_string_lossy().into_owned());
                format!("{} (used {used})", unused.display())
            })?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "skipped, not transcripts ({}):", self.skipped.len())?;
            list(f, &self.skipped, |(path, why)| format!("{}: {why}", path.display()))?;
        }
        if !self.warnings.is_empty() {
            writeln!(f, "read with warnings ({}):", self.warnings.len())?;
            list(f, &self.warnings, |(path, warning)| format!("{path}: {warning}"))?;
        }
        if !self.bad.is_empty() {
            writeln!(f, "could not read ({}); fix or remove these files and run enqueue again:", self.bad.len())?;
            list(f, &self.bad, |bad| format!("{}: {}", bad.path.display(), bad.reason))?;
        }
        if !self.refused.is_empty() {
            writeln!(
                f,
                "the server refused the tasks of {} episode(s); run enqueue again once it is fixed:",
                self.refused.len()
            )?;
            list(f, &self.refused, |(id, why)| format!("{id}: {why}"))?;
        }
        Ok(())
    }
}
