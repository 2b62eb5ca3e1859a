#!/usr/bin/env bash
# The benchmark server process: nginx (Debian's nginx-light, installed here when missing) on loopback, or the
# bundled Rust server (benches/src/bin/bench-server.rs) when nginx cannot be had.
#
#   scripts/bench-server.sh start DIR   # serve DIR/docroot (written here); prints the env lines for the harness
#   scripts/bench-server.sh stop DIR
#
# `start` prints `PLUE_BENCH_ADDR=…`, `PLUE_BENCH_SERVER=…`, `PLUE_BENCH_DOCROOT=…` (eval-able).
# PLUE_BENCH_PORT (default 18089) picks the port; PLUE_BENCH_SSE_EVENTS the corpus size;
# PLUE_BENCH_NO_NGINX=1 forces the bundled server.
set -euo pipefail

cmd=${1:?usage: bench-server.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: bench-server.sh start|stop DIR}" && cd "$2" && pwd)
port=${PLUE_BENCH_PORT:-18089}
root=$(cd "$(dirname "$0")/.." && pwd)

stop() {
    if [[ -f $dir/nginx.pid ]]; then
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -s stop 2>/dev/null || kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
        rm -f "$dir/nginx.pid"
    fi
    if [[ -f $dir/bench-server.pid ]]; then
        kill "$(cat "$dir/bench-server.pid")" 2>/dev/null || true
        rm -f "$dir/bench-server.pid"
    fi
}

have_nginx() {
    [[ ${PLUE_BENCH_NO_NGINX:-} == 1 ]] && return 1
    command -v nginx >/dev/null && return 0
    # Debian's smallest nginx; needs root (as every developer machine and CI here has).
    if command -v apt-get >/dev/null; then
        { apt-get install -y --no-install-recommends nginx-light >/dev/null 2>&1 ||
          { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends nginx-light >/dev/null 2>&1; }; } || true
        # The package starts a system nginx on port 80; the bench needs only the binary.
        { systemctl stop nginx || service nginx stop; } >/dev/null 2>&1 || true
    fi
    command -v nginx >/dev/null
}

start() {
    stop
    cargo build --release -q -p plue-http-benches --bin bench-server --manifest-path "$root/Cargo.toml" >&2
    local server_bin=$root/target/release/bench-server
    local sse_args=()
    [[ -n ${PLUE_BENCH_SSE_EVENTS:-} ]] && sse_args=(--sse-events "$PLUE_BENCH_SSE_EVENTS")
    "$server_bin" --write-docroot "$dir/docroot" "${sse_args[@]}"
    chmod -R a+rX "$dir"
    if have_nginx; then
        mkdir -p "$dir/tmp"
        local user_line=""
        [[ $(id -u) == 0 ]] && user_line="user root;"
        cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    keepalive_timeout 3600s;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    types { }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port;
        root $dir/docroot;
        location = /small { default_type application/json; }
        location = /1m { }
        location = /sse { default_type text/event-stream; }
    }
}
CONF
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
        local version
        version=$(nginx -v 2>&1 | sed 's/.*: //')
        echo "PLUE_BENCH_SERVER=$version"
    else
        "$server_bin" --docroot "$dir/docroot" --addr "127.0.0.1:$port" >"$dir/bench-server.out" 2>&1 </dev/null &
        echo $! >"$dir/bench-server.pid"
        echo "PLUE_BENCH_SERVER='bench-server (bundled)'"
    fi
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "PLUE_BENCH_ADDR=127.0.0.1:$port"
    echo "PLUE_BENCH_DOCROOT=$dir/docroot"
}

case $cmd in
    start) start ;;
    stop) stop ;;
    *) echo "usage: bench-server.sh start|stop DIR" >&2; exit 2 ;;
esac
