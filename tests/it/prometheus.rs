//! A real Prometheus for the integration tests: one server per test binary, started lazily by
//! the first test that asks for it and shared by all. It serves deterministic history backfilled
//! with `promtool` (generated relative to now, shaped like seeds R4 and R5) and scrapes a tiny
//! in-process exporter every second (gauges with `NaN` and `+Inf`). Start-up waits for the first
//! scrape (`up == 1`, about 6 s), not only for `/-/ready`.
//!
//! Clean-up cannot rely on `Drop` (statics are never dropped), so Prometheus runs under a small
//! `sh` watchdog whose stdin is a pipe from this process: when the test binary exits, however it
//! exits (even SIGKILL), the kernel closes the pipe, `read` returns, and the watchdog kills
//! Prometheus and removes the temporary directory.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;

pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
pub const PROMTOOL_BIN: &str = "/usr/bin/promtool";

/// The scrape job of the in-process exporter.
pub const SCRAPE_JOB: &str = "rolltop-it";
/// R5's canary: 16 errors in every 5 minutes since the bad release (see [`backfill`]).
pub const R5_ERRORS: u32 = 16;
/// R4's success ratio in the backfilled history (99 good requests out of 100).
pub const R4_SUCCESS_RATIO: f64 = 0.99;

/// A running Prometheus.
pub struct Prometheus {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    // Held, never read: dropping the stdin pipe is what stops the watchdog.
    _watchdog: Mutex<(Child, ChildStdin)>,
}

/// A failed start is kept too, so that every later test fails at once with the same reason
/// instead of trying again.
static PROMETHEUS: OnceLock<Result<Prometheus, String>> = OnceLock::new();

/// The shared Prometheus, started on first use. Fails (never skips) when Prometheus is missing.
pub fn prometheus() -> &'static Prometheus {
    match PROMETHEUS.get_or_init(start) {
        Ok(prometheus) => prometheus,
        Err(error) => panic!("could not start the test Prometheus: {error}"),
    }
}

/// Fails, naming the fix, when a binary the harness needs is not installed.
pub fn require_installed(binaries: &[&str]) -> Result<(), String> {
    for binary in binaries {
        if !Path::new(binary).exists() {
            return Err(format!(
                "{binary} is missing. The analysis tests need a real Prometheus: `.ci/run` installs \
                 it (Debian package `prometheus`: apt-get install -y --no-install-recommends \
                 prometheus)."
            ));
        }
    }
    Ok(())
}

fn start() -> Result<Prometheus, String> {
    require_installed(&[PROMETHEUS_BIN, PROMTOOL_BIN])?;
    let dir = tempfile::Builder::new()
        .prefix("rolltop-it-prometheus-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();

    // The exporter lives on its own runtime, on a thread that outlives every test's runtime.
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("it-prometheus-exporter".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = sender.send(Err(format!("exporter runtime: {error}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                    Ok(listener) => listener,
                    Err(error) => {
                        let _ = sender.send(Err(format!("exporter bind: {error}")));
                        return;
                    }
                };
                let _ = sender.send(listener.local_addr().map_err(|e| e.to_string()));
                let app = Router::new().route("/metrics", get(exporter_metrics));
                let _ = axum::serve(listener, app).await;
            });
        })
        .map_err(|e| format!("exporter thread: {e}"))?;
    let exporter = receiver
        .recv()
        .map_err(|e| format!("exporter did not start: {e}"))??;

    backfill(&dir)?;
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: \
             {SCRAPE_JOB}\n    static_configs:\n      - targets: ['{exporter}']\n"
        ),
    )
    .map_err(|e| format!("write config: {e}"))?;

    let (child, stdin) = spawn_watchdog(&dir, &config)?;
    let watchdog = Mutex::new((child, stdin));
    let port = wait_for_port(&dir.join("prometheus.log"))?;
    let url = format!("http://127.0.0.1:{port}");
    let checks = [
        format!("up{{job=\"{SCRAPE_JOB}\"}} == 1"),
        "http_requests_total".to_string(),
    ];
    wait_for_first_scrape(&url, &dir.join("prometheus.log"), &checks)?;
    Ok(Prometheus {
        url,
        _watchdog: watchdog,
    })
}

/// A Prometheus of one test's own, with no history, scraping `target` (a test's exporter) every
/// second as job `job`; it stops when the returned value is dropped (or the test binary exits).
/// Blocks until the first scrape is visible, so call it from `spawn_blocking`.
pub fn start_scraping(target: SocketAddr, job: &str) -> Result<Prometheus, String> {
    require_installed(&[PROMETHEUS_BIN])?;
    let dir = tempfile::Builder::new()
        .prefix("rolltop-it-prometheus-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?
        .keep();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: \
             {job}\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .map_err(|e| format!("write config: {e}"))?;
    let (child, stdin) = spawn_watchdog(&dir, &config)?;
    let watchdog = Mutex::new((child, stdin));
    let port = wait_for_port(&dir.join("prometheus.log"))?;
    let url = format!("http://127.0.0.1:{port}");
    let checks = [format!("up{{job=\"{job}\"}} == 1")];
    wait_for_first_scrape(&url, &dir.join("prometheus.log"), &checks)?;
    Ok(Prometheus {
        url,
        _watchdog: watchdog,
    })
}

async fn exporter_metrics() -> &'static str {
    "# HELP rolltop_test_gauge Fixed values with special floats.\n\
     # TYPE rolltop_test_gauge gauge\n\
     rolltop_test_gauge{case=\"nan\"} NaN\n\
     rolltop_test_gauge{case=\"inf\"} +Inf\n\
     rolltop_test_gauge{case=\"ratio\"} 0.97\n"
}

/// Writes OpenMetrics history for the hour before start-up (10 s resolution, ending 5 s ago)
/// and turns it into TSDB blocks with promtool. (Samples in the future would make the answers
/// independent of when a test queries, but blocks reaching past now make the head reject every
/// scrape as out of bounds.) The data stays usable for the few minutes a test binary runs:
/// - R5: the canary's 500 counter is flat until 20 minutes before start-up ("before the bad
///   release", which `offset 30m` sees), then rises by [`R5_ERRORS`] every 5 minutes, so
///   `delta(...[5m])` is 16 right after start-up and decreases as the data ages.
/// - R4: 99 of every 100 Istio requests succeed.
fn backfill(dir: &Path) -> Result<(), String> {
    let generated = chrono::Utc::now().timestamp() / 10 * 10;
    let start = generated - 3600;
    let end = generated - 5;
    let bad_release = generated - 20 * 60;
    let r5 = r#"code="500",namespace="kubota-test",service="rollouts-demo-canary""#;
    let r5_ok = r#"code="200",namespace="kubota-test",service="rollouts-demo-canary""#;
    let istio = r#"reporter="source",destination_service="nginx.default.svc.cluster.local""#;
    let errors_per_step = f64::from(R5_ERRORS) / 30.0;
    let errors_at = |t: i64| (t - bad_release).max(0) as f64 / 10.0 * errors_per_step;
    let times = || (start..=end).step_by(10);
    let mut text = String::from(
        "# HELP http_requests_total Total requests.\n# TYPE http_requests_total counter\n",
    );
    for t in times() {
        let _ = writeln!(text, "http_requests_total{{{r5}}} {} {t}", errors_at(t));
    }
    for (i, t) in times().enumerate() {
        let _ = writeln!(text, "http_requests_total{{{r5_ok}}} {} {t}", i * 10);
    }
    text.push_str(
        "# HELP istio_requests_total Istio requests.\n# TYPE istio_requests_total counter\n",
    );
    for (i, t) in times().enumerate() {
        let _ = writeln!(
            text,
            "istio_requests_total{{{istio},response_code=\"200\"}} {} {t}",
            i * 99
        );
    }
    for (i, t) in times().enumerate() {
        let _ = writeln!(
            text,
            "istio_requests_total{{{istio},response_code=\"503\"}} {i} {t}"
        );
    }
    text.push_str("# EOF\n");
    let input = dir.join("backfill.om");
    std::fs::write(&input, text).map_err(|e| format!("write backfill: {e}"))?;
    let output = Command::new(PROMTOOL_BIN)
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(dir.join("data"))
        .output()
        .map_err(|e| format!("run promtool: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "promtool failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}

/// `sh` starts Prometheus in the background, then blocks reading its stdin (our pipe). EOF, or
/// a terminal signal, stops Prometheus and deletes the directory.
fn spawn_watchdog(dir: &Path, config: &Path) -> Result<(Child, ChildStdin), String> {
    const SCRIPT: &str = r#"
DIR="$1"; PROM="$2"; CONFIG="$3"
"$PROM" --config.file="$CONFIG" --storage.tsdb.path="$DIR/data" \
  --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:0 \
  </dev/null >"$DIR/prometheus.log" 2>&1 &
P=$!
cleanup() { kill "$P" 2>/dev/null; wait "$P" 2>/dev/null; rm -rf "$DIR"; exit 0; }
trap cleanup INT TERM HUP
read _ignored
cleanup
"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("sh")
        .arg(dir)
        .arg(PROMETHEUS_BIN)
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn sh: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe")?;
    Ok((child, stdin))
}

/// With `--web.listen-address=127.0.0.1:0` the real port is only in the log.
fn wait_for_port(log: &Path) -> Result<u16, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("msg=\"Listening on\"")) {
            if let Some(port) = line
                .rsplit_once("address=127.0.0.1:")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|port| port.parse().ok())
            {
                return Ok(port);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "Prometheus did not listen within 30 s; log:\n{}",
        read_log(log)
    ))
}

/// Waits until the exporter has been scraped and the backfill is visible. Uses a plain blocking
/// HTTP/1.0 GET so that no async runtime is needed here.
fn wait_for_first_scrape(url: &str, log: &Path, checks: &[String]) -> Result<(), String> {
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("bad address {url}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    for query in checks {
        loop {
            if http_get_query(address, query).is_some_and(|body| body.contains("\"value\"")) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Prometheus at {url} never answered `{query}` within 60 s; log:\n{}",
                    read_log(log)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

fn http_get_query(address: SocketAddr, query: &str) -> Option<String> {
    use std::io::Read as _;
    let encoded: String =
        percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /api/v1/query?query={encoded} HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_else(|e| format!("(no log: {e})"))
}

/// Serves `router` on a fresh loopback port on the current tokio runtime (the calling test's).
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    address
}

/// A loopback address nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
