#!/usr/bin/env bash
# Install a real server or tool the tests need, from Debian's packages. Idempotent and fast when present:
#   bash scripts/install-deps.sh tinyproxy microsocks
# scripts/test.sh calls it before `cargo test`; in CI (CI=true) a failed install fails the run.
set -euo pipefail

updated=0
apt_install() {
    # $1: the command that proves the package is there; $2: the Debian package.
    if command -v "$1" >/dev/null 2>&1; then
        return 0
    fi
    if [ "$updated" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
    command -v "$1" >/dev/null 2>&1 || { echo "install-deps: $2 installed but $1 is missing" >&2; exit 1; }
}

for name in "$@"; do
    case "$name" in
        # HTTP proxy (forwarding and CONNECT). Tests start their own instance with their own config; the
        # package's system service is not used (and is stopped so it does not hold port 8888).
        tinyproxy)
            apt_install tinyproxy tinyproxy
            if command -v service >/dev/null 2>&1; then service tinyproxy stop >/dev/null 2>&1 || true; fi
            ;;
        # SOCKS5 server (RFC 1928, RFC 1929 username/password with -u/-P).
        microsocks)
            apt_install microsocks microsocks
            ;;
        *)
            echo "install-deps: unknown dependency '$name'" >&2
            exit 2
            ;;
    esac
done
