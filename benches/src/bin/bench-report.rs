//! Turns the harness's JSON and criterion's estimates into the results page (`benches/README.md`).
//!
//! ```text
//! bench-report RESULTS.json CRITERION_DIR OUT.md
//! ```
//!
//! Every number in the page comes from those files; the page says which run (date, machine, server) made them.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

const PLUE: [&str; 3] = ["plue-tokio", "plue-smol", "plue-mio"];
const PEERS: [&str; 3] = ["hyper", "reqwest", "ureq"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [results, criterion, out] = args.as_slice() else {
        eprintln!("usage: bench-report RESULTS.json CRITERION_DIR OUT.md");
        std::process::exit(2);
    };
    let doc: Value = match std::fs::read(results).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(v)) => v,
        _ => {
            eprintln!("cannot read {results}: run scripts/bench.sh first");
            std::process::exit(1);
        }
    };
    let page = render(&doc, &criterion_estimates(Path::new(criterion)));
    if let Err(e) = std::fs::write(out, page) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
}

/// One criterion benchmark: `group/name`, median ns per iteration, bytes per iteration when set.
struct Estimate {
    id: String,
    median_ns: f64,
    bytes: Option<f64>,
}

/// `DIR/<group>/<bench>/new/{estimates,benchmark}.json`, sorted by id.
fn criterion_estimates(dir: &Path) -> Vec<Estimate> {
    let mut out = Vec::new();
    let read = |p: &Path| -> Option<Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    let Ok(groups) = std::fs::read_dir(dir) else {
        return out;
    };
    for group in groups.filter_map(Result::ok) {
        let Ok(benches) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for bench in benches.filter_map(Result::ok) {
            let new = bench.path().join("new");
            let (Some(est), Some(meta)) = (
                read(&new.join("estimates.json")),
                read(&new.join("benchmark.json")),
            ) else {
                continue;
            };
            let Some(median_ns) = est["median"]["point_estimate"].as_f64() else {
                continue;
            };
            out.push(Estimate {
                id: meta["full_id"].as_str().unwrap_or_default().to_string(),
                median_ns,
                bytes: meta["throughput"]["Bytes"].as_f64(),
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The median of `field` (`cpu_ns`, `wall_ns`, `allocs`, `alloc_bytes`) for `client` in `scenario`.
fn med(doc: &Value, scenario: &str, client: &str, field: &str) -> Option<f64> {
    doc["rows"]
        .as_array()?
        .iter()
        .find(|r| r["scenario"] == scenario && r["client"] == client)?["median"][field]
        .as_f64()
}

fn clients_in(doc: &Value, scenario: &str) -> Vec<String> {
    doc["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["scenario"] == scenario)
                .filter_map(|r| r["client"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `min–max` of the per-round CPU samples (how stable the median is).
fn range(doc: &Value, scenario: &str, client: &str) -> String {
    let samples: Vec<f64> = doc["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["scenario"] == scenario && r["client"] == client)
        })
        .and_then(|r| r["samples"].as_array())
        .map(|v| v.iter().filter_map(|s| s["cpu_ns"].as_f64()).collect())
        .unwrap_or_default();
    let (lo, hi) = samples
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    if samples.is_empty() {
        "–".into()
    } else {
        format!("{}–{}", us(lo), us(hi))
    }
}

fn us(ns: f64) -> String {
    if ns >= 100_000.0 {
        format!("{:.0}", ns / 1000.0)
    } else if ns >= 1000.0 {
        format!("{:.2}", ns / 1000.0)
    } else {
        format!("{:.3}", ns / 1000.0)
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// One scenario's table: every client's medians, its ratio to the raw socket and to hyper (when measured in
/// this scenario), and its context switches.
fn scenario_table(page: &mut String, doc: &Value, scenario: &str, unit: &str) {
    let _ = writeln!(
        page,
        "| client | CPU µs/{unit} | CPU × raw | CPU × hyper | CPU range over rounds | wall µs/{unit} | allocs/{unit} | heap bytes/{unit} | voluntary ctx switches/{unit} | involuntary/{unit} |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    let raw_cpu = med(doc, scenario, "raw", "cpu_ns");
    let hyper_cpu = med(doc, scenario, "hyper", "cpu_ns");
    for c in clients_in(doc, scenario) {
        let cpu = med(doc, scenario, &c, "cpu_ns");
        let wall = med(doc, scenario, &c, "wall_ns");
        let f2 =
            |field: &str| med(doc, scenario, &c, field).map_or("–".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            page,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.0} | {} | {} |",
            label(scenario, &c),
            cpu.map_or("–".into(), us),
            ratio(cpu, raw_cpu),
            ratio(cpu, hyper_cpu),
            range(doc, scenario, &c),
            wall.map_or("–".into(), us),
            med(doc, scenario, &c, "allocs").unwrap_or(f64::NAN),
            med(doc, scenario, &c, "alloc_bytes").unwrap_or(f64::NAN),
            f2("vol_switches"),
            f2("invol_switches"),
        );
    }
    page.push('\n');
}

/// System calls per sequential GET (strace, child processes), with the calls that make them up.
fn syscall_table(page: &mut String, doc: &Value) {
    let rows = doc["syscalls"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        let _ = writeln!(page, "System calls: not measured (strace not installed).\n");
        return;
    }
    let (a, b) = (
        doc["syscall_span"][0].as_u64().unwrap_or(0),
        doc["syscall_span"][1].as_u64().unwrap_or(0),
    );
    let _ = writeln!(
        page,
        "System calls per sequential GET (`strace -f -c` of `clients --profile CLIENT seq_get N` for N = {a} and \
         {b} in child processes, the difference ÷ {}; every thread):\n",
        b.saturating_sub(a)
    );
    let _ = writeln!(
        page,
        "| client | system calls/GET | × hyper | of which |\n|---|--:|--:|---|"
    );
    let hyper = rows
        .iter()
        .find(|r| r["client"] == "hyper")
        .and_then(|r| r["per_get"].as_f64());
    for r in &rows {
        let per = r["per_get"].as_f64();
        let parts: Vec<String> = r["by_syscall"]
            .as_object()
            .map(|m| {
                let mut v: Vec<(&String, f64)> = m
                    .iter()
                    .filter(|(k, _)| *k != "total")
                    .filter_map(|(k, v)| v.as_f64().map(|v| (k, v)))
                    .collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                v.iter().map(|(k, v)| format!("{v:.1} `{k}`")).collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "| {} | {} | {} | {} |",
            s_of(&r["client"]),
            per.map_or("–".into(), |v| format!("{v:.2}")),
            ratio(per, hyper),
            parts.join(", ")
        );
    }
    page.push('\n');
}

fn label(scenario: &str, client: &str) -> String {
    match (scenario, client) {
        ("sse", "raw") => "raw socket + plue's SseDecoder".into(),
        ("sse", "reqwest") => "eventsource-stream (reqwest)".into(),
        ("batch16", "raw") => "raw (16 pipelined)".into(),
        (_, c) => c.into(),
    }
}

/// plue's runtimes against each peer: CPU ratio (plue / peer; below 1 is plue ahead).
fn peer_table(page: &mut String, doc: &Value, scenarios: &[&str]) {
    let _ = writeln!(page, "| scenario | plue runtime | × raw | × hyper | × reqwest | × ureq |\n|---|---|--:|--:|--:|--:|");
    for s in scenarios {
        for p in PLUE {
            let cpu = med(doc, s, p, "cpu_ns");
            if cpu.is_none() {
                continue;
            }
            let mut cells = vec![ratio(cpu, med(doc, s, "raw", "cpu_ns"))];
            cells.extend(
                PEERS
                    .iter()
                    .map(|peer| ratio(cpu, med(doc, s, peer, "cpu_ns"))),
            );
            let _ = writeln!(page, "| {s} | {p} | {} |", cells.join(" | "));
        }
    }
    page.push('\n');
}

fn render(doc: &Value, criterion: &[Estimate]) -> String {
    let mut p = String::new();
    let s = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let _ = writeln!(p, "# plue-http benchmarks\n");
    let _ = writeln!(
        p,
        "Generated by `scripts/bench-report.sh` from the harness's JSON (`target/plue-bench/results.json`, copied to \
         [`results.json`](results.json) with every sample) and criterion's estimates. Do not edit by hand: re-run \
         `scripts/bench.sh`.\n"
    );
    let _ = writeln!(
        p,
        "- **Run**: {} · machine: {} × `{}` · server: {} (separate process, loopback) · {} interleaved rounds, medians{}",
        s(&doc["date"]),
        doc["machine"]["nproc"],
        s(&doc["machine"]["cpu"]),
        s(&doc["server"]),
        doc["rounds"],
        if doc["quick"] == true { " · **quick run (not for comparison)**" } else { "" }
    );
    let _ = writeln!(
        p,
        "- **Load average** (other work on the machine) at start / end: {} / {}",
        s(&doc["loadavg"]["start"]),
        s(&doc["loadavg"]["end"])
    );
    let _ = writeln!(
        p,
        "- **Units per run**: {} · SSE corpus: {} OpenCode-shaped events, checksum `{}` (every client's count and \
         checksum must match it, or the run fails)",
        doc["n"],
        doc["sse_events"],
        s(&doc["sse_checksum"])
    );
    let _ = writeln!(
        p,
        "- **Primary metric: client CPU time** (getrusage of the client process, user + system, all threads): client \
         and server share the cores, so wall time mostly measures the server. Heap counts come from a counting \
         global allocator (every thread, body buffers included); context switches from getrusage (every thread). \
         Every tokio-based client (plue-tokio, hyper, reqwest) runs on a current-thread tokio runtime; plue-smol on \
         a smol executor run by the calling thread (`SmolRuntime::on`); plue-mio runs its event loop on the calling \
         thread while it waits; raw and ureq block the calling thread. The raw socket writes the request and \
         reads the known response length: its CPU swings with where the scheduler puts client and server, so \
         every ratio is given against hyper too, and raw's range over the rounds is in its row.\n"
    );

    let _ = writeln!(
        p,
        "Where the time goes (callgrind instruction counts): [PROFILE.md](PROFILE.md).\n"
    );
    goals(&mut p, doc, criterion);
    let _ = writeln!(p, "## 1. Sequential keep-alive GET (small body)\n");
    scenario_table(&mut p, doc, "seq_get", "req");
    syscall_table(&mut p, doc);
    let _ = writeln!(p, "## 2a. Pipelined batch of 16 on one connection\n");
    scenario_table(&mut p, doc, "batch16", "req");
    let _ = writeln!(p, "## 2b. 16 concurrent tasks\n");
    let _ = writeln!(
        p,
        "16 futures in one `FuturesUnordered` for the async clients; plue-mio starts 16 requests and waits for them (waves of 16).\n"
    );
    scenario_table(&mut p, doc, "conc16", "req");
    let _ = writeln!(p, "## Ratios against the peers (client CPU per request, plue ÷ peer: below 1.00× plue is ahead)\n");
    peer_table(
        &mut p,
        doc,
        &["seq_get", "batch16", "conc16", "new_conn", "sse"],
    );

    let _ = writeln!(
        p,
        "## 3. Pool efficiency: reused connection vs a new connection every request\n"
    );
    let _ = writeln!(
        p,
        "New connection = the same GET with `Connection: close`.\n"
    );
    scenario_table(&mut p, doc, "new_conn", "req");
    let _ = writeln!(p, "| client | wall µs reused | wall µs new | reused is lower by | CPU µs reused | CPU µs new |\n|---|--:|--:|--:|--:|--:|");
    for c in clients_in(doc, "new_conn") {
        let (rw, nw) = (
            med(doc, "seq_get", &c, "wall_ns"),
            med(doc, "new_conn", &c, "wall_ns"),
        );
        let (rc, nc) = (
            med(doc, "seq_get", &c, "cpu_ns"),
            med(doc, "new_conn", &c, "cpu_ns"),
        );
        let lower = match (rw, nw) {
            (Some(r), Some(n)) if n > 0.0 => format!("{:.0}%", (1.0 - r / n) * 100.0),
            _ => "–".into(),
        };
        let f = |v: Option<f64>| v.map_or("–".into(), us);
        let _ = writeln!(
            p,
            "| {c} | {} | {} | {lower} | {} | {} |",
            f(rw),
            f(nw),
            f(rc),
            f(nc)
        );
    }
    p.push('\n');

    let _ = writeln!(
        p,
        "## 4. SSE end to end (whole corpus as owned events; per event)\n"
    );
    scenario_table(&mut p, doc, "sse", "event");
    if let (Some(best), Some(es)) = (
        PLUE.iter()
            .filter_map(|c| med(doc, "sse", c, "cpu_ns"))
            .reduce(f64::min),
        med(doc, "sse", "reqwest", "cpu_ns"),
    ) {
        let _ = writeln!(
            p,
            "Best plue runtime vs eventsource-stream over reqwest, client CPU: **{:.1}× less**.\n",
            es / best
        );
    }
    if !criterion.is_empty() {
        let _ = writeln!(p, "### Criterion (in-memory, no I/O)\n");
        let _ = writeln!(p, "| benchmark | median time | throughput |\n|---|--:|--:|");
        for e in criterion {
            let tp = e.bytes.map_or("–".into(), |b| {
                format!("{:.0} MB/s", b / e.median_ns * 1e3)
            });
            let _ = writeln!(p, "| {} | {} µs | {tp} |", e.id, us(e.median_ns));
        }
        p.push('\n');
    }

    let _ = writeln!(p, "## 5. Memory\n");
    let _ = writeln!(
        p,
        "Heap allocations per steady-state GET are the `allocs/req` column of table 1.\n"
    );
    let _ = writeln!(p, "### Heap bytes per idle pooled connection\n");
    let _ = writeln!(p, "A fresh client, one request, then a burst of concurrent requests; live heap growth ÷ new sockets.\n");
    let _ = writeln!(
        p,
        "| client | new connections | heap bytes per idle connection |\n|---|--:|--:|"
    );
    for r in doc["idle_pool"].as_array().into_iter().flatten() {
        let per = r["heap_bytes_per_idle_conn"].as_f64().map_or_else(
            || "– (no new connection opened)".to_string(),
            |b| format!("{b:.0}"),
        );
        let _ = writeln!(
            p,
            "| {} | {} | {per} |",
            s(&r["client"]),
            r["extra_connections"]
        );
    }
    p.push('\n');
    let _ = writeln!(
        p,
        "### RSS over many requests / SSE events (each client alone in a child process)\n"
    );
    let _ = writeln!(
        p,
        "Sequential GETs, or whole SSE corpus reads (events counted).\n"
    );
    let _ = writeln!(p, "| client | measure | units | RSS | units | RSS | RSS change | peak RSS (VmHWM) change |\n|---|---|--:|--:|--:|--:|--:|--:|");
    for r in doc["rss"].as_array().into_iter().flatten() {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            p,
            "| {} | {} | {} | {:.1} MiB | {} | {:.1} MiB | {:+.1}% | {:+.1}% |",
            s(&r["client"]),
            s(&r["scenario"]),
            r["n1"],
            f("rss1") / 1048576.0,
            r["n2"],
            f("rss2") / 1048576.0,
            (f("rss2") / f("rss1") - 1.0) * 100.0,
            (f("peak2") / f("peak1") - 1.0) * 100.0
        );
    }
    p.push('\n');
    p
}

/// The plue runtime with the lowest median of `field` in `scenario`, and that median.
fn best_plue(doc: &Value, scenario: &str, field: &str) -> Option<(&'static str, f64)> {
    PLUE.iter()
        .filter_map(|c| med(doc, scenario, c, field).map(|v| (*c, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Issue 21's goals (performance round 2), each with the measured value and whether it is met.
fn goals(p: &mut String, doc: &Value, criterion: &[Estimate]) {
    let _ = writeln!(p, "## Goals (issue 21) against this run\n");
    let _ = writeln!(p, "| goal | measured | met |\n|---|---|:-:|");
    let mut row = |goal: &str, measured: String, met: Option<bool>| {
        let mark = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        let _ = writeln!(p, "| {goal} | {measured} | {mark} |");
    };
    let cpu = |s: &str, c: &str| med(doc, s, c, "cpu_ns");
    // Every runtime's value of `f`, "name value" joined, and whether all pass `ok`.
    let each = |f: &dyn Fn(&str) -> Option<f64>,
                ok: &dyn Fn(f64) -> bool,
                fmt: &dyn Fn(f64) -> String| {
        let vals: Vec<(&str, f64)> = PLUE.iter().filter_map(|c| f(c).map(|v| (*c, v))).collect();
        let text = vals
            .iter()
            .map(|(c, v)| format!("{c} {}", fmt(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        let met = (!vals.is_empty()).then(|| vals.iter().all(|(_, v)| ok(*v)));
        (text, met)
    };
    let x = |v: f64| format!("{v:.2}×");
    if let Some(h) = cpu("seq_get", "hyper") {
        let (t, m) = each(&|c| cpu("seq_get", c).map(|v| v / h), &|v| v <= 1.0, &x);
        row(
            "sequential GET, client CPU: every runtime ≤ 1.0× hyper",
            t,
            m,
        );
        let (t, m) = each(
            &|c| {
                (c != "plue-tokio")
                    .then(|| cpu("seq_get", c).map(|v| v / h))
                    .flatten()
            },
            &|v| v <= 1.3,
            &x,
        );
        row(
            "(must) smol and mio ≤ 1.3× hyper on sequential GET CPU",
            t,
            m,
        );
    }
    if let (Some((best, b)), Some(raw)) =
        (best_plue(doc, "seq_get", "cpu_ns"), cpu("seq_get", "raw"))
    {
        row(
            "best runtime ≤ 1.15× the raw socket (sequential GET CPU)",
            format!(
                "{best}: {:.2}× raw (raw's range: {})",
                b / raw,
                range(doc, "seq_get", "raw")
            ),
            Some(b / raw <= 1.15),
        );
    }
    let sys = |c: &str| {
        doc["syscalls"]
            .as_array()?
            .iter()
            .find(|r| r["client"] == c)?["per_get"]
            .as_f64()
    };
    if let Some(h) = sys("hyper") {
        let (t, m) = each(&sys, &|v| v <= h + 0.05, &|v| format!("{v:.2}"));
        row(
            "system calls per sequential GET ≤ hyper's on every runtime",
            format!("{t} (hyper {h:.2})"),
            m,
        );
    }
    let vcsw = |c: &str| med(doc, "seq_get", c, "vol_switches");
    if let Some(h) = vcsw("hyper") {
        let (t, m) = each(&vcsw, &|v| v <= h + 0.05, &|v| format!("{v:.2}"));
        row(
            "voluntary context switches per sequential GET ≤ hyper's on every runtime",
            format!("{t} (hyper {h:.2})"),
            m,
        );
    }
    if let Some(h) = cpu("conc16", "hyper") {
        let (t, m) = each(&|c| cpu("conc16", c).map(|v| v / h), &|v| v <= 1.0, &x);
        row(
            "16 concurrent: every async runtime ≤ 1.0× hyper, plue-mio ≤ 1.1×",
            t,
            m.map(|_| {
                PLUE.iter().all(|c| {
                    let limit = if *c == "plue-mio" { 1.1 } else { 1.0 };
                    cpu("conc16", c).is_none_or(|v| v / h <= limit)
                })
            }),
        );
    }
    if let Some(raw) = cpu("batch16", "raw") {
        let (t, m) = each(&|c| cpu("batch16", c).map(|v| v / raw), &|v| v <= 1.5, &x);
        row(
            "pipelined batch of 16: ≤ 1.5× the raw pipelined socket per request (CPU)",
            t,
            m,
        );
    }
    for (scenario, what) in [("seq_get", "sequential GET"), ("conc16", "16 concurrent")] {
        let (t, m) = each(&|c| med(doc, scenario, c, "allocs"), &|v| v <= 8.0, &|v| {
            format!("{v:.1}")
        });
        let hyper = med(doc, scenario, "hyper", "allocs")
            .map_or(String::new(), |h| format!(" (hyper {h:.1})"));
        row(
            &format!("allocations per steady-state GET ≤ 8 ({what}; must: ≤ 12)"),
            format!("{t}{hyper}"),
            m,
        );
    }
    let idle = |c: &str| {
        doc["idle_pool"]
            .as_array()?
            .iter()
            .find(|r| r["client"] == c)?["heap_bytes_per_idle_conn"]
            .as_f64()
    };
    let (t, m) = each(&idle, &|v| v <= 4096.0, &|v| format!("{v:.0} B"));
    row("heap per idle pooled HTTP/1.1 connection ≤ 4 KiB", t, m);
    let dec = |name: &str| criterion.iter().find(|e| e.id == name).map(|e| e.median_ns);
    match (dec("sse_decode_opencode/plue"), dec("sse_decode_opencode/sse-stream")) {
        (Some(ours), Some(theirs)) => row(
            "SSE decoding ≥ 1.2× `sse-stream` (data-only and mixed corpora), ≤ 1 allocation per event",
            format!(
                "OpenCode corpus (criterion, in memory): {:.2}× sse-stream's speed; a separate data-only and mixed \
                 corpus and per-event allocations are not in the bench yet",
                theirs / ours
            ),
            None,
        ),
        _ => row(
            "SSE decoding ≥ 1.2× `sse-stream` (data-only and mixed corpora), ≤ 1 allocation per event",
            "not measured in this run (criterion's `sse` bench did not run)".into(),
            None,
        ),
    }
    // Peak RSS (VmHWM), as the issue asks: the current RSS of a streaming reader moves with its buffers.
    let growth =
        |r: &Value| r["peak2"].as_f64().unwrap_or(0.0) / r["peak1"].as_f64().unwrap_or(1.0) - 1.0;
    let plue_rss: Vec<&Value> = doc["rss"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["client"].as_str().is_some_and(|c| c.starts_with("plue")))
        .collect();
    let rss: Vec<String> = plue_rss
        .iter()
        .map(|r| {
            format!(
                "{} {} {:+.1}% ({}→{})",
                s_of(&r["client"]),
                s_of(&r["scenario"]),
                growth(r) * 100.0,
                r["n1"],
                r["n2"]
            )
        })
        .collect();
    if !rss.is_empty() {
        row(
            "peak RSS within ±5% from 100k to 1M requests and SSE events (this run's units are shown; the default \
             run is 10k→100k requests, `PLUE_BENCH_RSS_FULL=1` for 100k→1M)",
            rss.join("; "),
            Some(plue_rss.iter().all(|r| growth(r).abs() <= 0.05)),
        );
    }
    p.push('\n');
}

fn s_of(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_string()
}
