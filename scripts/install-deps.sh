#!/usr/bin/env bash
# Install the real servers the tests start (Debian packages), idempotent and fast when present:
#   scripts/install-deps.sh nginx [more names...]
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
        *)
            echo "install-deps: unknown dependency $name" >&2
            exit 2
            ;;
    esac
done
