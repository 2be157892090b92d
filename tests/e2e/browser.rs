//! Headless Chromium for end-to-end tests, driven through chromedriver and fantoccini.
//!
//! ```ignore
//! let Some(b) = browser::Browser::start().await else { return };
//! b.goto(&format!("http://{addr}/")).await;
//! assert_eq!(b.text_of("h1").await, "Hello");
//! b.close().await;
//! ```
//!
//! Environment:
//! - `JMET_CHROMIUM`, `JMET_CHROMEDRIVER`: binaries (a path, or a bare name looked up on PATH);
//!   default `/usr/bin/chromium` and `/usr/bin/chromedriver`.
//! - `JMET_REQUIRE_BROWSER=1`: a missing browser fails the test instead of skipping it (for CI).
//! - `JMET_ARTEFACTS`: where screenshots go; default `<target dir>/artefacts`.

// Each test binary that includes this module uses a different subset of the helpers, and
// unused items of a private module would otherwise fail `clippy -D warnings`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A headless Chromium session plus the chromedriver that serves it.
pub struct Browser {
    /// Full fantoccini API for anything the helpers do not cover.
    pub client: Client,
    chromedriver: Child,
    // Declared last so it is removed only after `Drop::drop` has killed the processes using it.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium session.
    ///
    /// Returns `None` (after saying why on stderr) when a binary is missing, so suites still pass
    /// on machines without a browser; with `JMET_REQUIRE_BROWSER=1` that case panics instead.
    /// Every other failure panics, because it means the harness or the browser is broken.
    pub async fn start() -> Option<Browser> {
        let required = std::env::var("JMET_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let chromium = locate("JMET_CHROMIUM", DEFAULT_CHROMIUM);
        let chromedriver = locate("JMET_CHROMEDRIVER", DEFAULT_CHROMEDRIVER);
        let (chromium, chromedriver) = match (chromium, chromedriver) {
            (Ok(chromium), Ok(chromedriver)) => (chromium, chromedriver),
            (chromium, chromedriver) => {
                let why = [chromium.err(), chromedriver.err()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                if required {
                    panic!("JMET_REQUIRE_BROWSER=1 but the browser cannot run: {why}");
                }
                eprintln!(
                    "browser tests skipped: {why} (set JMET_REQUIRE_BROWSER=1 to fail instead)"
                );
                return None;
            }
        };
        match launch(&chromium, &chromedriver).await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("starting headless Chromium failed: {e}"),
        }
    }

    /// Ends the WebDriver session, then stops chromedriver and anything Chromium left behind.
    pub async fn close(mut self) {
        // A clean session delete lets Chromium flush and exit on its own; the kills are the
        // backstop. The error is ignored: a dead session is exactly what we want here.
        let _ = self.client.clone().close().await;
        let _ = self.chromedriver.kill().await;
        kill_profile_processes(self.profile.path());
    }

    /// The throwaway `--user-data-dir` of this session.
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Process id of the chromedriver child, while it is running.
    pub fn chromedriver_pid(&self) -> Option<u32> {
        self.chromedriver.id()
    }

    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            panic!("goto {url}: {e}");
        }
    }

    /// Finds the first element matching `css` right now; see [`Browser::wait_for`] after
    /// anything that navigates.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("find {css:?} on {}: {e}", self.current_url().await),
        }
    }

    /// Rendered text of the first element matching `css`, as a user would read it.
    pub async fn text_of(&self, css: &str) -> String {
        match self.find(css).await.text().await {
            Ok(text) => text,
            Err(e) => panic!("text of {css:?}: {e}"),
        }
    }

    /// Polls until an element matching `css` exists.
    ///
    /// Every error is retried, not just "no such element": during a navigation chromedriver
    /// also reports stale or not-yet-loaded documents. If the selector also matches the page
    /// being left, wait for something only the new page has.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            let last_error = match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                panic!(
                    "{css:?} did not appear within {timeout:?} on {}: {last_error}",
                    self.current_url().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Types `text` into the element matching `css`, after what it already holds.
    pub async fn fill(&self, css: &str, text: &str) {
        if let Err(e) = self.find(css).await.send_keys(text).await {
            panic!("typing into {css:?}: {e}");
        }
    }

    pub async fn click(&self, css: &str) {
        if let Err(e) = self.find(css).await.click().await {
            panic!("click {css:?}: {e}");
        }
    }

    /// Current URL; a string so callers need no `url` dependency. Never panics, because the
    /// panic messages of the other helpers use it.
    pub async fn current_url(&self) -> String {
        match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(e) => format!("<unknown url: {e}>"),
        }
    }

    pub async fn title(&self) -> String {
        match self.client.title().await {
            Ok(title) => title,
            Err(e) => panic!("title: {e}"),
        }
    }

    /// Page source as the browser currently has it (DOM serialised, not the bytes served).
    pub async fn html(&self) -> String {
        match self.client.source().await {
            Ok(html) => html,
            Err(e) => panic!("page source: {e}"),
        }
    }

    /// Sends `key` as real key events to whatever has focus, the body when nothing does.
    ///
    /// Special keys work through fantoccini's `Key`, which derefs to `&str`:
    /// `b.press_key(&Key::Escape).await`. A key sent while an input has focus is typed into it,
    /// so blur inputs first when testing page-level shortcuts that ignore typing.
    pub async fn press_key(&self, key: &str) {
        let target = match self.client.active_element().await {
            Ok(element) => element,
            // WebDriver may report no active element at all while a document is loading.
            Err(_) => self.find("body").await,
        };
        if let Err(e) = target.send_keys(key).await {
            panic!("pressing {key:?}: {e}");
        }
    }

    /// Saves a PNG of the viewport as `<artefacts>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = match self.client.screenshot().await {
            Ok(png) => png,
            Err(e) => panic!("screenshot {name:?}: {e}"),
        };
        let dir = artefacts_dir();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("creating {}: {e}", dir.display());
        }
        let path = dir.join(format!("{}.png", file_stem(name)));
        if let Err(e) = std::fs::write(&path, &png) {
            panic!("writing {}: {e}", path.display());
        }
        // Read back rather than trusting the buffer, so a truncated or foreign file is caught.
        let written = std::fs::read(&path).unwrap_or_default();
        assert!(
            written.starts_with(&PNG_SIGNATURE),
            "{} is not a PNG ({} bytes)",
            path.display(),
            written.len()
        );
        path
    }
}

impl Drop for Browser {
    // Runs on panics too, which is the point: `close` is never reached when an assert fails.
    fn drop(&mut self) {
        let _ = self.chromedriver.start_kill();
        kill_profile_processes(self.profile.path());
    }
}

/// Screenshots and other test output: `JMET_ARTEFACTS`, else `<target dir>/artefacts`.
///
/// The target dir is `CARGO_TARGET_DIR` as seen by the test process (a relative value is taken
/// from the test's working directory, the package root), else the `target` directory beside
/// the test package, which is the workspace one when the package sits one level below it.
pub fn artefacts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("JMET_ARTEFACTS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("artefacts")
}

fn file_stem(name: &str) -> String {
    let name = name.strip_suffix(".png").unwrap_or(name);
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Resolves a binary from `var` or `default`: a value with a `/` is a path, otherwise it is
/// looked up on PATH. The error says what was looked for, for the skip message.
fn locate(var: &str, default: &str) -> Result<PathBuf, String> {
    let (wanted, from) = match std::env::var(var) {
        Ok(v) if !v.is_empty() => (v, format!("${var}")),
        _ => (default.to_owned(), format!("default for ${var}")),
    };
    if wanted.contains('/') {
        let path = PathBuf::from(&wanted);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!("{wanted} ({from}) is not an executable file"))
        };
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(&wanted))
        .find(|path| is_executable(path))
        .ok_or_else(|| format!("{wanted} ({from}) is not on PATH"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

async fn launch(chromium: &Path, chromedriver: &Path) -> Result<Browser, String> {
    let profile = tempfile::Builder::new()
        .prefix("jmet-chromium-")
        .tempdir()
        .map_err(|e| format!("creating a Chromium profile dir: {e}"))?;
    let (mut driver, port) = spawn_chromedriver(chromedriver).await?;

    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
        "--window-size=1280,900".to_owned(),
        "--lang=en-US".to_owned(),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": chromium.display().to_string(),
            "args": args,
            // chromedriver starts Chromium without a URL, so a fresh profile opens
            // chrome://new-tab-page-third-party/, which sometimes starts loading only after
            // ~5 s; chromedriver holds the first command until it has. Opening about:blank
            // makes the first command answer in ~10 ms (a positional URL argument does not help).
            "prefs": {
                "session.restore_on_startup": 4,
                "session.startup_urls": ["about:blank"],
            },
        }),
    );
    // The WebDriver default is 300 s, which turns a hung page into a hung test run.
    capabilities.insert(
        "timeouts".to_owned(),
        serde_json::json!({ "pageLoad": 30_000, "script": 30_000 }),
    );

    // chromedriver is plain HTTP on loopback, so no TLS stack is needed at all.
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await;
    match client {
        Ok(client) => Ok(Browser {
            client,
            chromedriver: driver,
            profile,
        }),
        Err(e) => {
            let _ = driver.kill().await;
            kill_profile_processes(profile.path());
            Err(format!(
                "opening a session with {} through {}: {e}",
                chromium.display(),
                chromedriver.display()
            ))
        }
    }
}

/// Starts chromedriver on a free port and waits until `/status` says it is ready.
///
/// The port is free when picked but could be taken before chromedriver binds it, so an early
/// exit is retried on a fresh port.
async fn spawn_chromedriver(chromedriver: &Path) -> Result<(Child, u16), String> {
    const ATTEMPTS: u32 = 3;
    for attempt in 1..=ATTEMPTS {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("picking a free port: {e}"))?
            .port();
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", chromedriver.display()))?;

        let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                if attempt == ATTEMPTS {
                    return Err(format!(
                        "{} exited with {status} before answering /status",
                        chromedriver.display()
                    ));
                }
                break;
            }
            if driver_ready(port).await {
                return Ok((child, port));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not answer /status on port {port} within {DRIVER_READY_TIMEOUT:?}",
                    chromedriver.display()
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    unreachable!("the last attempt returns")
}

/// One `/status` probe over a raw socket, which saves an HTTP client dependency for one GET.
async fn driver_ready(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        // chromedriver ignores `Connection: close` and keeps the socket open, so reading to
        // EOF would hang: stop once the body announced by Content-Length is in.
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
            if response_complete(&response) {
                break;
            }
        }
        std::io::Result::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(response)) => {
            response.starts_with("HTTP/1.1 200")
                && response.replace(' ', "").contains("\"ready\":true")
        }
        _ => false,
    }
}

fn response_complete(response: &[u8]) -> bool {
    let Some(header_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..header_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    // Without a length only EOF can end the body; the caller's timeout bounds that wait.
    length.is_some_and(|len| response.len() >= header_end + 4 + len)
}

/// SIGKILLs every process of this session's Chromium and waits until they are dead.
///
/// Killing chromedriver alone orphans Chromium, whose whole tree keeps running. Every process
/// of the tree names our profile dir, which is unique to this session, so matching on it cannot
/// hit anyone else's browser. All are killed at once and waited for: a helper that outlives the
/// browser (the network service flushing its cache index) recreates files in the profile dir
/// after `TempDir` has deleted it.
fn kill_profile_processes(profile: &Path) {
    let pids = profile_processes(profile);
    for &pid in &pids {
        // SAFETY: kill(2) only sends a signal; a pid that has meanwhile exited gets ESRCH.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&pid| is_alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn profile_processes(profile: &Path) -> Vec<i32> {
    let needle = format!("--user-data-dir={}", profile.display());
    let needle = needle.as_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // Chromium's helpers rewrite their argv into one space-separated string, so the
            // flag is searched for in the raw bytes instead of compared argument by argument.
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            cmdline
                .windows(needle.len())
                .enumerate()
                .any(|(at, window)| {
                    window == needle
                        && matches!(cmdline.get(at + needle.len()), None | Some(0 | b' '))
                })
        })
        .collect()
}

/// False once the process is gone or a zombie, which has already closed its files.
fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
