//! The process seam the OpenCode server manager uses: spawn with piped output, read it, kill, reap.

use std::process::{Command, Stdio};

use plue_http::driver::{ChildProcess, ConnRead, Runtime};

async fn read_all<P: ConnRead>(mut pipe: P) -> String {
    let (mut out, mut buf) = (Vec::new(), [0u8; 256]);
    loop {
        match pipe.read(&mut buf).await.unwrap() {
            0 => return String::from_utf8(out).unwrap(),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn spawn_read_kill<R: Runtime + Default>() {
    let rt = R::default();
    let mut cmd = Command::new("sh");
    // Stdio set here is replaced: the runtime always pipes stdout and stderr.
    cmd.args(["-c", "echo hello; echo oops >&2"])
        .stdout(Stdio::inherit());
    let mut child = rt.spawn_process(cmd).unwrap();
    assert!(child.id().is_some());
    let out = read_all(child.take_stdout().unwrap()).await;
    let err = read_all(child.take_stderr().unwrap()).await;
    assert_eq!((out.as_str(), err.as_str()), ("hello\n", "oops\n"));
    assert!(child.wait().await.unwrap().success());

    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let mut child = rt.spawn_process(cmd).unwrap();
    child.kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "a killed process does not exit cleanly");
}

#[test]
fn runtime_tokio_process_spawn_read_kill() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(spawn_read_kill::<plue_http::tokio::TokioRuntime>());
}

#[test]
fn runtime_smol_process_spawn_read_kill() {
    smol::block_on(spawn_read_kill::<plue_http::smol::SmolRuntime>());
}

/// SIGTERM through the seam: the process ends by that signal, is reaped, and terminating it again is a no-op
/// (never a signal to a reused pid).
async fn terminate_reaps<H: plue_http::opencode::Host>(host: H) {
    use std::os::unix::process::ExitStatusExt;
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let mut child = host.spawn_process(cmd).unwrap();
    let pid = child.id().unwrap();
    child.terminate().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(15), "{status:?}");
    child.terminate().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn runtime_process_terminate_on_tokio_smol_and_mio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(terminate_reaps(plue_http::tokio::TokioRuntime::default()));
    smol::block_on(terminate_reaps(plue_http::smol::SmolRuntime::default()));
    futures_lite::future::block_on(terminate_reaps(plue_http::mio::opencode::ThreadHost));
}
