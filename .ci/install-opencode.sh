#!/usr/bin/env bash
# Install the pinned real OpenCode server into target/opencode for the real-server tests.
# The test fixture does the same on demand (under a lock); CI runs this first so a missing npm fails early.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=opencode-linux-x64
version=1.18.34
dest=target/opencode
bin="$dest/node_modules/$pkg/bin/opencode"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "$version"; then
  echo "install-opencode: $pkg@$version already in $dest"
  exit 0
fi
command -v npm >/dev/null || { echo "install-opencode: npm is required to install $pkg@$version" >&2; exit 1; }
mkdir -p target
tmp="$dest.tmp-$$"
rm -rf "$tmp"
npm install --no-audit --no-fund --prefix "$tmp" "$pkg@$version" >/dev/null
[ -x "$tmp/node_modules/$pkg/bin/opencode" ] || { echo "install-opencode: $bin missing after npm install" >&2; exit 1; }
rm -rf "$dest"
mv "$tmp" "$dest"
echo "install-opencode: $pkg@$version installed in $dest ($("$bin" --version))"
