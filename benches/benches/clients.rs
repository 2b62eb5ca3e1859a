//! The client benchmarks (issue 8): plue-http on tokio, smol and mio against hyper, reqwest, ureq,
//! eventsource-stream and the raw-socket baseline, against one server process, interleaved rounds.
//!
//! `cargo bench -p plue-http-benches --bench clients` is the full run (use `scripts/bench.sh`, which starts
//! nginx and writes the report); `cargo test --benches` runs every scenario once, small, against the bundled
//! server. See `plue_http_benches::harness` for the knobs (`PLUE_BENCH_*`).

use plue_http_benches::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) =
        plue_http_benches::harness::main_with(&args, env!("CARGO_BIN_EXE_bench-server").as_ref())
    {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
