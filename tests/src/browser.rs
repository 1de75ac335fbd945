//! A real browser for the dashboard's test: Debian's headless Chromium,
//! driven through ChromeDriver's W3C WebDriver API (JSON over HTTP).
//!
//! The client is the handful of WebDriver commands the test uses (open a
//! session, navigate, find, read text, click, run a script, screenshot),
//! written over the reqwest the tests already have rather than pulling in a
//! WebDriver crate and its HTTP stack for them. `.ci/run` installs
//! `chromium` and `chromium-driver`; without them the test fails saying so.

use crate::nats::free_port;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One headless Chromium session and the chromedriver serving it.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    driver: Child,
}

fn find(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let out = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!path.is_empty()).then_some(path)
    })
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session.
    pub async fn start() -> Self {
        let driver_path = find(&["chromedriver"]).expect(
            "chromedriver is not installed: the dashboard test needs Debian's chromium and chromium-driver \
             (`apt-get install chromium chromium-driver`; .ci/run installs them)",
        );
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"])
            .expect("chromium is not installed (`apt-get install chromium chromium-driver`; .ci/run installs them)");
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await.ok();
            if let Some(response) = ready {
                if let Ok(status) = response.json::<Value>().await {
                    if status["value"]["ready"] == true {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1700"
            ]}
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("json");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver opened no session: {created}"))
            .to_owned();
        Self { http, session, base, driver }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method.clone(), url);
        let request = if method == reqwest::Method::GET { request } else { request.json(&body) };
        let answer: Value = request.send().await.expect("webdriver call").json().await.expect("webdriver json");
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        let value = self.command(reqwest::Method::POST, "/url", json!({"url": url})).await;
        assert!(value.is_null(), "navigate to {url}: {value}");
    }

    /// The text of the first element matching `css`, `None` when there is none.
    pub async fn text(&self, css: &str) -> Option<String> {
        let element = self.element(css).await?;
        let value = self.command(reqwest::Method::GET, &format!("/element/{element}/text"), Value::Null).await;
        value.as_str().map(str::to_owned)
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await.unwrap_or_else(|| panic!("no {css} to click"));
        let value = self.command(reqwest::Method::POST, &format!("/element/{element}/click"), json!({})).await;
        assert!(value.is_null(), "click {css}: {value}");
    }

    /// Runs `script` in the page and returns its value.
    pub async fn run(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// The whole page's visible text.
    pub async fn body_text(&self) -> String {
        self.text("body").await.unwrap_or_default()
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let value = self.command(reqwest::Method::GET, "/screenshot", Value::Null).await;
        base64_decode(value.as_str().expect("a base64 screenshot"))
    }

    async fn element(&self, css: &str) -> Option<String> {
        let value =
            self.command(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        value.as_object()?.values().next()?.as_str().map(str::to_owned)
    }

    /// Polls the text of `css` until `check` holds on it, for up to `limit`; returns it.
    pub async fn wait_text(&self, css: &str, limit: Duration, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if check(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what} within {limit:?}; {css} reads {text:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium; killing the driver ends the rest.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::process::Command::new("curl").args(["-s", "-X", "DELETE", &url, "-m", "5"]).output();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (what WebDriver sends screenshots in).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("aGk"), b"hi");
        assert_eq!(super::base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
    }
}
