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

/// One scenario's table: every client's medians and its ratio to `baseline`.
fn scenario_table(page: &mut String, doc: &Value, scenario: &str, unit: &str, baseline: &str) {
    let _ = writeln!(
        page,
        "| client | CPU µs/{unit} | CPU × {baseline} | CPU range over rounds | wall µs/{unit} | wall × {baseline} | allocs/{unit} | heap bytes/{unit} |\n|---|--:|--:|--:|--:|--:|--:|--:|"
    );
    let base_cpu = med(doc, scenario, baseline, "cpu_ns");
    let base_wall = med(doc, scenario, baseline, "wall_ns");
    for c in clients_in(doc, scenario) {
        let cpu = med(doc, scenario, &c, "cpu_ns");
        let wall = med(doc, scenario, &c, "wall_ns");
        let _ = writeln!(
            page,
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.0} |",
            label(scenario, &c),
            cpu.map_or("–".into(), us),
            ratio(cpu, base_cpu),
            range(doc, scenario, &c),
            wall.map_or("–".into(), us),
            ratio(wall, base_wall),
            med(doc, scenario, &c, "allocs").unwrap_or(f64::NAN),
            med(doc, scenario, &c, "alloc_bytes").unwrap_or(f64::NAN),
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
         global allocator (every thread, body buffers included). Every tokio-based client (plue-tokio, hyper, \
         reqwest) runs on a current-thread tokio runtime; plue-smol on smol's global executor; plue-mio on its own \
         event-loop thread; raw and ureq block the calling thread.\n"
    );

    let _ = writeln!(
        p,
        "Where the time goes (callgrind instruction counts): [PROFILE.md](PROFILE.md).\n"
    );
    goals(&mut p, doc, criterion);
    let _ = writeln!(p, "## 1. Sequential keep-alive GET (small body)\n");
    scenario_table(&mut p, doc, "seq_get", "req", "raw");
    let _ = writeln!(p, "## 2a. Pipelined batch of 16 on one connection\n");
    scenario_table(&mut p, doc, "batch16", "req", "raw");
    let _ = writeln!(p, "## 2b. 16 concurrent tasks\n");
    let _ = writeln!(
        p,
        "16 futures in one `FuturesUnordered` for the async clients; plue-mio starts 16 requests and waits for them (waves of 16).\n"
    );
    scenario_table(&mut p, doc, "conc16", "req", "hyper");
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
    scenario_table(&mut p, doc, "new_conn", "req", "raw");
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
    scenario_table(&mut p, doc, "sse", "event", "raw");
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

/// Issue 8's goals, each with the measured value and whether it is met.
fn goals(p: &mut String, doc: &Value, criterion: &[Estimate]) {
    let _ = writeln!(p, "## Goals (issue 8) against this run\n");
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
    if let (Some((best, b)), Some(raw)) =
        (best_plue(doc, "seq_get", "cpu_ns"), cpu("seq_get", "raw"))
    {
        row(
            "best runtime within 1.10× of raw per request (client CPU, sequential GET)",
            format!("{best}: {:.2}×", b / raw),
            Some(b / raw <= 1.10),
        );
        let peers: Vec<(&str, f64)> = PEERS
            .iter()
            .filter_map(|c| cpu("seq_get", c).map(|v| (*c, v)))
            .collect();
        let ahead = peers.iter().all(|(_, v)| b < *v);
        let detail = peers
            .iter()
            .map(|(c, v)| format!("{c} {:.2}×", b / v))
            .collect::<Vec<_>>()
            .join(", ");
        row(
            "best runtime ahead of every peer (sequential GET, CPU)",
            format!("{best} vs {detail}"),
            Some(ahead),
        );
    }
    if let (Some(t), Some(h)) = (cpu("seq_get", "plue-tokio"), cpu("seq_get", "hyper")) {
        row(
            "plue-tokio ahead of hyper (sequential GET, CPU)",
            format!("{:.2}× hyper", t / h),
            Some(t < h),
        );
    }
    if let (Some((best, b)), Some(raw)) = (
        best_plue(doc, "batch16", "wall_ns"),
        med(doc, "batch16", "raw", "wall_ns"),
    ) {
        let cpu_rate = best_plue(doc, "batch16", "cpu_ns")
            .zip(cpu("batch16", "raw"))
            .map_or(String::new(), |((c, v), r)| {
                format!("; by client CPU {c} {:.2}×", r / v)
            });
        row(
            "pipelined batch ≥ 0.85× the raw pipelined rate",
            format!("{best}: {:.2}× raw's rate (wall){cpu_rate}", raw / b),
            Some(raw / b >= 0.85),
        );
    }
    let pool: Vec<(&str, f64)> = PLUE
        .iter()
        .filter_map(|c| {
            let (r, n) = (
                med(doc, "seq_get", c, "wall_ns")?,
                med(doc, "new_conn", c, "wall_ns")?,
            );
            Some((*c, 1.0 - r / n))
        })
        .collect();
    if let Some((c, best)) = pool.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)) {
        row(
            "reused-connection latency ≥ 80% below new-connection",
            format!("best {c}: {:.0}% lower (wall)", best * 100.0),
            Some(best >= 0.80),
        );
    }
    let dec = |name: &str| criterion.iter().find(|e| e.id == name);
    if let Some(e) = dec("sse_decode_opencode/plue") {
        let gbs = e.bytes.unwrap_or(0.0) / e.median_ns;
        row(
            "SSE decoder ≥ 1 GB/s",
            format!("{:.2} GB/s (criterion, in memory)", gbs),
            Some(gbs >= 1.0),
        );
    }
    if let (Some((best, b)), Some(es)) = (best_plue(doc, "sse", "cpu_ns"), cpu("sse", "reqwest")) {
        row(
            "SSE end to end ≥ 20× less client CPU than eventsource-stream",
            format!("{best}: {:.1}×", es / b),
            Some(es / b >= 20.0),
        );
    }
    if let Some((best, b)) = best_plue(doc, "seq_get", "allocs") {
        let peers: Vec<(&str, f64)> = PEERS
            .iter()
            .filter_map(|c| med(doc, "seq_get", c, "allocs").map(|v| (*c, v)))
            .collect();
        let detail = peers
            .iter()
            .map(|(c, v)| format!("{c} {v:.1}"))
            .collect::<Vec<_>>()
            .join(", ");
        row(
            "fewer heap allocations per steady-state GET than every peer (aim: half of hyper's)",
            format!("{best} {b:.1} vs {detail}"),
            Some(peers.iter().all(|(_, v)| b < *v)),
        );
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
