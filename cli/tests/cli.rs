//! The `plue` binary, run as a process: the demo against the embedded server, usage and connection errors, and
//! `health`, `sessions`, `new`, `chat` against the real OpenCode server (1.18.34) with the loopback mock model.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plue_http_sim::fake_opencode::VERSION as EMBEDDED_VERSION;
use plue_http_tests::mock_model::MockModel;
use plue_http_tests::opencode_fixture;

fn plue() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_plue"));
    c.env_remove("OPENCODE_URL")
        .env_remove("OPENCODE_BIN")
        .env_remove("OPENCODE_SERVER_PASSWORD")
        .stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> (Output, String, String) {
    let out = plue().args(args).output().expect("run plue");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Lines of `text` in order: each must appear after the previous one.
fn assert_in_order(text: &str, lines: &[&str]) {
    let mut at = 0;
    for l in lines {
        match text[at..].find(l) {
            Some(i) => at += i + l.len(),
            None => panic!("{l:?} missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn cli_demo_shows_health_stream_reconnect_and_recovery_on_every_runtime() {
    for rt in ["tokio", "smol", "mio"] {
        let started = Instant::now();
        let (out, stdout, stderr) = run(&["--runtime", rt, "demo"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rt}: stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{rt}: the demo took {:?}",
            started.elapsed()
        );
        assert_in_order(
            &stdout,
            &[
                &format!("runtime {rt}"),
                &format!("[1/6] Health confirmed through /event: server.connected received, server version {EMBEDDED_VERSION}"),
                "[2/6] Session created: ses_",
                "[3/6] Chat: sending \"Hello, OpenCode!\"",
                "Hello from the plue demo model. You said: Hello, OpenCode!\n",
                "Reply complete: ",
                "[4/6] Provider list fetched (",
                "(1 model)",
                "[5/6] Restarting the demo server",
                "Connection lost. Reconnecting... (attempt 1/3)",
                "[6/6] Request made during the outage: GET /session waits",
                "Connection lost. Reconnecting... (attempt 2/3)",
                "Reconnected: /event is live again and the server is healthy",
                "Queued request completed after waiting",
                "1 session listed",
                "Demo complete in",
            ],
        );
        // The reply streamed in several pieces.
        let pieces: usize = stdout
            .split("Reply complete: ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(pieces >= 4, "{rt}: {pieces} pieces\n{stdout}");
    }
}

#[test]
fn cli_embedded_default_serves_every_command_and_says_so() {
    let (out, stdout, stderr) = run(&["health"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Backend: embedded demo server at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("healthy, version {EMBEDDED_VERSION}")),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(&["events", "--count", "1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "events --count ends by itself: {stderr}"
    );
    assert_eq!(stdout.trim(), "server.connected");

    // --json: the raw payload as the server sent it, one per line.
    let (out, stdout, stderr) = run(&["--json", "events", "--count", "1"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let payload: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert_eq!(payload["type"], "server.connected", "{stdout}");
    assert!(payload.get("line").is_none(), "{stdout}");

    let (out, stdout, stderr) = run(&["--json", "chat", "ping"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let deltas = lines.iter().filter(|v| v["type"] == "delta").count();
    let last = lines.last().expect("a reply line");
    assert!(deltas >= 4, "{stdout}");
    assert_eq!(last["type"], "reply");
    assert_eq!(
        last["text"],
        "Hello from the plue demo model. You said: ping"
    );
    let streamed: String = lines
        .iter()
        .filter(|v| v["type"] == "delta")
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        streamed,
        last["text"].as_str().unwrap(),
        "the deltas add up to the final text"
    );
}

#[test]
fn cli_usage_errors_exit_2() {
    let (out, _, stderr) = run(&["--runtime", "nope", "health"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let (out, _, stderr) = run(&["chat", "hi", "--model", "no-slash"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not provider/model"), "{stderr}");
    let (out, _, stderr) = run(&["--url", "ftp://127.0.0.1:1", "sessions"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let (out, _, stderr) = run(&[
        "--url",
        "https://127.0.0.1:1",
        "--cacert",
        "/nonexistent/ca.pem",
        "sessions",
    ]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Could not read the CA file"), "{stderr}");
}

/// Issue 20 item 6: a URL's password never reaches the output: not the "Backend:" line, not a bad-URL error, not
/// a connection error, not `--json`, whether it came from `--url` or `OPENCODE_URL`, on every runtime.
#[test]
fn cli_url_password_is_redacted_everywhere() {
    for rt in ["tokio", "smol", "mio"] {
        for (url, exit) in [
            ("http://user:secret@127.0.0.1:1", 3),
            // https is supported since the TLS work: nothing listens there, so it cannot connect.
            ("https://user:secret@127.0.0.1:1", 3),
            ("user:secret@127.0.0.1:1", 2),
            ("http://user:secret@127.0.0.1:1/a b", 2),
        ] {
            // `--json` goes through the same messages; once per URL is enough.
            for json in [false, rt == "tokio"] {
                let mut args = vec!["--runtime", rt, "--url", url, "sessions"];
                if json {
                    args.insert(0, "--json");
                }
                let (out, stdout, stderr) = run(&args);
                assert_eq!(out.status.code(), Some(exit), "{rt} {url}: {stderr}");
                assert!(
                    !stdout.contains("secret") && !stderr.contains("secret"),
                    "{rt} {url}: the password was printed:\n{stdout}\n{stderr}"
                );
                assert!(stderr.contains("Backend: OpenCode server at "), "{stderr}");
            }
        }
        let out = plue()
            .env("OPENCODE_URL", "http://user:secret@127.0.0.1:1")
            .args(["--runtime", rt, "sessions"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("Backend: OpenCode server at http://127.0.0.1:1 (from OPENCODE_URL"),
            "{stderr}"
        );
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}

/// Issue 20 item 7: an empty `--url` or `OPENCODE_URL` is a usage error (no silent fallback to the embedded demo
/// server and its fake data), and so is an empty prompt.
#[test]
fn cli_empty_url_or_prompt_is_a_usage_error() {
    let no_fallback = |stderr: &str| !stderr.contains("embedded demo server at");
    let (out, stdout, stderr) = run(&["--url", "", "sessions"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--url is empty") && no_fallback(&stderr),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    let out = plue()
        .env("OPENCODE_URL", "")
        .arg("sessions")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("OPENCODE_URL is set but empty") && no_fallback(&stderr),
        "{stderr}"
    );
    for prompt in ["", "  \n"] {
        let (out, stdout, stderr) = run(&["chat", prompt]);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("The prompt is empty") && no_fallback(&stderr),
            "{stderr}"
        );
        assert!(stdout.is_empty(), "{stdout}");
    }
    let (out, _, stderr) = run(&["--json", "--url", "", "health"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

/// Issue 20 item 8: `plue events` shows a visible line for an event larger than `max_event_size` (32 MiB) as soon
/// as the limit is crossed — here the server never sends a line end at all — on every runtime.
#[test]
fn cli_events_reports_an_oversized_event_before_its_line_ends() {
    use plue_http_tests::hostile::{Hostile, Script, Step};
    for rt in ["tokio", "smol", "mio"] {
        let server = Hostile::start(Script {
            steps: vec![
                Step::Write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ".to_vec(),
                ),
                // 40 MiB of one line that never ends, then silence with the connection open.
                Step::Endless(vec![b'x'; 64 * 1024], 40 << 20),
                Step::Hold,
            ],
        });
        let mut child = plue()
            .args(["--runtime", rt, "--url", &server.base(), "events"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run plue");
        let rx = merged_output(&mut child);
        let mut out = String::new();
        read_until(&rx, &mut out, Duration::from_secs(60), |o| {
            o.contains(
                "(event skipped: the event size (max_event_size) exceeded its limit of 33554432)",
            )
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(!out.contains("Reconnecting"), "{rt}: {out}");
    }
}

/// Issue 20 item 10: a reset in the middle of the response body says what happened and when ("connection reset
/// by the server while reading the response body"), not "could not connect", and exits 1 like any answer that
/// was cut off (the connection, the request and the head all worked) — on every runtime.
#[test]
fn cli_reset_mid_body_says_so_and_is_not_a_connect_error() {
    use plue_http_tests::hostile::{Hostile, Script, Step};
    for rt in ["tokio", "smol", "mio"] {
        let server = Hostile::start(Script {
            steps: vec![
                Step::Write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"id\""
                        .to_vec(),
                ),
                // Let the head be read before the reset (a reset may discard unread bytes).
                Step::Sleep(Duration::from_millis(300)),
                Step::Reset,
            ],
        });
        let (out, _, stderr) = run(&["--runtime", rt, "--url", &server.base(), "sessions"]);
        assert!(
            stderr.contains("connection reset by the server while reading the response body"),
            "{rt}: {stderr}"
        );
        assert!(!stderr.contains("could not connect"), "{rt}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{rt}: {stderr}");
    }
}

/// Issue 20 item 11: a JSON answer with a `Content-Encoding` the client cannot undo is reported by its coding, not
/// as a JSON error quoting encoded bytes — on every runtime. (gzip, deflate, br and zstd are decoded since the bodies
/// work, so the test uses a coding nobody decodes.)
#[test]
fn cli_unrequested_content_encoding_names_the_coding() {
    use plue_http_tests::hostile::{Hostile, Script};
    let gzip_body: &[u8] =
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x8b\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00";
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: x-plue-test\r\nContent-Length: {}\r\n\r\n",
        gzip_body.len()
    )
    .into_bytes();
    response.extend_from_slice(gzip_body);
    for rt in ["tokio", "smol", "mio"] {
        let server = Hostile::start(Script::write_close(&response));
        let (out, _, stderr) = run(&["--runtime", rt, "--url", &server.base(), "sessions"]);
        assert!(stderr.contains("x-plue-test"), "{rt}: {stderr}");
        assert!(
            !stderr.contains("could not decode the JSON"),
            "{rt}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(1), "{rt}: {stderr}");
    }
}

#[test]
fn cli_refused_connection_exits_3_with_one_sentence_naming_the_last_success() {
    // A port nothing listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (out, _, stderr) = run(&["--url", &url, "--runtime", "mio", "health"]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let err = stderr
        .lines()
        .find(|l| l.starts_with("Error: "))
        .expect("an error line");
    assert!(
        err.contains("Could not confirm health") && err.contains("connection refused"),
        "{err}"
    );
    assert!(err.ends_with("nothing had succeeded before."), "{err}");
    let help = plue().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for code in [
        "0  success",
        "1  the server answered",
        "2  usage",
        "3  cannot connect",
        "4  timeout",
    ] {
        assert!(help.contains(code), "--help lacks {code:?}:\n{help}");
    }
}

#[test]
fn cli_real_opencode_health_new_sessions() {
    let (url, _dir) = opencode_fixture::shared();
    let (out, stdout, stderr) = run(&["--url", &url, "health"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("version {}", opencode_fixture::VERSION)),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("Backend: OpenCode server at {url} (from --url")),
        "{stderr}"
    );

    let (out, stdout, stderr) = run(&[
        "--url",
        &url,
        "--runtime",
        "mio",
        "new",
        "--title",
        "plue cli test",
    ]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let id = stdout.split_whitespace().next().expect("an id").to_string();
    assert!(id.starts_with("ses_"), "{stdout}");

    let out = plue()
        .env("OPENCODE_URL", &url)
        .args(["-v", "sessions"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("(from OPENCODE_URL"), "{stderr}");
    assert!(
        stderr.contains("Sessions listed ("),
        "-v prints latency: {stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{stdout}"));
    assert!(line.contains("plue cli test"), "{line}");

    let (out, _, stderr) = run(&[
        "--url",
        &url,
        "chat",
        "hi",
        "--session",
        "ses_does_not_exist",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown session is an API error: {stderr}"
    );
}

/// Tests that start or load a real OpenCode server take the CPU for seconds; on two cores a starved server reads
/// the mock's paced chunks all at once, so the streaming test never runs beside them.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One `plue chat` against `url`: stdout, and how long after the first two pieces reached stdout the whole reply
/// was there.
fn timed_chat(url: &str) -> (String, Duration) {
    let mut child = plue()
        .args(["--url", url, "chat", "Say hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plue");
    // Read stdout as it arrives, timestamping every read.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let chunks = MockModel::chunks();
    let two = format!("{}{}", chunks[0], chunks[1]);
    let (mut t_two, mut t_all) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Ok((at, bytes)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        text.push_str(&String::from_utf8_lossy(&bytes));
        if t_two.is_none() && text.contains(&two) {
            t_two = Some(at);
        }
        if t_all.is_none() && text.contains(MockModel::REPLY) {
            t_all = Some(at);
        }
    }
    let status = child.wait().unwrap();
    let _ = reader.join();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "stdout:\n{text}\nstderr:\n{stderr}");
    assert!(
        text.contains(&format!("Final reply: {}", MockModel::REPLY)),
        "{text}"
    );
    assert!(
        text.starts_with(MockModel::REPLY),
        "the streamed pieces come first, in order:\n{text}"
    );
    let (t_two, t_all) = (
        t_two.expect("two pieces seen"),
        t_all.expect("whole reply seen"),
    );
    (text, t_all.duration_since(t_two))
}

#[test]
fn cli_real_opencode_chat_streams_pieces_before_the_prompt_completes() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let (url, _dir) = opencode_fixture::shared();
    // The mock sends the last three pieces at least 3 × 120 ms after the second: if the first two reached
    // stdout well before the whole reply, they streamed while the model was still answering. A plue that
    // buffered its output fails every attempt; a server starved of CPU by another process can bunch the
    // deltas once, so up to three attempts are made.
    let mut leads = Vec::new();
    for _ in 0..3 {
        let (_, lead) = timed_chat(&url);
        leads.push(lead);
        if lead >= Duration::from_millis(200) {
            return;
        }
    }
    panic!(
        "the reply never streamed: the whole reply followed the first two pieces after {leads:?}"
    );
}

/// The processes `pid` started (children of any of its threads).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// Everything a child prints on stdout and stderr, as it arrives, on one channel.
fn merged_output(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    pipe_output(vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ])
}

/// What the pipes deliver, as it arrives, on one channel (a reader thread per pipe).
fn pipe_output(pipes: Vec<Box<dyn Read + Send>>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel::<String>();
    for mut pipe in pipes {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0
                    || tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                {
                    break;
                }
            }
        });
    }
    rx
}

/// Read `rx` into `out` until `done(out)` holds; panic with the output after `limit`.
fn read_until(
    rx: &mpsc::Receiver<String>,
    out: &mut String,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done(out) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(s) => out.push_str(&s),
            Err(_) => panic!("gave up waiting; output so far:\n{out}"),
        }
    }
}

#[test]
fn cli_serve_restarts_a_killed_opencode_and_stops_it_on_sigterm() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = opencode_fixture::Sandbox::new().expect("sandbox");
    let bin = opencode_fixture::ensure_installed().expect("opencode installed");
    let root = sandbox.work_dir().parent().unwrap().to_path_buf();
    let mut child = plue()
        .args(["serve", "--bin"])
        .arg(&bin)
        .current_dir(sandbox.work_dir())
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_DATA_HOME", root.join("data"))
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("XDG_STATE_HOME", root.join("state"))
        // The spawned server requires a password: a fixed one lets this test's other plue attach.
        .env("OPENCODE_SERVER_PASSWORD", "serve-test-pw")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plue serve");
    let rx = merged_output(&mut child);
    let mut out = String::new();
    read_until(&rx, &mut out, Duration::from_secs(90), |o| {
        o.split("OpenCode server ready at ")
            .nth(1)
            .is_some_and(|r| r.contains(' '))
    });
    let url = out
        .split("OpenCode server ready at ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Without the password the server refuses; with it, health is confirmed.
    let (o, _, stderr) = run(&["--url", &url, "sessions"]);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let o = plue()
        .args(["--url", &url, "health"])
        .env("OPENCODE_SERVER_PASSWORD", "serve-test-pw")
        .output()
        .expect("run plue");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(opencode_fixture::VERSION), "{stdout}");

    // kill -9 the server: the health monitor counts the failed reconnects and decides the restart itself.
    let first = children(child.id());
    assert_eq!(first.len(), 1, "one server process: {first:?}");
    // SAFETY: plain syscalls on processes this test started.
    unsafe { libc::kill(first[0] as i32, libc::SIGKILL) };
    read_until(&rx, &mut out, Duration::from_secs(90), |o| {
        o.matches("OpenCode server running at ").count() >= 2
    });
    assert_in_order(
        &out,
        &[
            "Connection lost. Reconnecting... (attempt 1/3)",
            "Connection lost. Reconnecting... (attempt 2/3)",
            "The server stopped answering: restarting it",
            "Restarting the OpenCode server...",
            "OpenCode server healthy (version",
        ],
    );
    let second = children(child.id());
    assert!(
        second.len() == 1 && second != first,
        "a new server process: {first:?} then {second:?}"
    );
    let url = out
        .rsplit("OpenCode server running at ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let o = plue()
        .args(["--url", &url, "health"])
        .env("OPENCODE_SERVER_PASSWORD", "serve-test-pw")
        .output()
        .expect("run plue");
    assert_eq!(
        o.status.code(),
        Some(0),
        "healthy again after the restart: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    while let Ok(s) = rx.recv_timeout(Duration::from_secs(2)) {
        out.push_str(&s);
    }
    assert_eq!(status.code(), Some(0), "{out}");
    assert_in_order(
        &out,
        &[
            "Stopping the OpenCode server (SIGTERM)",
            "OpenCode server stopped",
            "OpenCode server stopped.",
        ],
    );
    // The supervisor reaped the server: nothing listens there any more and no process is left.
    let addr = url.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the server at {url} still runs"
    );
    let gone = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !std::path::Path::new(&format!("/proc/{}", second[0])).exists()
    });
    assert!(gone, "server process {} left behind", second[0]);
}

#[test]
fn cli_real_opencode_events_show_a_session_created_by_another_plue() {
    let (url, _dir) = opencode_fixture::shared();
    let mut tail = plue()
        .args(["--url", &url, "--runtime", "smol", "events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plue events");
    let rx = pipe_output(vec![Box::new(tail.stdout.take().unwrap())]);
    // The stream is live once its first event (server.connected) is printed.
    let mut out = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a first event");
    assert!(out.starts_with("server.connected"), "{out}");
    let (o, created, stderr) = run(&["--url", &url, "new", "--title", "seen by events"]);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let id = created.split_whitespace().next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.contains(&format!("session.created {id} \"seen by events\"")) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(s) => out.push_str(&s),
            Err(_) => {
                let _ = tail.kill();
                panic!("no session.created for {id}:\n{out}");
            }
        }
    }
    // Other tests use the same server meanwhile: stop tailing once our event was seen.
    let _ = tail.kill();
    let _ = tail.wait();
}

#[test]
fn cli_spawn_starts_a_real_opencode_for_one_command_and_stops_it() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = opencode_fixture::Sandbox::new().expect("sandbox");
    let bin = opencode_fixture::ensure_installed().expect("opencode installed");
    let root = sandbox.work_dir().parent().unwrap().to_path_buf();
    let out = plue()
        .args(["--spawn", "health"])
        .env("OPENCODE_BIN", &bin)
        .current_dir(sandbox.work_dir())
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("XDG_DATA_HOME", root.join("data"))
        .env("XDG_CACHE_HOME", root.join("cache"))
        .env("XDG_STATE_HOME", root.join("state"))
        .output()
        .expect("run plue --spawn");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("version {}", opencode_fixture::VERSION)),
        "{stdout}"
    );
    assert_in_order(
        &stderr,
        &[
            "Backend: OpenCode server started by plue from",
            "OpenCode server running at http://127.0.0.1:",
            "OpenCode server stopped",
        ],
    );
    let url = stderr
        .split("OpenCode server running at ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err(),
        "{url} still listens"
    );
}

#[test]
fn cli_silent_server_is_a_timeout_exit_4() {
    // A server that accepts and never answers: the first /event event never comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let (out, _, stderr) = run(&["--url", &url, "health"]);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("no event arrived on /event within 5 s"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// The issue's scenario: the real server is killed (kill -9) mid-reply and restarted on the same port. The
/// server keeps the prompt but drops the reply without an error event; `plue chat` learns it from the resync
/// after its stream reconnects and exits 3 within seconds, instead of waiting its 10 minutes.
#[test]
fn cli_real_opencode_chat_ends_with_reply_lost_when_the_server_is_killed_mid_reply() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let sandbox = opencode_fixture::Sandbox::new().expect("sandbox");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (tx, lines) = mpsc::channel::<String>();
    let wait_listening = |lines: &mpsc::Receiver<String>| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("opencode prints its URL");
        if line.contains("listening on") {
            break;
        }
    };
    let mut server = sandbox.spawn(port, None, tx.clone()).expect("spawn");
    wait_listening(&lines);
    let url = format!("http://127.0.0.1:{port}");
    let mut chat = plue()
        .args([
            "--url",
            &url,
            "chat",
            &format!("Say hello {}", MockModel::SLOW_TRIGGER),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plue");
    let mut stdout = chat.stdout.take().unwrap();
    let (otx, orx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || otx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // The first streamed piece: the reply is under way. Kill the server and start it again on the port.
    let first = orx
        .recv_timeout(Duration::from_secs(60))
        .expect("a first piece");
    assert!(!first.is_empty());
    server.kill().unwrap();
    let killed = Instant::now();
    let _ = server.wait();
    let mut again = sandbox.spawn(port, None, tx).expect("respawn");
    wait_listening(&lines);
    let back = Instant::now();
    let status = loop {
        if let Some(s) = chat.try_wait().unwrap() {
            break s;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "plue chat still waiting"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (took, after_back) = (killed.elapsed(), back.elapsed());
    let mut stderr = String::new();
    chat.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!(
        "plue chat exited {:?} {took:?} after the kill, {after_back:?} after the server was back:\n{stderr}",
        status.code()
    );
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("the server restarted and the reply was lost; the prompt was kept"),
        "{stderr}"
    );
    assert!(stderr.contains("Events may have been missed"), "{stderr}");
    // Seconds after the server is back: the stream's next reconnect attempt (its backoff doubles from 1 s while
    // the server is down, so at most 16 s here) plus the resync's GET calls.
    assert!(after_back < Duration::from_secs(20), "{after_back:?}");
    let _ = again.kill();
    let _ = again.wait();
}

/// The issue's "done when": `plue --url https://127.0.0.1:PORT --cacert ca.pem health` against nginx TLS in front
/// of the real server (with a password) works on every runtime; without `--cacert` it fails with a certificate
/// error, a wrong `--pin` with a pin error (exit 3 both), and the right pin works.
#[test]
fn cli_real_opencode_over_nginx_tls_cacert_and_pins_on_every_runtime() {
    use plue_http_tests::nginx::{Backend, Nginx};
    use plue_http_tests::opencode_fixture::{OpenCodeServer, ServerOptions};
    use plue_http_tests::tls_server::{TestCa, Validity};

    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let password = "cli-tls-s3cret";
    let server = OpenCodeServer::start(ServerOptions {
        password: Some(password.into()),
        port: None,
    })
    .unwrap_or_else(|e| panic!("cannot start the real OpenCode server: {e}"));
    let ca = TestCa::new("plue cli test CA");
    let leaf = ca.leaf(&["127.0.0.1"], Validity::Current);
    let nginx = Nginx::start(
        &leaf,
        Backend::Proxy(server.url().to_string()),
        "TLSv1.2 TLSv1.3",
        "HIGH:!aNULL",
    );
    let dir = std::env::temp_dir().join(format!("plue-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let ca_path = ca_file.to_str().unwrap();
    let url = nginx.url();
    let plue_tls = |args: &[&str]| {
        let out = plue()
            .env("OPENCODE_SERVER_PASSWORD", password)
            .args(args)
            .output()
            .expect("run plue");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let right_pin = leaf.pin();
    let wrong_pin = format!("sha256//{}=", "A".repeat(43));
    for rt in ["tokio", "smol", "mio"] {
        let (code, stdout, stderr) = plue_tls(&[
            "--url",
            &url,
            "--cacert",
            ca_path,
            "--runtime",
            rt,
            "health",
        ]);
        assert_eq!(code, Some(0), "{rt}: {stderr}");
        assert!(
            stdout.contains(&format!("version {}", opencode_fixture::VERSION)),
            "{rt}: {stdout}"
        );

        let (code, _, stderr) = plue_tls(&["--url", &url, "--runtime", rt, "health"]);
        assert_eq!(code, Some(3), "{rt}: {stderr}");
        assert!(
            stderr.contains("TLS: the certificate of 127.0.0.1 is not trusted (unknown issuer)"),
            "{rt}: {stderr}"
        );
        assert_eq!(
            stderr
                .trim()
                .lines()
                .last()
                .map(|l| l.starts_with("Error: TLS:")),
            Some(true),
            "{rt}: {stderr}"
        );

        let (code, _, stderr) = plue_tls(&[
            "--url",
            &url,
            "--cacert",
            ca_path,
            "--pin",
            &wrong_pin,
            "--runtime",
            rt,
            "health",
        ]);
        assert_eq!(code, Some(3), "{rt}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "TLS: pin mismatch for 127.0.0.1: the server's key is {right_pin}"
            )),
            "{rt}: {stderr}"
        );

        // Alternatives, `;`-separated: one matches.
        let pins = format!("{wrong_pin};{right_pin}");
        let (code, stdout, stderr) = plue_tls(&[
            "--url",
            &url,
            "--cacert",
            ca_path,
            "--pin",
            &pins,
            "--runtime",
            rt,
            "health",
        ]);
        assert_eq!(code, Some(0), "{rt}: {stderr}");
        assert!(stdout.contains("healthy"), "{rt}: {stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cli_api_list_prints_every_operation_offline() {
    // No --url: were a server needed, the embedded one would start and say so on stderr.
    let (out, stdout, stderr) = run(&["api", "--list"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 188, "{stdout}");
    assert!(stdout.lines().any(|l| l == "session.list"));
    assert!(stdout.lines().any(|l| l == "v2.pty.connect"));
    assert!(
        !stderr.contains("Backend:"),
        "a server was started: {stderr}"
    );
    let (out, _, stderr) = run(&["api", "session.nope"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Unknown operation \"session.nope\""),
        "{stderr}"
    );
    let (out, _, stderr) = run(&["api", "session.get"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs the path parameter sessionID"),
        "{stderr}"
    );
    assert!(!stderr.contains("Backend:"), "{stderr}");
}

#[test]
fn cli_api_calls_the_real_server() {
    let (url, dir) = opencode_fixture::shared();
    let (out, stdout, stderr) = run(&[
        "--url",
        &url,
        "api",
        "session.create",
        "--body",
        r#"{"title":"via plue api"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let id = created["id"].as_str().expect("an id").to_string();
    assert!(
        !stderr.contains("Warning"),
        "same version, no warning: {stderr}"
    );

    let (out, stdout, stderr) = run(&["--url", &url, "api", "session.list"]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let list: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str()),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(&["--url", &url, "api", "file.list", "path=."]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let files: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "opencode.json"),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(&[
        "--url",
        &url,
        "--json",
        "--directory",
        dir.to_str().unwrap(),
        "api",
        "session.get",
        &format!("sessionID={id}"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("via plue api"), "{stdout}");

    let (out, _, stderr) = run(&["--url", &url, "api", "session.get", "sessionID=ses_nope"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("NotFoundError"), "{stderr}");
}
