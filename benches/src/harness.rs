//! The harness: every client, every scenario, interleaved rounds, medians, and the memory measures; the
//! results as JSON for `bench-report`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use plue_http_core::sse::{SseDecoder, SseItem};
use serde::Serialize;
use serde_json::{json, Value};

use crate::clients;
use crate::docroot;
use crate::measure::{median_of, per_unit, PerUnit};
use crate::server::Server;
use crate::subject::{EventSum, Scenario, Subject, Target};
use crate::{alloc, sys};

/// How much to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `cargo test --benches`: everything once, small, against the bundled server.
    pub quick: bool,
    /// Interleaved rounds (≥ 5 for real numbers).
    pub rounds: usize,
    /// Clients to measure (names from [`clients::NAMES`]).
    pub clients: Vec<String>,
    /// Units per run for each scenario (SSE: corpus reads).
    pub n: BTreeMap<&'static str, usize>,
    /// Events in the SSE corpus when this harness writes the docroot.
    pub sse_events: usize,
    /// RSS check: requests before the first and the second reading.
    pub rss_steps: (usize, usize),
    /// SSE RSS check: whole corpus reads before the first and the second reading.
    pub sse_rss_reads: (usize, usize),
    /// Connections opened for the idle-pool measure.
    pub idle_conns: usize,
}

impl Config {
    /// From the command line (`--bench` = full run) and `PLUE_BENCH_*` variables.
    pub fn from_env(args: &[String]) -> Config {
        let quick = !args.iter().any(|a| a == "--bench");
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
        let scale = var("PLUE_BENCH_SCALE").unwrap_or(1).max(1);
        let clients = std::env::var("PLUE_BENCH_CLIENTS")
            .map(|s| s.split(',').map(str::to_string).collect())
            .unwrap_or_else(|_| clients::NAMES.iter().map(|s| s.to_string()).collect());
        let n = |quick_n: usize, full_n: usize| if quick { quick_n } else { full_n * scale };
        let mut ns = BTreeMap::new();
        ns.insert(Scenario::Seq.name(), n(64, 10_000));
        ns.insert(Scenario::Batch16.name(), n(64, 16_000));
        ns.insert(Scenario::Conc16.name(), n(64, 8_000));
        ns.insert(Scenario::NewConn.name(), n(8, 500));
        ns.insert(Scenario::Sse.name(), 1);
        let rss_steps = if quick {
            (500, 1_000)
        } else if std::env::var("PLUE_BENCH_RSS_FULL").is_ok() {
            (100_000, 1_000_000)
        } else {
            (10_000, 100_000)
        };
        Config {
            quick,
            rounds: if quick {
                1
            } else {
                var("PLUE_BENCH_ROUNDS").unwrap_or(5).max(1)
            },
            clients,
            n: ns,
            sse_events: if quick {
                2_000
            } else {
                var("PLUE_BENCH_SSE_EVENTS").unwrap_or(crate::corpus::OPENCODE_EVENTS)
            },
            rss_steps,
            sse_rss_reads: if !quick && std::env::var("PLUE_BENCH_RSS_FULL").is_ok() {
                (1, 5)
            } else {
                (1, 2)
            },
            idle_conns: if quick { 4 } else { 8 },
        }
    }
}

/// Samples of one client in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// Client name.
    pub client: String,
    /// Units per run.
    pub units: u64,
    /// One sample per round.
    pub samples: Vec<PerUnit>,
    /// Field-wise medians.
    pub median: PerUnit,
}

/// The served files' facts: small body length and (when `with_sse`) the corpus's event sum, decoded once
/// from the file itself.
pub fn target_for(server: &Server, docroot: &Path, with_sse: bool) -> Result<Target, String> {
    let small =
        std::fs::read(docroot.join(&docroot::SMALL_PATH[1..])).map_err(|e| e.to_string())?;
    let sse = if with_sse {
        std::fs::read(docroot.join(&docroot::SSE_PATH[1..])).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let mut dec = SseDecoder::new(32 << 20);
    let mut sum = EventSum::default();
    dec.feed(&sse);
    dec.finish();
    while let Some(item) = dec.poll() {
        if let SseItem::Event(e) = item {
            sum.add(&e.event, &e.data, &e.id);
        }
    }
    Ok(Target {
        addr: server.addr,
        base: server.base_url(),
        small_len: small.len(),
        sse: sum,
    })
}

fn expected(scenario: Scenario, n: usize, target: &Target) -> (u64, u64) {
    match scenario {
        Scenario::Sse => (target.sse.count, target.sse.sum),
        Scenario::Batch16 | Scenario::Conc16 => {
            let units = (n / 16 * 16) as u64;
            (units, units * target.small_len as u64)
        }
        Scenario::Seq | Scenario::NewConn => (n as u64, n as u64 * target.small_len as u64),
    }
}

/// Run `scenario` once on `client` and check it did exactly the expected work.
fn measured(
    client: &mut dyn Subject,
    scenario: Scenario,
    n: usize,
    target: &Target,
) -> Result<PerUnit, String> {
    let (p, work) = per_unit(|| {
        let work = client.run(scenario, n)?;
        Ok((work.units, work))
    })
    .map_err(|e| format!("{} {}: {e}", client.name(), scenario.name()))?;
    let want = expected(scenario, n, target);
    if (work.units, work.check) != want {
        return Err(format!(
            "{} {}: did {} units with check {:#x}, expected {} with {:#x}",
            client.name(),
            scenario.name(),
            work.units,
            work.check,
            want.0,
            want.1
        ));
    }
    Ok(p)
}

/// All scenarios × clients, `cfg.rounds` interleaved rounds (the client order rotates every round).
pub fn run_rounds(
    cfg: &Config,
    target: &Target,
    subjects: &mut [Box<dyn Subject>],
) -> Result<Vec<Row>, String> {
    // Warm-up: connections open, runtimes started, lazy statics built, buffers grown.
    for s in subjects.iter_mut() {
        for scenario in Scenario::ALL {
            if s.supports(scenario) {
                let n = if scenario == Scenario::Sse {
                    1
                } else {
                    16.max(cfg.n[scenario.name()] / 10)
                };
                measured(s.as_mut(), scenario, n, target)?;
            }
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for round in 0..cfg.rounds {
        for scenario in Scenario::ALL {
            let n = cfg.n[scenario.name()];
            let k = subjects.len();
            for i in 0..k {
                let s = &mut subjects[(i + round) % k];
                if !s.supports(scenario) {
                    continue;
                }
                let p = measured(s.as_mut(), scenario, n, target)?;
                let name = s.name();
                match rows
                    .iter_mut()
                    .find(|r| r.scenario == scenario.name() && r.client == name)
                {
                    Some(r) => r.samples.push(p),
                    None => rows.push(Row {
                        scenario: scenario.name(),
                        client: name.to_string(),
                        units: expected(scenario, n, target).0,
                        samples: vec![p],
                        median: PerUnit::default(),
                    }),
                }
            }
        }
        eprintln!("round {}/{} done", round + 1, cfg.rounds);
    }
    for r in &mut rows {
        r.median = median_of(&r.samples);
    }
    Ok(rows)
}

/// Heap bytes held per idle pooled connection: a fresh client, `conns` concurrent requests, then live heap
/// bytes and open sockets compared with before (after one request, so the runtime itself is not counted).
pub fn idle_pool(name: &str, conns: usize, target: &Target) -> Result<Value, String> {
    let mut client = clients::make(name, target)?;
    client.burst(1)?;
    std::thread::sleep(Duration::from_millis(20));
    let (live0, socks0) = (alloc::snapshot().live, sys::open_sockets());
    client.burst(conns)?;
    std::thread::sleep(Duration::from_millis(50));
    let (live1, socks1) = (alloc::snapshot().live, sys::open_sockets());
    let added = socks1.saturating_sub(socks0);
    let per_conn = if added > 0 {
        (live1 as f64 - live0 as f64) / added as f64
    } else {
        f64::NAN
    };
    drop(client);
    Ok(json!({ "client": name, "extra_connections": added, "heap_bytes_per_idle_conn": per_conn }))
}

/// System calls per sequential GET of `name`: `strace -f -c` (every thread) around two `--profile` runs in
/// child processes, `n.0` and `n.1` requests long, so start-up and warm-up cancel out. `Ok(None)` when strace
/// is not installed.
pub fn syscalls_in_child(
    name: &str,
    docroot: &Path,
    target: &Target,
    n: (usize, usize),
) -> Result<Option<Value>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let counts = |n: usize| -> Result<Option<BTreeMap<String, f64>>, String> {
        let out =
            std::env::temp_dir().join(format!("plue-strace-{}-{name}-{n}", std::process::id()));
        let status = Command::new("strace")
            .args(["-f", "-c", "-o"])
            .arg(&out)
            .arg(&exe)
            .args(["--profile", name, "seq_get", &n.to_string()])
            .env("PLUE_BENCH_ADDR", target.addr.to_string())
            .env("PLUE_BENCH_DOCROOT", docroot)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("strace: {e}")),
            Ok(s) if !s.success() => return Err(format!("strace --profile {name}: {s}")),
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&out);
        // `% time  seconds  usecs/call  calls  [errors]  syscall`; the `total` line has the sum.
        let mut by = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 && f[0].parse::<f64>().is_ok() {
                if let (Ok(calls), Some(name)) = (f[3].parse::<f64>(), f.last()) {
                    by.insert(name.to_string(), calls);
                }
            }
        }
        Ok(Some(by))
    };
    let (Some(a), Some(b)) = (counts(n.0)?, counts(n.1)?) else {
        return Ok(None);
    };
    let span = n.1.saturating_sub(n.0).max(1) as f64;
    let per: BTreeMap<String, f64> = b
        .iter()
        .map(|(k, v)| (k.clone(), (v - a.get(k).copied().unwrap_or(0.0)) / span))
        .filter(|(_, v)| *v >= 0.05)
        .collect();
    Ok(Some(json!({
        "client": name,
        "per_get": per.get("total").copied().unwrap_or(f64::NAN),
        "by_syscall": per,
    })))
}

/// RSS flatness in a child process of its own (so no other client's memory is in it): `steps.0` units of
/// `scenario` (requests; for SSE, whole corpus reads), an RSS reading, up to `steps.1`, another reading.
pub fn rss_in_child(
    name: &str,
    scenario: Scenario,
    steps: (usize, usize),
    target: &Target,
) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args([
            "--rss-child",
            name,
            scenario.name(),
            &target.addr.to_string(),
        ])
        .args(
            [
                target.small_len,
                target.sse.count as usize,
                steps.0,
                steps.1,
            ]
            .map(|n| n.to_string()),
        )
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    serde_json::from_str(line).map_err(|_| {
        format!(
            "rss child {name} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The child side of [`rss_in_child`]: `args` = name, scenario, addr, small_len, sse_count, n1, n2. Prints one
/// JSON line with the RSS after `n1` and after `n2` units (requests, or SSE events for SSE).
pub fn rss_child(args: &[String]) -> Result<(), String> {
    let [name, scenario, addr, small_len, sse_count, n1, n2] = args else {
        return Err("usage: --rss-child NAME seq_get|sse ADDR SMALL_LEN SSE_COUNT N1 N2".into());
    };
    let parse = |s: &str| s.parse::<usize>().map_err(|e| e.to_string());
    let addr = addr
        .parse()
        .map_err(|e: std::net::AddrParseError| e.to_string())?;
    let scenario = if scenario == "sse" {
        Scenario::Sse
    } else {
        Scenario::Seq
    };
    let target = Target {
        addr,
        base: format!("http://{addr}"),
        small_len: parse(small_len)?,
        sse: EventSum {
            count: parse(sse_count)? as u64,
            sum: 0,
        },
    };
    let (n1, n2) = (parse(n1)?, parse(n2)?);
    let mut client = clients::make(name, &target)?;
    let (mut done, mut units) = (0, 0u64);
    let mut step = |to: usize, client: &mut Box<dyn Subject>| -> Result<(u64, u64, u64), String> {
        while done < to {
            let chunk = if scenario == Scenario::Sse {
                1
            } else {
                (to - done).min(10_000)
            };
            units += client.run(scenario, chunk)?.units;
            done += chunk;
        }
        Ok((units, sys::current_rss(), sys::peak_rss()))
    };
    let (u1, rss1, peak1) = step(n1, &mut client)?;
    let (u2, rss2, peak2) = step(n2, &mut client)?;
    println!(
        "{}",
        json!({ "client": name, "scenario": scenario.name(), "n1": u1, "n2": u2, "rss1": rss1, "rss2": rss2,
                "peak1": peak1, "peak2": peak2 })
    );
    Ok(())
}

/// Where results go: `$PLUE_BENCH_OUT`, else `target/plue-bench/` (quick runs get a `-test` file name).
pub fn results_path(quick: bool) -> PathBuf {
    if let Ok(p) = std::env::var("PLUE_BENCH_OUT") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plue-bench");
    dir.join(if quick {
        "results-test.json"
    } else {
        "results.json"
    })
}

/// Print a plain table of medians to stderr.
pub fn print_rows(rows: &[Row]) {
    eprintln!(
        "{:<10} {:<12} {:>12} {:>12} {:>10} {:>12} {:>8} {:>8}",
        "scenario", "client", "cpu ns/u", "wall ns/u", "allocs/u", "bytes/u", "vcsw/u", "ivcsw/u"
    );
    for r in rows {
        let m = r.median;
        eprintln!(
            "{:<10} {:<12} {:>12.0} {:>12.0} {:>10.2} {:>12.1} {:>8.2} {:>8.2}",
            r.scenario,
            r.client,
            m.cpu_ns,
            m.wall_ns,
            m.allocs,
            m.alloc_bytes,
            m.vol_switches,
            m.invol_switches
        );
    }
}

/// The whole run: server, clients, rounds, memory measures, JSON.
pub fn main_with(args: &[String], server_bin: &Path) -> Result<(), String> {
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        return rss_child(&args[i + 1..]);
    }
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        return profile(&args[i + 1..]);
    }
    let cfg = Config::from_env(args);
    let load_start = loadavg();
    assert!(
        alloc::installed(),
        "the counting allocator must be the global allocator"
    );
    // The docroot: the one the script wrote for nginx, or a fresh one for the bundled server.
    let external = if cfg.quick { None } else { Server::from_env() };
    let docroot = match (&external, std::env::var("PLUE_BENCH_DOCROOT")) {
        (Some(_), Ok(dir)) => PathBuf::from(dir),
        (Some(_), Err(_)) => {
            return Err("PLUE_BENCH_ADDR needs PLUE_BENCH_DOCROOT (the files nginx serves)".into())
        }
        (None, _) => {
            let dir = std::env::temp_dir().join(format!("plue-bench-{}", std::process::id()));
            docroot::write(&dir, cfg.sse_events).map_err(|e| e.to_string())?;
            dir
        }
    };
    let server = match external {
        Some(s) => s,
        None => Server::spawn(server_bin, &docroot).map_err(|e| format!("bench-server: {e}"))?,
    };
    let target = target_for(&server, &docroot, true)?;
    eprintln!(
        "server {} at {} ({} SSE events); {} rounds{}",
        server.kind,
        server.addr,
        target.sse.count,
        cfg.rounds,
        if cfg.quick {
            " (quick: cargo test --benches)"
        } else {
            ""
        }
    );
    let mut subjects = cfg
        .clients
        .iter()
        .map(|name| clients::make(name, &target))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = run_rounds(&cfg, &target, &mut subjects)?;
    drop(subjects);
    print_rows(&rows);

    let mut idle = Vec::new();
    let mut rss = Vec::new();
    for name in cfg.clients.iter().filter(|n| *n != "raw") {
        idle.push(idle_pool(name, cfg.idle_conns, &target)?);
        rss.push(rss_in_child(name, Scenario::Seq, cfg.rss_steps, &target)?);
    }
    for name in cfg
        .clients
        .iter()
        .filter(|n| n.starts_with("plue") || *n == "reqwest")
    {
        rss.push(rss_in_child(
            name,
            Scenario::Sse,
            cfg.sse_rss_reads,
            &target,
        )?);
    }
    let mut syscalls = Vec::new();
    let span = if cfg.quick {
        (100, 300)
    } else {
        (1_000, 3_000)
    };
    for name in &cfg.clients {
        match syscalls_in_child(name, &docroot, &target, span)? {
            Some(v) => syscalls.push(v),
            None => {
                eprintln!("strace not installed: no system call counts");
                break;
            }
        }
    }
    eprintln!("syscalls: {}", Value::Array(syscalls.clone()));
    eprintln!("idle pool: {}", Value::Array(idle.clone()));
    eprintln!("rss: {}", Value::Array(rss.clone()));

    let (nproc, cpu) = sys::machine();
    let doc = json!({
        "date": chrono_free_now(),
        "machine": { "nproc": nproc, "cpu": cpu },
        "server": server.kind,
        "loadavg": { "start": load_start, "end": loadavg() },
        "quick": cfg.quick,
        "rounds": cfg.rounds,
        "n": cfg.n,
        "sse_events": target.sse.count,
        "sse_checksum": format!("{:#018x}", target.sse.sum),
        "rows": rows,
        "idle_pool": idle,
        "rss": rss,
        "syscalls": syscalls,
        "syscall_span": [span.0, span.1],
    });
    let path = results_path(cfg.quick);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    eprintln!("results: {}", path.display());
    if server.kind.starts_with("bench-server") {
        let _ = std::fs::remove_dir_all(&docroot);
    }
    Ok(())
}

/// `--profile CLIENT SCENARIO[,SCENARIO…] N` against `$PLUE_BENCH_ADDR` (docroot `$PLUE_BENCH_DOCROOT`): only
/// that work, each scenario after one warm-up run, in order on one client (to find interactions), for
/// `valgrind --tool=callgrind` (instruction counts are repeatable here; time is not).
fn profile(args: &[String]) -> Result<(), String> {
    let [name, scenarios, n] = args else {
        return Err("usage: --profile CLIENT SCENARIO[,SCENARIO...] N".into());
    };
    let scenarios = scenarios
        .split(',')
        .map(|name| {
            Scenario::ALL
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| format!("no scenario {name}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n: usize = n
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let server = Server::from_env().ok_or("--profile needs PLUE_BENCH_ADDR")?;
    let docroot =
        std::env::var("PLUE_BENCH_DOCROOT").map_err(|_| "--profile needs PLUE_BENCH_DOCROOT")?;
    let target = target_for(
        &server,
        Path::new(&docroot),
        scenarios.contains(&Scenario::Sse),
    )?;
    let mut client = clients::make(name, &target)?;
    // `PLUE_BENCH_PAUSE_MS`: idle time before each scenario (timers that fire only after a while).
    let pause = std::env::var("PLUE_BENCH_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for scenario in scenarios {
        std::thread::sleep(Duration::from_millis(pause));
        let n = if scenario == Scenario::Sse { 1 } else { n };
        measured(client.as_mut(), scenario, n.min(16), &target)?;
        let p = measured(client.as_mut(), scenario, n, &target)?;
        eprintln!("{name} {}: {p:?}", scenario.name());
    }
    Ok(())
}

/// `/proc/loadavg`'s first three fields: other work on the machine during the run.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// UTC date and time now, `YYYY-MM-DD HH:MM UTC`, without a date crate (`date -u` does the formatting).
fn chrono_free_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}
