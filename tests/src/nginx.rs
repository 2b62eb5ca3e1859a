//! nginx (Debian's, installed by `scripts/install-deps.sh nginx`) started by a test on a free loopback port, with
//! TLS and a certificate the test made, in front of an upstream (the real OpenCode server) or serving a fixed
//! answer. Each instance gets its own temp directory and is stopped on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tls_server::Leaf;

/// What nginx does with requests.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Proxy to this `http://host:port` (streaming: no buffering, long read timeout for event streams).
    Proxy(String),
    /// Answer every request `200 ok`.
    Fixed,
}

/// A running nginx.
pub struct Nginx {
    /// Its TLS port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// nginx processes still running, with their directories: killed at process exit, so one held in a `static`
/// (a fixture shared by a test binary) never outlives the tests.
static LIVE: std::sync::Mutex<Vec<(u32, PathBuf)>> = std::sync::Mutex::new(Vec::new());

extern "C" fn stop_live_at_exit() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for (pid, dir) in live {
        // SAFETY: kill(2) on a child we started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn track(pid: u32, dir: &std::path::Path) {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    // SAFETY: registering a plain extern "C" function.
    REGISTER.call_once(|| unsafe {
        libc::atexit(stop_live_at_exit);
    });
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, dir.to_path_buf()));
}

fn untrack(pid: u32) {
    LIVE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(p, _)| *p != pid);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Nginx {
    /// Start nginx with `leaf`'s certificate. `protocols` is nginx's `ssl_protocols` (e.g. `"TLSv1.2 TLSv1.3"`),
    /// `ciphers` its `ssl_ciphers`. Panics when nginx is missing or does not start (never a skip).
    pub fn start(leaf: &Leaf, backend: Backend, protocols: &str, ciphers: &str) -> Nginx {
        let dir = std::env::temp_dir().join(format!(
            "plue-nginx-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).expect("nginx dir");
        let mut chain = leaf.cert_pem.clone();
        chain.push_str(&pem_of(&leaf.chain[1..]));
        std::fs::write(dir.join("cert.pem"), chain).expect("cert");
        std::fs::write(dir.join("key.pem"), &leaf.key_pem).expect("key");
        let location = match &backend {
            Backend::Proxy(up) => format!(
                "proxy_pass {up};\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n            proxy_set_header Host $http_host;\n            proxy_buffering off;\n            proxy_read_timeout 1h;"
            ),
            Backend::Fixed => "return 200 \"ok\";".to_string(),
        };
        for _attempt in 0..5 {
            let port = free_port();
            let conf = format!(
                r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols {protocols};
        ssl_ciphers {ciphers};
        keepalive_timeout 60s;
        location / {{
            {location}
        }}
    }}
}}
"#,
                dir = dir.display()
            );
            std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
            let child = Command::new("nginx")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("logs/error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start nginx (run scripts/install-deps.sh nginx): {e}")
                });
            track(child.id(), &dir);
            let mut n = Nginx {
                port,
                dir: dir.clone(),
                child: Some(child),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return n;
                }
                if let Some(c) = n.child.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // The port was taken in between, or nginx failed: try another port, then give up.
            n.stop();
        }
        let log = std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            untrack(c.id());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PEM text of DER certificates.
pub fn pem_of(certs: &[rustls_pki_types::CertificateDer<'static>]) -> String {
    let mut out = String::new();
    for c in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = plue_http_core::request::base64_encode(c.as_ref());
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
