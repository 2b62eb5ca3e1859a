//! Stable-toolchain fuzz harness: runs the same targets as `cargo fuzz` (see `plue_http_fuzz`) on inputs made by
//! structured generators (HTTP responses with every framing trick, SSE streams, URLs and headers with hostile
//! bytes, JSON error bodies and events), mutated, plus plain arbitrary bytes. Deterministic per seed.
//!
//! ```text
//! harness [TARGET|all] [CASES_PER_TARGET] [SEED]
//! ```
//!
//! A panic is a crash: the input is written to `artifacts/<target>/crash-<seed>-<case>.bin` (replay it with the
//! libFuzzer binary, or `harness replay FILE TARGET`) and the run exits non-zero at the end.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target, Gen)] = &[
    ("h1_stream", plue_http_fuzz::h1_stream, gen_h1),
    ("chunked", plue_http_fuzz::chunked, gen_chunked),
    ("sse", plue_http_fuzz::sse, gen_sse),
    ("request", plue_http_fuzz::request, gen_request),
    ("error_body", plue_http_fuzz::error_body, gen_error_body),
];

type Gen = fn(&mut Rng, &mut Vec<u8>);

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// ------------------------------------------------------------------------------------------------ generators

const EOL: &[&str] = &["\r\n", "\r\n", "\r\n", "\n", "\r", "\r\r\n", " \r\n"];

fn eol(r: &mut Rng, out: &mut Vec<u8>) {
    let e = if r.chance(12) { r.pick(EOL) } else { "\r\n" };
    out.extend_from_slice(e.as_bytes());
}

fn number(r: &mut Rng) -> String {
    match r.below(10) {
        0 => "10000000000".into(), // 10 GB
        1 => "18446744073709551616".into(),
        2 => "-1".into(),
        3 => "+5".into(),
        4 => format!("0x{}", r.below(100)),
        5 => format!(" {} ", r.below(40)),
        6 => "".into(),
        _ => r.below(40).to_string(),
    }
}

fn hex_size(r: &mut Rng, n: usize) -> String {
    match r.below(14) {
        0 => "fffffffffffffffffff".into(),
        1 => "-1".into(),
        2 => format!("{n:X}"),
        3 => format!("{n:x};ext=\"v\""),
        4 => format!("{n:x} ; a=b"),
        5 => format!("0000000000000000000{n:x}"),
        6 => "".into(),
        7 => "g".into(),
        8 => format!("{n:x}\t"),
        _ => format!("{n:x}"),
    }
}

fn chunked_body(r: &mut Rng, out: &mut Vec<u8>) {
    for _ in 0..r.below(5) {
        let n = if r.chance(10) {
            r.below(5000)
        } else {
            r.below(20)
        };
        out.extend_from_slice(hex_size(r, n).as_bytes());
        eol(r, out);
        let actual = if r.chance(15) { r.below(n + 3) } else { n };
        out.extend((0..actual).map(|i| b'a' + (i % 26) as u8));
        eol(r, out);
    }
    if !r.chance(10) {
        out.extend_from_slice(if r.chance(8) { b"000" } else { b"0" });
        eol(r, out);
        for _ in 0..r.below(3) {
            out.extend_from_slice(
                r.pick(&["X-T: 1", "Content-Length: 5", "bad trailer", " fold"])
                    .as_bytes(),
            );
            eol(r, out);
        }
        eol(r, out);
    }
}

fn gen_response(r: &mut Rng, out: &mut Vec<u8>) {
    let version = if r.chance(10) {
        r.pick(&[
            "HTTP/1.0",
            "HTTP/2.0",
            "HTTP/1.1 ",
            "http/1.1",
            "HTTP/1",
            "ICY",
            "\x16\x03\x01",
        ])
    } else {
        "HTTP/1.1"
    };
    let statuses = [
        "200 OK",
        "204 No Content",
        "304 Not Modified",
        "100 Continue",
        "101 Switching Protocols",
        "103 Early Hints",
        "301 Moved",
        "404 Not Found",
        "500 Oops",
        "999 X",
        "2000 X",
        "20 X",
        "200",
        "200 \x01",
        "099 Low",
    ];
    let status = if r.chance(3) {
        statuses[r.below(statuses.len())]
    } else {
        "200 OK"
    };
    out.extend_from_slice(version.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_bytes());
    eol(r, out);
    let mut framing = 0; // 0 none, 1 CL, 2 chunked
    let mut cl = 0usize;
    for _ in 0..r.below(6) {
        match r.below(16) {
            0..=2 => {
                let n = number(r);
                if let Ok(v) = n.trim().parse::<usize>() {
                    cl = v;
                    framing = framing.max(1);
                }
                out.extend_from_slice(format!("Content-Length: {n}").as_bytes());
            }
            3..=5 => {
                framing = 2;
                let te = r.pick(&[
                    "chunked",
                    "chunked",
                    "gzip, chunked",
                    "chunked, gzip",
                    "chunked ,",
                    "identity",
                    "Chunked",
                    "chunked;q=1",
                    "xchunked",
                ]);
                out.extend_from_slice(format!("Transfer-Encoding: {te}").as_bytes());
            }
            6 => out.extend_from_slice(
                r.pick(&[
                    "Connection: close",
                    "Connection: keep-alive",
                    "connection: Close, x",
                ])
                .as_bytes(),
            ),
            7 => out.extend_from_slice(format!("Keep-Alive: timeout={}", number(r)).as_bytes()),
            8 => out.extend_from_slice(b"Content-Length: 3\r\n 4"), // obs-fold in a framing header
            9 => out.extend_from_slice(b"Transfer-Encoding: gzip\r\n\tchunked"),
            10 => out.extend_from_slice(b"X-Bare: a\rb"),
            11 => out.extend_from_slice(b"Bad Name: x"),
            12 => out.extend_from_slice(b": empty"),
            13 => out.extend_from_slice(format!("X-Long: {}", "v".repeat(r.below(400))).as_bytes()),
            14 => out.extend_from_slice(b"Upgrade: websocket"),
            _ => out.extend_from_slice(b"Content-Type: text/plain"),
        }
        eol(r, out);
    }
    eol(r, out);
    match framing {
        2 => chunked_body(r, out),
        1 => {
            let cl = cl.min(10_000);
            let n = if r.chance(8) { r.below(cl + 5) } else { cl };
            out.extend((0..n).map(|i| b'0' + (i % 10) as u8));
        }
        _ => {
            if r.chance(3) {
                out.extend_from_slice(b"close-delimited body");
            }
        }
    }
}

fn mutate(r: &mut Rng, v: &mut Vec<u8>) {
    for _ in 0..1 + r.below(4) {
        if v.is_empty() {
            v.push(r.byte());
            continue;
        }
        let i = r.below(v.len());
        match r.below(8) {
            0 => v[i] ^= 1 << r.below(8),
            1 => v[i] = r.byte(),
            2 => v.insert(
                i,
                *r.pick(&[&b'\r', &b'\n', &0u8, &b' ', &b':', &b'\t', &0xFFu8]),
            ),
            3 => {
                let j = (i + r.below(16)).min(v.len());
                v.drain(i..j);
            }
            4 => {
                let j = (i + r.below(32)).min(v.len());
                let dup: Vec<u8> = v[i..j].to_vec();
                let at = r.below(v.len());
                v.splice(at..at, dup);
            }
            5 => v.truncate(i),
            6 => v.insert(i, r.byte()),
            _ => {
                let k = r.below(v.len());
                v.swap(i, k);
            }
        }
    }
}

fn gen_h1(r: &mut Rng, out: &mut Vec<u8>) {
    out.push(r.byte());
    out.push(r.byte());
    for _ in 0..1 + r.below(4) {
        gen_response(r, out);
    }
    if r.chance(6) {
        out.extend_from_slice(r.pick(&[
            &b"garbage after"[..],
            b"\x16\x03\x01\x02\x00",
            b"HTTP/1.1 200 OK\r\n",
        ]));
    }
}

fn gen_chunked(r: &mut Rng, out: &mut Vec<u8>) {
    out.push(r.byte());
    out.push(r.byte());
    chunked_body(r, out);
    if r.chance(5) {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
    }
}

fn gen_sse(r: &mut Rng, out: &mut Vec<u8>) {
    out.push(r.byte());
    out.push(r.byte());
    if r.chance(5) {
        out.extend_from_slice(&[0xEF, 0xBB, 0xBF]);
    }
    let lines = [
        "data: hello",
        "data:",
        "data",
        "data:  two spaces",
        "event: update",
        "event:",
        "id: 42",
        "id",
        "id: a\0b",
        "retry: 1000",
        "retry: x",
        "retry: 99999999999999999999",
        ": heartbeat",
        ":",
        "",
        "",
        "unknown: f",
        "data: {\"type\":\"server.heartbeat\",\"properties\":{}}",
        "data: \u{e9}\u{1F600}",
    ];
    for _ in 0..r.below(12) {
        let l = lines[r.below(lines.len())];
        out.extend_from_slice(l.as_bytes());
        if r.chance(10) {
            out.extend(std::iter::repeat_n(b'x', r.below(2000)));
        }
        let e = r.pick(&["\n", "\n", "\r\n", "\r"]);
        out.extend_from_slice(e.as_bytes());
    }
}

fn hostile(r: &mut Rng, s: &mut Vec<u8>) {
    if r.chance(3) {
        let i = r.below(s.len() + 1);
        let b = *r.pick(&[
            &b'\r', &b'\n', &0u8, &b' ', &0x7Fu8, &0x80u8, &b'@', &b'#', &b'%', &b'?', &b'/',
        ]);
        s.insert(i, b);
    }
}

fn gen_request(r: &mut Rng, out: &mut Vec<u8>) {
    let mut field = |r: &mut Rng, items: &[&str]| {
        let mut v = items[r.below(items.len())].as_bytes().to_vec();
        hostile(r, &mut v);
        out.extend_from_slice(&v);
        out.push(0xFF);
    };
    field(
        r,
        &["", "GET", "POST", "PATCH", "M-SEARCH", "GE T", "", "ÄÖ"],
    );
    field(
        r,
        &[
            "http://127.0.0.1:4096/session",
            "http://user:secret@h:80/p?q=1#frag",
            "/relative",
            "rel",
            "",
            "https://x/",
            "http://[::1]:8080/",
            "http://h:99999/",
            "http://h:/",
            "ftp://x",
            "http://",
            "http://h/a b",
            "http://h/%zz",
            "HTTP://H/",
            "http://h/?",
            "http://u@h/",
            "http://:pw@h/",
        ],
    );
    field(
        r,
        &[
            "X-Test",
            "Content-Type",
            "authorization",
            "",
            "Bad Name",
            "x\u{e9}",
            "Host",
            "Content-Length",
        ],
    );
    field(
        r,
        &[
            "value",
            "",
            " leading",
            "trailing ",
            "a\tb",
            "\u{e9}",
            "Bearer abc",
        ],
    );
    field(r, &["", "directory", "a b", "k&v=", "\u{1F600}"]);
    field(r, &["", "/tmp/x y", "=&?#", "\u{e9}"]);
    field(r, &["", "{}", "body bytes"]);
    field(
        r,
        &[
            "",
            "",
            "http://127.0.0.1:4096",
            "http://127.0.0.1:4096/api/",
            "http://h",
        ],
    );
}

fn gen_error_body(r: &mut Rng, out: &mut Vec<u8>) {
    let status: u16 = *r.pick(&[&400u16, &404, &500, &503, &0, &999, &u16::MAX]);
    out.extend_from_slice(&status.to_be_bytes());
    let s = |r: &mut Rng| -> String {
        r.pick(&[
            "\"x\"",
            "\"\"",
            "null",
            "1",
            "[]",
            "{}",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "true",
            "{\"message\":\"m\"}",
        ])
        .to_string()
    };
    let body = match r.below(7) {
        0 => format!("{{\"name\":{},\"data\":{{\"message\":{}}}}}", s(r), s(r)),
        1 => format!("{{\"_tag\":{},\"message\":{}}}", s(r), s(r)),
        2 => format!("{{\"error\":{}}}", s(r)),
        3 => "plain text error".repeat(r.below(400)),
        4 => {
            let kinds = [
                "server.connected",
                "server.heartbeat",
                "session.created",
                "session.updated",
                "session.deleted",
                "session.status",
                "session.idle",
                "session.error",
                "session.diff",
                "message.updated",
                "message.removed",
                "message.part.updated",
                "message.part.delta",
                "message.part.removed",
                "permission.asked",
                "permission.replied",
                "question.asked",
                "todo.updated",
                "file.edited",
                "x",
            ];
            let k = kinds[r.below(kinds.len())];
            let props = r.pick(&[
                "{}", "null", "{\"sessionID\":\"s\"}", "{\"info\":{\"id\":\"s\"}}", "{\"sessionID\":1}",
                "{\"status\":{\"type\":\"busy\"}}", "{\"part\":{\"id\":\"p\",\"type\":\"text\",\"text\":\"t\"}}",
                "{\"delta\":\"d\",\"field\":\"text\",\"partID\":\"p\",\"messageID\":\"m\",\"sessionID\":\"s\"}",
                "{\"error\":{\"name\":\"E\",\"data\":{\"message\":\"m\"}}}",
            ]);
            let ev = format!("{{\"type\":\"{k}\",\"properties\":{props}}}");
            if r.chance(2) {
                format!("{{\"directory\":{},\"payload\":{ev}}}", s(r))
            } else {
                ev
            }
        }
        5 => "[".repeat(r.below(300)),
        _ => String::new(),
    };
    out.extend_from_slice(body.as_bytes());
}

// ------------------------------------------------------------------------------------------------ driver

fn run_target(name: &str, target: Target, gen: Gen, cases: u64, seed: u64) -> (u64, Vec<String>) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut crashes = Vec::new();
    let mut input = Vec::with_capacity(4096);
    for case in 0..cases {
        input.clear();
        if r.chance(5) {
            let cap = if r.chance(10) { 8192 } else { 300 };
            let n = r.below(cap);
            input.extend((0..n).map(|_| r.byte()));
        } else {
            gen(&mut r, &mut input);
            if r.chance(2) {
                mutate(&mut r, &mut input);
            }
        }
        let result = panic::catch_unwind(AssertUnwindSafe(|| target(&input)));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let dir = format!("artifacts/{name}");
            let _ = std::fs::create_dir_all(&dir);
            let path = format!("{dir}/crash-{seed}-{case}.bin");
            let _ = std::fs::write(&path, &input);
            eprintln!("CRASH {name} seed {seed} case {case}: {msg}\n  input saved to {path}");
            crashes.push(path);
            if crashes.len() >= 5 {
                return (case + 1, crashes);
            }
        }
    }
    (cases, crashes)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("replay") {
        let file = args.get(2).expect("replay FILE TARGET");
        let name = args.get(3).expect("replay FILE TARGET");
        let data = std::fs::read(file).expect("read input");
        let (_, t, _) = TARGETS
            .iter()
            .find(|(n, ..)| n == name)
            .expect("known target");
        t(&data);
        println!("replayed {file} on {name}: no panic");
        return;
    }
    let which = args.get(1).cloned().unwrap_or_else(|| "all".into());
    let cases: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    // Crashes are reported by the harness itself; keep the default hook's output short.
    panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let mut total = 0u64;
    let mut all_crashes = Vec::new();
    for (name, target, gen) in TARGETS {
        if which != "all" && which != *name {
            continue;
        }
        let start = Instant::now();
        let (ran, crashes) = run_target(name, *target, *gen, cases, seed);
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name:<11} {ran:>12} cases  {:>6} crashes  {secs:>8.1} s  {:>9.0} cases/s  (seed {seed})",
            crashes.len(),
            ran as f64 / secs.max(1e-9)
        );
        total += ran;
        all_crashes.extend(crashes);
    }
    println!("total {total} cases, {} crashes", all_crashes.len());
    if !all_crashes.is_empty() {
        std::process::exit(1);
    }
}
