//! Progress of long operations: a bar on a terminal, a line every few seconds
//! in logs (launchd, CI), so a long run is never silent.

use super::report::Summary;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a plain progress line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: ProgressBar,
    label: &'static str,
    last_line: Mutex<Instant>,
}

impl Progress {
    pub fn new(label: &'static str, episodes: u64) -> Self {
        let bar = ProgressBar::new(episodes);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} episodes  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label);
        Self { bar, label, last_line: Mutex::new(Instant::now()) }
    }

    pub fn inc(&self, summary: &Summary) {
        self.bar.inc(1);
        let message = format!("{} tasks published, {} bad files", summary.published, summary.bad.len());
        if self.bar.is_hidden() {
            let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= LOG_EVERY {
                *last = Instant::now();
                eprintln!(
                    "{}: {}/{} episodes, {message}",
                    self.label,
                    self.bar.position(),
                    self.bar.length().unwrap_or(0)
                );
            }
        } else {
            self.bar.set_message(message);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
