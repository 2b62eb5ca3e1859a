//! Repository tasks.
//!
//! `cargo run -p xtask -- gen` writes `opencode/src/generated/` from the pinned OpenAPI document
//! (`opencode/src/openapi-1.18.34.json`); `gen --check` fails when the checked-in files differ from what it would
//! write (CI runs it). See `gen.rs` for the mapping from schemas to Rust.

mod gen;
mod names;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen"] => run(&root, false),
        ["gen", "--check"] => run(&root, true),
        _ => {
            eprintln!("usage: cargo run -p xtask -- gen [--check]");
            ExitCode::from(2)
        }
    }
}

fn run(root: &Path, check: bool) -> ExitCode {
    let doc_path = root.join("opencode/src/openapi-1.18.34.json");
    let out_dir = root.join("opencode/src/generated");
    let text = match std::fs::read_to_string(&doc_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xtask: cannot read {}: {e}", doc_path.display());
            return ExitCode::FAILURE;
        }
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xtask: {} is not JSON: {e}", doc_path.display());
            return ExitCode::FAILURE;
        }
    };
    let files = match gen::generate(&doc, "1.18.34") {
        Ok(f) => f,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut formatted = Vec::new();
    for (name, code) in files {
        match rustfmt(&code) {
            Ok(c) => formatted.push((out_dir.join(name), c)),
            Err(e) => {
                eprintln!("xtask: rustfmt failed on {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let expected: std::collections::BTreeSet<PathBuf> =
        formatted.iter().map(|(p, _)| p.clone()).collect();
    let existing = list_rs(&out_dir);
    if check {
        let mut stale = Vec::new();
        for (path, code) in &formatted {
            if std::fs::read_to_string(path).ok().as_deref() != Some(code.as_str()) {
                stale.push(path.clone());
            }
        }
        stale.extend(existing.iter().filter(|p| !expected.contains(*p)).cloned());
        if stale.is_empty() {
            println!(
                "xtask: opencode/src/generated is up to date ({} files)",
                formatted.len()
            );
            return ExitCode::SUCCESS;
        }
        for p in stale {
            eprintln!("xtask: stale: {}", p.display());
        }
        eprintln!("xtask: run `cargo run -p xtask -- gen` and commit the result");
        return ExitCode::FAILURE;
    }
    for p in existing.iter().filter(|p| !expected.contains(*p)) {
        let _ = std::fs::remove_file(p);
    }
    for (path, code) in &formatted {
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("xtask: {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        if std::fs::read_to_string(path).ok().as_deref() != Some(code.as_str()) {
            if let Err(e) = std::fs::write(path, code) {
                eprintln!("xtask: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "xtask: wrote {} files to opencode/src/generated",
        formatted.len()
    );
    ExitCode::SUCCESS
}

fn list_rs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(list_rs(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// Formats with the toolchain's rustfmt (the same one `cargo fmt --check` uses), so checked-in files pass it.
fn rustfmt(code: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = code.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer panicked".to_string())?
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}
