#!/usr/bin/env bash
# Install the real servers and tools the tests start, by name: `scripts/install-deps.sh nginx [NAME…]`.
# Idempotent and fast when everything is present (no package index is touched then). Debian packages, as root
# (every developer machine and CI here is). Add a name by adding one `case` arm.
set -euo pipefail

apt_install() {
    # Try the current index first; refresh it once only if the package is not found.
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

for name in "$@"; do
    case "$name" in
        nginx)
            # Debian's smallest nginx has the gzip module the body tests need.
            command -v nginx >/dev/null || apt_install nginx-light
            ;;
        *)
            echo "install-deps: unknown dependency '$name'" >&2
            exit 2
            ;;
    esac
done
