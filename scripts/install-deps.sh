#!/usr/bin/env bash
# Install the real servers the tests start (Debian packages), idempotent and fast when present:
#   scripts/install-deps.sh nginx tinyproxy microsocks
# nginx: Debian's nginx-light (has the SSL module); the package's own system nginx on port 80 is stopped, the
# tests run their own instances on free loopback ports. Needs root (every developer machine and CI here has it).
set -euo pipefail
for name in "$@"; do
    case $name in
        nginx)
            if ! command -v nginx >/dev/null; then
                apt-get install -y --no-install-recommends nginx-light >/dev/null 2>&1 ||
                    { apt-get update >/dev/null && apt-get install -y --no-install-recommends nginx-light >/dev/null; }
                { systemctl stop nginx || service nginx stop; } >/dev/null 2>&1 || true
            fi
            nginx -V 2>&1 | grep -q -- --with-http_ssl_module || { echo "install-deps: nginx lacks SSL" >&2; exit 1; }
            ;;
        # HTTP proxy (forwarding and CONNECT): tests start their own instance with their own config; the
        # package's system service is stopped so it does not hold port 8888.
        tinyproxy)
            if ! command -v tinyproxy >/dev/null; then
                apt-get install -y --no-install-recommends tinyproxy >/dev/null 2>&1 ||
                    { apt-get update >/dev/null && apt-get install -y --no-install-recommends tinyproxy >/dev/null; }
                { systemctl stop tinyproxy || service tinyproxy stop; } >/dev/null 2>&1 || true
            fi
            command -v tinyproxy >/dev/null || { echo "install-deps: tinyproxy missing" >&2; exit 1; }
            ;;
        # SOCKS5 server (RFC 1928; RFC 1929 username/password with -u/-P).
        microsocks)
            if ! command -v microsocks >/dev/null; then
                apt-get install -y --no-install-recommends microsocks >/dev/null 2>&1 ||
                    { apt-get update >/dev/null && apt-get install -y --no-install-recommends microsocks >/dev/null; }
            fi
            command -v microsocks >/dev/null || { echo "install-deps: microsocks missing" >&2; exit 1; }
            ;;
        *)
            echo "install-deps: unknown dependency $name" >&2
            exit 2
            ;;
    esac
done
