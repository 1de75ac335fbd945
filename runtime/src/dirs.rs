//! Where podmine keeps its data and logs on each platform, when no
//! `--data-dir` is given: every command and every service uses these.
//!
//! - macOS: `~/Library/Application Support/podmine` and `~/Library/Logs/podmine`
//!   (readable by launchd jobs, unlike ~/Documents or ~/Desktop).
//! - Linux and others: `$XDG_DATA_HOME/podmine` (`~/.local/share/podmine`)
//!   and `$XDG_STATE_HOME/podmine/logs` (`~/.local/state/podmine/logs`).
//!
//! `PODMINE_DATA_DIR` still names a data dir of one command, as before.

use std::path::{Path, PathBuf};

/// A platform's layout, so a service for another one can be written from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    MacOs,
    Linux,
}

impl Platform {
    pub fn this() -> Self {
        if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }

    /// podmine's data root for a user whose home is `home`.
    pub fn data_root(self, home: &Path) -> PathBuf {
        match self {
            Platform::MacOs => home.join("Library/Application Support/podmine"),
            Platform::Linux => xdg("XDG_DATA_HOME", home, ".local/share").join("podmine"),
        }
    }

    /// Where services of a user whose home is `home` write their logs.
    pub fn log_dir(self, home: &Path) -> PathBuf {
        match self {
            Platform::MacOs => home.join("Library/Logs/podmine"),
            Platform::Linux => xdg("XDG_STATE_HOME", home, ".local/state").join("podmine/logs"),
        }
    }
}

/// An XDG base directory: its variable when this process's home is `home` and it is set, else the default.
fn xdg(variable: &str, home: &Path, default: &str) -> PathBuf {
    let this_home = std::env::var_os("HOME").map(PathBuf::from);
    match std::env::var_os(variable) {
        Some(dir) if this_home.as_deref() == Some(home) && Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => home.join(default),
    }
}

/// This user's home (`HOME`; `/` if unset, as for a launchd job without one).
pub fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// The default data dir of one program (`coordinator`, `worker`) on this machine.
pub fn default_data_dir(program: &str) -> PathBuf {
    Platform::this().data_root(&home()).join(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_platform_has_its_place() {
        let home = Path::new("/Users/ada");
        assert_eq!(Platform::MacOs.data_root(home), Path::new("/Users/ada/Library/Application Support/podmine"));
        assert_eq!(Platform::MacOs.log_dir(home), Path::new("/Users/ada/Library/Logs/podmine"));
        let other = Path::new("/home/someone-else");
        assert_eq!(Platform::Linux.data_root(other), Path::new("/home/someone-else/.local/share/podmine"));
        assert_eq!(Platform::Linux.log_dir(other), Path::new("/home/someone-else/.local/state/podmine/logs"));
    }
}
