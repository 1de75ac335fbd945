//! Connecting to NATS: the flags every binary shares (URL, credentials, TLS),
//! errors that say what to start or fix, and who sets up the streams (with 3
//! replicas when the server is part of a cluster of three or more).
//!
//! Secrets never reach a log line: the password comes only from the
//! environment (`NATS_PASSWORD`, so `ps` cannot show it), and URLs are
//! printed with any `user:password@` part masked.

use async_nats::jetstream;
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait for a server before telling the user to start one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// PubAcks allowed in flight on one connection.
const MAX_ACK_INFLIGHT: usize = 4096;

/// The environment variable holding the password for `--nats-user`.
pub const PASSWORD_ENV: &str = "NATS_PASSWORD";

/// Where the NATS server is and how to log in: the same flags on every binary.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// NATS server URL (several, comma separated, for a cluster).
    #[arg(long = "nats", env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    #[command(flatten)]
    pub auth: NatsAuth,
    /// Read the NATS login (NATS_USER, NATS_PASSWORD, NATS_URL, NATS_TLS_CA,
    /// …) from this file at start, as `coordinator nats-users` writes it: a
    /// service names the file, never the password (read before the other
    /// flags; a variable already set wins).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

/// How to log in to NATS. Empty means no authentication (a local test server).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsAuth {
    /// NATS credentials file (user JWT + NKey seed, as written by `nsc`).
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// NATS user name; its password is read from NATS_PASSWORD (there is no flag for it).
    #[arg(long = "nats-user", env = "NATS_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// CA certificate that signed the server's TLS certificate; requires TLS.
    #[arg(long, env = "NATS_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl NatsAuth {
    /// Who this connection logs in as, for error messages.
    fn who(&self) -> String {
        match (&self.creds, &self.user) {
            (Some(creds), _) => format!("the credentials in {}", creds.display()),
            (None, Some(user)) => format!("user \"{user}\""),
            (None, None) => "an anonymous client".into(),
        }
    }
}

/// What the connecting program may do to the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns the streams: creates them and brings their settings up to date.
    Coordinator,
    /// Uses the streams: creates missing ones when allowed (a local server
    /// without authentication), never changes existing ones.
    Worker,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cannot reach NATS at {url}. Start a server with JetStream (`nats-server -js -sd <store dir>`, \
         README.md \"Set-up\"; for a fleet, `coordinator service install nats`), or point --nats / NATS_URL at a running one: {source}"
    )]
    Unreachable { url: String, source: async_nats::ConnectError },
    #[error(
        "cannot reach NATS at {url}: no route to host. If that Mac is up and on this network, this process may \
         not use the local network: on macOS 15 a per-user LaunchAgent is under Local Network privacy and gets \
         \"No route to host\" without asking (typed in Terminal, the same command works). Install the worker as \
         a LaunchDaemon, the default (`sudo worker service install …` without --agent), or allow the program in \
         System Settings > Privacy & Security > Local Network; else check the host name in --nats: {source}"
    )]
    NoRoute { url: String, source: async_nats::ConnectError },
    #[error(
        "NATS at {url} refused {who}: check NATS_USER and NATS_PASSWORD (or --creds) against the users \
         the server's config allows (docs/fleet-on-macs.md)"
    )]
    Refused { url: String, who: String },
    #[error(
        "TLS to NATS at {url} failed: is --tls-ca the CA that signed the server's certificate, and does the \
         certificate name the host in the URL? {source}"
    )]
    Tls { url: String, source: async_nats::ConnectError },
    #[error("--nats / NATS_URL {url} is not a NATS URL list (nats://host:4222[,nats://host2:4222…]): {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot read the NATS credentials file {path}: {source}")]
    CredsFile { path: PathBuf, source: std::io::Error },
    #[error("NATS_USER is set to \"{user}\" but {PASSWORD_ENV} is empty: set the password in the environment")]
    NoPassword { user: String },
    #[error("give either --creds or NATS_USER/{PASSWORD_ENV}, not both")]
    TwoLogins,
    #[error("cannot create the podmine streams on {url}: is JetStream enabled (`nats-server -js`)? {source}")]
    NoJetStream { url: String, source: jetstream::context::CreateStreamError },
    #[error(
        "nats-server at {url} has too little disk for the task stream: it reserves {} GiB, and JetStream may use \
         75% of the disk that was free when nats-server started. Free some disk space and restart nats-server, \
         or set `max_file_store` in its config",
        crate::streams::TASKS_MAX_BYTES >> 30
    )]
    NoStorage { url: String, source: jetstream::context::CreateStreamError },
    #[error(
        "the podmine streams are not on {url} and {who} may not create them: run `coordinator enqueue` \
         (as the coordinator) first, then start the worker again"
    )]
    StreamsMissing { url: String, who: String },
}

/// Connects as `name`; the coordinator makes sure the podmine streams exist
/// with current settings, a worker that they exist. The client reconnects by
/// itself if the server goes away later.
pub async fn connect(args: &NatsArgs, name: &str, role: Role) -> Result<jetstream::Context, ConnectError> {
    let url = redact(&args.url);
    let auth = &args.auth;
    let mut options = match (&auth.creds, &auth.user) {
        (Some(_), Some(_)) => return Err(ConnectError::TwoLogins),
        (Some(path), None) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| ConnectError::CredsFile { path: path.clone(), source })?,
        (None, Some(user)) => match std::env::var(PASSWORD_ENV) {
            Ok(password) if !password.is_empty() => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password)
            }
            _ => return Err(ConnectError::NoPassword { user: user.clone() }),
        },
        (None, None) => async_nats::ConnectOptions::new(),
    };
    if let Some(ca) = &auth.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    let client = options
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(server_addrs(&args.url).map_err(|reason| ConnectError::BadUrl { url: url.clone(), reason })?)
        .await
        .map_err(|source| classify(source, &url, auth))?;
    let options = crate::streams::StreamOptions { replicas: replicas_for(&client.server_info()) };
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(MAX_ACK_INFLIGHT)
        .backpressure_on_inflight(true)
        .build(client);
    match role {
        Role::Coordinator => crate::streams::ensure_replicated(&js, options).await.map_err(|source| {
            match crate::streams::is_out_of_storage(&source) {
                true => ConnectError::NoStorage { url: url.clone(), source },
                false => ConnectError::NoJetStream { url: url.clone(), source },
            }
        })?,
        Role::Worker => crate::streams::ensure_present(&js, options)
            .await
            .map_err(|_| ConnectError::StreamsMissing { url: url.clone(), who: auth.who() })?,
    }
    Ok(js)
}

/// `nats://a:4222,nats://b:4222` → one address per server (the client picks
/// one and fails over to the others).
pub fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<async_nats::ServerAddr>().map_err(|e| format!("{}: {e}", redact(u))))
        .collect()
}

/// Stream replicas: 3 when the server is part of a cluster (a stream then
/// survives losing any one of three servers), else 1.
fn replicas_for(server: &async_nats::ServerInfo) -> usize {
    if server.cluster.is_some() {
        3
    } else {
        1
    }
}

fn classify(source: async_nats::ConnectError, url: &str, auth: &NatsAuth) -> ConnectError {
    use async_nats::ConnectErrorKind as Kind;
    match source.kind() {
        Kind::AuthorizationViolation | Kind::Authentication => {
            ConnectError::Refused { url: url.to_owned(), who: auth.who() }
        }
        Kind::Tls => ConnectError::Tls { url: url.to_owned(), source },
        // A certificate the client cannot verify surfaces as an IO error.
        _ if source.to_string().contains("certificate") => ConnectError::Tls { url: url.to_owned(), source },
        // EHOSTUNREACH: what macOS's Local Network privacy gives a process it does not let on the LAN.
        _ if no_route(&source) => ConnectError::NoRoute { url: url.to_owned(), source },
        _ => ConnectError::Unreachable { url: url.to_owned(), source },
    }
}

/// Whether a connection failed with "No route to host" (EHOSTUNREACH; the
/// text is the same on macOS and Linux).
fn no_route(error: &async_nats::ConnectError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = cause {
        if err.to_string().contains("No route to host") {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The URL(s) with any password replaced by `***`, fit for logs and errors.
pub fn redact(urls: &str) -> String {
    urls.split(',')
        .map(|url| {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("***@{host}"),
                },
                None => authority.to_owned(),
            };
            let prefix = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
            match path {
                Some(path) => format!("{prefix}{authority}/{path}"),
                None => format!("{prefix}{authority}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_and_tokens_only() {
        assert_eq!(redact("nats://worker:s3cret@mac-a.local:4222"), "nats://worker:***@mac-a.local:4222");
        assert_eq!(redact("nats://tok3n@10.0.0.1:4222"), "nats://***@10.0.0.1:4222");
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact("nats://a:p@h1:4222,nats://h2:4222"), "nats://a:***@h1:4222,nats://h2:4222");
        assert_eq!(redact("mac-a.local:4222"), "mac-a.local:4222");
    }

    #[test]
    fn no_route_to_host_names_local_network_privacy_and_the_daemon() {
        use async_nats::ConnectErrorKind as Kind;
        let io = std::io::Error::other("No route to host (os error 65)");
        let source = async_nats::ConnectError::with_source(Kind::Io, io);
        let said = classify(source, "nats://mac-studio.local:4222", &NatsAuth::default()).to_string();
        assert!(said.contains("Local Network privacy") && said.contains("worker service install"), "{said}");
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 61)");
        let source = async_nats::ConnectError::with_source(Kind::Io, refused);
        let said = classify(source, "nats://127.0.0.1:4222", &NatsAuth::default()).to_string();
        assert!(said.contains("Start a server with JetStream"), "{said}");
    }
}
