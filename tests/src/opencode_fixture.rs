//! The real OpenCode server for integration tests: pinned, installed on demand, isolated, offline.
//!
//! - [`ensure_installed`] puts `opencode-linux-x64@1.18.34` into `<workspace>/target/opencode` when it is
//!   missing: under a lock directory (`mkdir` is atomic), installed into a temporary folder and renamed, so
//!   parallel test binaries cannot race. No npm is a clear error, never a silent skip.
//! - [`OpenCodeServer::start`] runs `opencode serve --port 0 --hostname 127.0.0.1 --pure` in its own temporary
//!   working directory with its own XDG config/data/cache/state directories, autoupdate and sharing off, and
//!   `model`/`small_model` pointing at a [`MockModel`] on loopback. Dropping it stops the process group
//!   (SIGTERM, SIGKILL after 5 s), reaps it and removes the directories.
//! - [`shared`] gives one server per test binary; it is stopped at process exit (`atexit`), and the kernel kills
//!   it if the test process dies first (`PR_SET_PDEATHSIG`, set from a thread that lives as long as the
//!   process, since the signal follows the spawning *thread*).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::mock_model::MockModel;

/// The pinned npm package.
pub const PACKAGE: &str = "opencode-linux-x64";
/// The pinned version.
pub const VERSION: &str = "1.18.34";

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where the fixture keeps the server: `<workspace>/target/opencode`.
pub fn install_dir() -> PathBuf {
    workspace_root().join("target").join("opencode")
}

/// The binary inside an install directory.
pub fn binary_in(dir: &Path) -> PathBuf {
    dir.join("node_modules")
        .join(PACKAGE)
        .join("bin")
        .join("opencode")
}

/// Make sure the pinned server is installed; return its binary. Errors name what is missing.
pub fn ensure_installed() -> Result<PathBuf, String> {
    let dir = install_dir();
    let bin = binary_in(&dir);
    if bin.is_file() {
        return Ok(bin);
    }
    let lock = dir.with_extension("lock");
    std::fs::create_dir_all(dir.parent().expect("target")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    // `mkdir` either creates the lock or fails because another process holds it.
    while let Err(e) = std::fs::create_dir(&lock) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(format!(
                "cannot create the install lock {}: {e}",
                lock.display()
            ));
        }
        if bin.is_file() {
            return Ok(bin);
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!(
                "waited 5 min for another test binary to install {PACKAGE}; remove {} if it is stale",
                lock.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let result = install_locked(&dir, &bin);
    let _ = std::fs::remove_dir(&lock);
    result
}

fn install_locked(dir: &Path, bin: &Path) -> Result<PathBuf, String> {
    if bin.is_file() {
        return Ok(bin.to_path_buf());
    }
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&tmp)
        .arg(format!("{PACKAGE}@{VERSION}"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| {
            format!(
                "npm is needed to install the real OpenCode server ({PACKAGE}@{VERSION}) for these tests, \
                 but it could not be run: {e}. Install Node.js/npm or run .ci/install-opencode.sh"
            )
        })?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("npm install {PACKAGE}@{VERSION} failed ({status})"));
    }
    if !binary_in(&tmp).is_file() {
        return Err(format!(
            "npm installed {PACKAGE} but {} is missing",
            binary_in(&tmp).display()
        ));
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(|e| format!("cannot move the install into place: {e}"))?;
    Ok(bin.to_path_buf())
}

/// Options of a fixture server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Start the server with `OPENCODE_SERVER_PASSWORD` set (user `opencode`).
    pub password: Option<String>,
    /// Ask for this port instead of any (`--port 0`).
    pub port: Option<u16>,
}

/// An isolated place to run OpenCode: temporary working directory, XDG directories, `opencode.json` pointing
/// `model`/`small_model` at its own [`MockModel`]. Removed on drop. Several processes may run in it one after
/// another (a restart keeps the sessions).
pub struct Sandbox {
    bin: PathBuf,
    root: PathBuf,
    work: PathBuf,
    mock: MockModel,
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Sandbox {
    /// Install the server if needed, start the mock model, write the directories and config.
    pub fn new() -> Result<Sandbox, String> {
        let bin = ensure_installed()?;
        let mock = MockModel::start().map_err(|e| format!("mock model: {e}"))?;
        let root = std::env::temp_dir().join(format!(
            "plue-opencode-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        let work = root.join("work");
        for d in ["work", "config", "data", "cache", "state"] {
            std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
        }
        let config = serde_json::json!({
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": false,
            "share": "disabled",
            "provider": {"mock": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Plue mock",
                "options": {"baseURL": mock.base_url(), "apiKey": "x"},
                "models": {"echo": {"name": "Echo"}}
            }},
            "model": "mock/echo",
            "small_model": "mock/echo"
        });
        std::fs::write(work.join("opencode.json"), config.to_string())
            .map_err(|e| e.to_string())?;
        Ok(Sandbox {
            bin,
            root,
            work,
            mock,
        })
    }

    /// The working directory (the server's project directory).
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The mock model.
    pub fn mock(&self) -> &MockModel {
        &self.mock
    }

    /// `opencode serve --hostname 127.0.0.1 --pure --port {port}` in this sandbox, in its own process group,
    /// with piped output, killed by the kernel if the test process dies.
    pub fn command(&self, port: u16, password: Option<&str>) -> Command {
        let mut cmd = self.serve_command(port);
        cmd.process_group(0);
        if let Some(pw) = password {
            cmd.env("OPENCODE_SERVER_PASSWORD", pw);
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd
    }

    /// `opencode serve --hostname 127.0.0.1 --pure --port {port}` in this sandbox, nothing else: what a server
    /// manager spawns (it owns stdio, signals and reaping).
    pub fn serve_command(&self, port: u16) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--hostname", "127.0.0.1", "--pure", "--port"])
            .arg(port.to_string())
            .current_dir(&self.work)
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .env("XDG_STATE_HOME", self.root.join("state"))
            .env("OPENCODE_DISABLE_AUTOUPDATE", "1")
            .env_remove("OPENCODE_SERVER_USERNAME")
            .env_remove("OPENCODE_SERVER_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Spawn [`Sandbox::command`]; every output line goes to `lines` (both pipes drained for the process's life).
    pub fn spawn(
        &self,
        port: u16,
        password: Option<&str>,
        lines: mpsc::Sender<String>,
    ) -> Result<Child, String> {
        let mut child = spawn_from_keeper(self.command(port, password))
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        for pipe in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let tx = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Ok(child)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Stop a process group (SIGTERM, then SIGKILL after `grace`) and reap its leader.
pub fn stop_group(mut child: Child, grace: Duration) {
    let pgid = child.id() as i32;
    // SAFETY: plain syscalls on a process group this fixture created.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                break;
            }
        }
    }
    // Anything left in the group (helpers the server started) goes too.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// A running, isolated OpenCode server with its mock model.
pub struct OpenCodeServer {
    url: String,
    child: Option<Child>,
    sandbox: Sandbox,
    output: std::sync::Arc<Mutex<Vec<String>>>,
}

/// Spawns commands from one thread that lives as long as the process, so `PR_SET_PDEATHSIG` fires only when the
/// test process itself dies.
fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let tx = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("opencode-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // All senders gone (never, the sender is static): park to keep the thread alive anyway.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the keeper thread");
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((cmd, rtx))
        .map_err(|_| std::io::Error::other("keeper thread gone"))?;
    rrx.recv()
        .map_err(|_| std::io::Error::other("keeper thread gone"))?
}

impl OpenCodeServer {
    /// Install if needed, then start a server and wait for its `listening on` line (at most 120 s: ~1 s on an idle machine, far longer when the machine is
    /// saturated by parallel builds; the bound only decides when to give up).
    pub fn start(opts: ServerOptions) -> Result<OpenCodeServer, String> {
        let sandbox = Sandbox::new()?;
        let (tx, rx) = mpsc::channel::<String>();
        let child = sandbox.spawn(opts.port.unwrap_or(0), opts.password.as_deref(), tx)?;
        let output = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = mpsc::channel::<String>();
        let out = output.clone();
        std::thread::spawn(move || {
            for line in rx {
                if let Some(url) = plue_opencode::supervisor::parse_listening_line(&line) {
                    let _ = url_tx.send(url);
                }
                out.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let mut server = OpenCodeServer {
            url: String::new(),
            child: Some(child),
            sandbox,
            output,
        };
        match url_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => server.url = url,
            Err(_) => {
                return Err(format!(
                    "opencode did not print its URL within 120 s; output: {:?}",
                    server.output()
                ))
            }
        }
        Ok(server)
    }

    /// The server URL, e.g. `http://127.0.0.1:4096`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's working directory (its project directory).
    pub fn work_dir(&self) -> &Path {
        self.sandbox.work_dir()
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The mock model behind `mock/echo`.
    pub fn mock(&self) -> &MockModel {
        self.sandbox.mock()
    }

    /// Everything the server printed so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stop the process group (SIGTERM, then SIGKILL after 5 s) and reap it. The sandbox goes on drop.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_group(child, Duration::from_secs(5));
        }
    }
}

impl Drop for OpenCodeServer {
    fn drop(&mut self) {
        self.stop();
    }
}

static SHARED: OnceLock<Mutex<Option<OpenCodeServer>>> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    if let Some(m) = SHARED.get() {
        if let Some(mut s) = m.lock().unwrap_or_else(|e| e.into_inner()).take() {
            s.stop();
        }
    }
}

/// The one server of this test binary, started on first use and stopped at process exit.
/// Returns its URL and working directory. Panics with a clear message when the server cannot start (in CI and
/// out of it: a missing dependency fails the test, it never skips).
pub fn shared() -> (String, PathBuf) {
    let m = SHARED.get_or_init(|| {
        let server = OpenCodeServer::start(ServerOptions::default())
            .unwrap_or_else(|e| panic!("cannot start the real OpenCode server: {e}"));
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(stop_shared_at_exit) };
        Mutex::new(Some(server))
    });
    let g = m.lock().unwrap_or_else(|e| e.into_inner());
    let s = g.as_ref().expect("the shared server runs until exit");
    (s.url().to_string(), s.work_dir().to_path_buf())
}
