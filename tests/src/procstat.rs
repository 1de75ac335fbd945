//! What a process costs, from Linux's /proc: its peak resident memory while
//! it runs ([`PeakRss`]), and the CPU it has used. `None` where there is no /proc.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `VmHWM:   123456 kB` → 123456.
pub fn vm_hwm_kb(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()
}

/// A process's peak RSS so far, in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    vm_hwm_kb(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// A process's resident memory now, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb as f64 / 1024.0)
}

/// Samples a process's peak RSS until it exits or [`PeakRss::stop`] is called
/// (the kernel's high-water mark is gone with the process, so it is read while it runs).
pub struct PeakRss {
    kb: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakRss {
    pub fn watch(pid: u32) -> Self {
        let (kb, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (seen, stopped) = (kb.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match peak_rss_kb(pid) {
                    Some(now) => seen.fetch_max(now, Ordering::Relaxed),
                    None => break,
                };
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { kb, stop }
    }

    /// The highest peak seen, in MB (0 when never read).
    pub fn mb(&self) -> f64 {
        self.kb.load(Ordering::Relaxed) as f64 / 1024.0
    }

    pub fn stop(&self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.mb()
    }
}

/// Bytes in the files below `path` (0 when it does not exist).
pub fn disk_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            total += meta.len();
        }
    }
    total
}
