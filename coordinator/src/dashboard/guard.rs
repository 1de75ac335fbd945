//! Who may look and who may act: every request's `Host` must name this
//! server (a page from another site that rebinds its DNS name to 127.0.0.1
//! still sends its own name, and is refused); beyond localhost every request
//! needs the token; an action (a POST) must come from this page: a JSON body
//! (a form on another site cannot send one without a preflight this server
//! never answers) and, when the browser says where it comes from, this
//! server's own origin.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The checks' settings, from `--listen`, `--token` and `--allow-host`.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Host names (without port) requests may carry.
    hosts: Vec<String>,
    port: u16,
    /// Needed for everything when set (listening beyond localhost).
    token: Option<String>,
}

/// The cookie the page keeps the token in after `?token=` (so links work).
pub const TOKEN_COOKIE: &str = "podmine_token";

impl Guard {
    /// Loopback names always; the listen address's own when it is a
    /// specific one; and `extra` (`--allow-host mac-studio.local`). A token
    /// is required when `listen` is not a loopback address.
    pub fn new(listen: SocketAddr, token: Option<String>, extra: &[String]) -> Self {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(str::to_owned).to_vec();
        if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
            hosts.push(match listen {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            });
        }
        hosts.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        let token = if listen.ip().is_loopback() { token } else { token.or_else(|| Some(new_token())) };
        Self { hosts, port: listen.port(), token }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether anyone may reach it from another machine: any host name is
    /// then accepted (the token is what keeps it closed).
    fn host_ok(&self, headers: &HeaderMap, any_host: bool) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
        let host = host.to_ascii_lowercase();
        let (name, port): (String, Option<u16>) = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((ip, tail)) => (format!("[{ip}]"), tail.strip_prefix(':').and_then(|p| p.parse().ok())),
                None => (host.clone(), None),
            },
            None => match host.rsplit_once(':') {
                Some((name, port)) => (name.to_owned(), port.parse().ok()),
                None => (host.clone(), None),
            },
        };
        let port_ok = port.is_none_or(|p| p == self.port);
        port_ok && (any_host || self.hosts.contains(&name))
    }

    fn token_ok(&self, request: &Request) -> bool {
        let Some(token) = &self.token else { return true };
        let headers = request.headers();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let cookie = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
            cookies.split(';').find_map(|c| c.trim().strip_prefix(&format!("{TOKEN_COOKIE}=")).map(str::to_owned))
        });
        let query = request
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=").map(str::to_owned)));
        [bearer, cookie, query].into_iter().flatten().any(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    }

    /// An action from this page: a JSON body, and this server's origin when one is sent.
    fn action_ok(&self, headers: &HeaderMap) -> bool {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true, // not a browser (curl, a script): the token, if any, was checked
            Some(origin) => {
                let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
                origin.eq_ignore_ascii_case(&format!("http://{host}"))
            }
        };
        json && origin_ok
    }
}

/// The middleware: refuses what the checks above refuse, saying why.
pub async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if !guard.host_ok(request.headers(), guard.token.is_some()) {
        return refuse(StatusCode::FORBIDDEN, "this dashboard answers to its own address only (check the Host)");
    }
    if !guard.token_ok(&request) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this dashboard needs its token: open the URL the coordinator printed (…/?token=…), or send \
             `Authorization: Bearer <token>`",
        );
    }
    if request.method() == Method::POST && !guard.action_ok(request.headers()) {
        return refuse(StatusCode::FORBIDDEN, "actions are taken from the dashboard's own page only");
    }
    next.run(request).await
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], why).into_response()
}

/// 32 random hex characters from the system's random source.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut random) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = random.read_exact(&mut bytes);
    }
    if bytes == [0; 16] {
        // No /dev/urandom: the clock and the process id, hashed (still unguessable enough for a LAN page).
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes = protocol::ContentHash::of_bytes(seed.as_bytes()).0;
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn loopback_needs_no_token_but_its_own_host_name() {
        let guard = Guard::new("127.0.0.1:8080".parse().unwrap(), None, &[]);
        assert!(guard.token().is_none());
        assert!(guard.host_ok(&headers(&[(header::HOST, "127.0.0.1:8080")]), false));
        assert!(guard.host_ok(&headers(&[(header::HOST, "localhost:8080")]), false));
        assert!(!guard.host_ok(&headers(&[(header::HOST, "evil.example:8080")]), false), "DNS rebinding");
        assert!(!guard.host_ok(&headers(&[(header::HOST, "localhost:9999")]), false));
    }

    #[test]
    fn beyond_localhost_a_token_is_made_when_none_is_given() {
        let guard = Guard::new("0.0.0.0:8080".parse().unwrap(), None, &[]);
        assert_eq!(guard.token().map(str::len), Some(32));
        let given = Guard::new("192.168.1.5:8080".parse().unwrap(), Some("s3cret".into()), &[]);
        assert_eq!(given.token(), Some("s3cret"));
    }

    #[test]
    fn actions_need_json_and_the_pages_own_origin() {
        let guard = Guard::new("127.0.0.1:8080".parse().unwrap(), None, &[]);
        let json = (header::CONTENT_TYPE, "application/json");
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(guard.action_ok(&headers(&[json.clone(), host.clone(), (header::ORIGIN, "http://127.0.0.1:8080")])));
        assert!(!guard.action_ok(&headers(&[json.clone(), host.clone(), (header::ORIGIN, "http://evil.example")])));
        assert!(!guard.action_ok(&headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded"), host])));
    }
}
