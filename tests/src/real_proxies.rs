//! Real proxies for the proxy tests: Debian's **tinyproxy** (HTTP forwarding and `CONNECT`) and **microsocks**
//! (SOCKS5, RFC 1929 username/password with `-u/-P`), each started on a free loopback port with its own
//! config in its own temporary directory, stopped (SIGKILL, reaped) and cleaned up on drop.
//!
//! A missing binary is installed with the project's `scripts/install-deps.sh`; if that fails the helper returns
//! an error (a test failure, never a skip). Notes for test authors:
//! - The tinyproxy config has no `ConnectPort` line, so `CONNECT` is allowed to every port (Debian's default
//!   config allows only 443 and 563).
//! - tinyproxy speaks HTTP/1.0 upstream and closes the connection after each response: never assert pooling
//!   through it.
//! - The proxy process dies with the thread that started it (`PR_SET_PDEATHSIG`), so a test that crashes
//!   leaves nothing behind; start it from the test thread that uses it.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::opencode_fixture::workspace_root;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Make sure `binary` is on the PATH, installing the Debian package `name` with the project's script if not.
pub fn ensure_installed(binary: &str, name: &str) -> Result<(), String> {
    let present = |b: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {b}"))
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if present(binary) {
        return Ok(());
    }
    let script = workspace_root().join("scripts").join("install-deps.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(name)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() || !present(binary) {
        return Err(format!(
            "{binary} is missing and `scripts/install-deps.sh {name}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A fresh temporary directory for one proxy.
fn temp_dir(kind: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "plue-{kind}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A port the OS says is free right now (bound, then released for the proxy to take).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Spawn `cmd` so that it dies with the spawning thread.
fn spawn(mut cmd: Command) -> Result<Child, String> {
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().map_err(|e| format!("spawning {cmd:?}: {e}"))
}

/// Wait until `port` accepts connections, or the child exits (port taken, bad config), for up to 10 s.
fn wait_listening(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("exited with {status} before listening: {err}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not listening on {addr} after 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Start a proxy on a free port, retrying when another process took the port in between.
fn start_on_free_port(
    mut command: impl FnMut(u16) -> Result<Command, String>,
) -> Result<(Child, u16), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let mut child = spawn(command(port)?)?;
        match wait_listening(&mut child, port) {
            Ok(()) => return Ok((child, port)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last = e;
            }
        }
    }
    Err(last)
}

fn stop(child: &mut Child, dir: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// A running tinyproxy.
pub struct Tinyproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Tinyproxy {
    /// Start one without authentication.
    pub fn start() -> Result<Tinyproxy, String> {
        Tinyproxy::start_with(None)
    }

    /// Start one; with `auth`, it answers 407 unless Basic credentials `user:password` are sent.
    pub fn start_with(auth: Option<(&str, &str)>) -> Result<Tinyproxy, String> {
        ensure_installed("tinyproxy", "tinyproxy")?;
        let dir = temp_dir("tinyproxy")?;
        let log = dir.join("tinyproxy.log");
        let conf = dir.join("tinyproxy.conf");
        let (child, port) = start_on_free_port(|port| {
            // No ConnectPort line: CONNECT is allowed to every port. Info level logs each request line.
            let mut text = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 50\n\
                 Allow 127.0.0.1\n",
                log.display()
            );
            if let Some((user, password)) = auth {
                text.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            std::fs::write(&conf, text).map_err(|e| e.to_string())?;
            let mut cmd = Command::new("tinyproxy");
            cmd.arg("-d").arg("-c").arg(&conf);
            Ok(cmd)
        })
        .map_err(|e| format!("tinyproxy: {e}"))?;
        Ok(Tinyproxy { child, port, dir })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (add `user:password@` yourself when it wants credentials).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its log so far (one `Request (file descriptor N): GET http://… HTTP/1.1` line per request it handled).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// Wait up to 5 s for the log to contain `needle` (tinyproxy writes its log lines asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if Instant::now() > deadline {
                return Err(format!("tinyproxy's log never showed {needle:?}:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir);
    }
}

/// A running microsocks.
pub struct Microsocks {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Microsocks {
    /// Start one; with `auth`, it requires RFC 1929 username/password.
    pub fn start(auth: Option<(&str, &str)>) -> Result<Microsocks, String> {
        ensure_installed("microsocks", "microsocks")?;
        let dir = temp_dir("microsocks")?;
        let (child, port) = start_on_free_port(|port| {
            let mut cmd = Command::new("microsocks");
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = auth {
                cmd.args(["-u", user, "-P", password]);
            }
            cmd.current_dir(&dir);
            Ok(cmd)
        })
        .map_err(|e| format!("microsocks: {e}"))?;
        Ok(Microsocks { child, port, dir })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `SCHEME://[user:password@]127.0.0.1:PORT` for `socks5` or `socks5h`.
    pub fn url(&self, scheme: &str, auth: Option<(&str, &str)>) -> String {
        match auth {
            Some((u, p)) => format!("{scheme}://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir);
    }
}
