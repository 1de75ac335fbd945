//! Flags several commands take: `--dashboard ADDR` (collect, run) and
//! `--drop-ungrounded` (collect, export, run).

/// `--dashboard ADDR` and its token, as `collect` and `run` take them.
#[derive(Debug, clap::Args)]
pub struct DashboardFlags {
    /// Serve the live dashboard on this address (e.g. 127.0.0.1:8080); beyond
    /// 127.0.0.1 every request needs the token.
    #[arg(long, value_name = "ADDR")]
    dashboard: Option<std::net::SocketAddr>,
    /// The dashboard's token (made up and printed when it listens beyond localhost without one).
    #[arg(long, env = "PODMINE_DASHBOARD_TOKEN", hide_env_values = true)]
    dashboard_token: Option<String>,
    /// Another host name the dashboard may be opened by (e.g. mac-studio.local); repeatable.
    #[arg(long)]
    dashboard_allow_host: Vec<String>,
}

impl DashboardFlags {
    pub fn settings(&self, out: &std::path::Path) -> Option<crate::dashboard::DashboardSettings> {
        Some(crate::dashboard::DashboardSettings {
            listen: self.dashboard?,
            token: self.dashboard_token.clone(),
            allow_hosts: self.dashboard_allow_host.clone(),
            out: out.to_path_buf(),
        })
    }
}

/// `--drop-ungrounded`, as `collect`, `export` and `run` take it.
#[derive(Debug, clap::Args)]
pub struct UngroundedFlag {
    /// Leave items whose quote is not in the segment (or whose time is
    /// outside it) out of the output; by default they are kept and flagged.
    #[arg(long)]
    drop_ungrounded: bool,
}

impl UngroundedFlag {
    pub fn items(&self) -> protocol::output::UngroundedItems {
        if self.drop_ungrounded {
            protocol::output::UngroundedItems::Drop
        } else {
            protocol::output::UngroundedItems::Keep
        }
    }
}
