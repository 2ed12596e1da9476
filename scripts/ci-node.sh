#!/usr/bin/env bash
# Installs Node MAJOR from npm's node-linux-<arch> package (the binary and the headers that
# native modules build against) into a cache folder, and prints the folder holding bin/node
# and include/node:   nodedir="$(bash scripts/ci-node.sh 22)"
# The package comes from the npm registry like any dependency; nothing else is downloaded.
set -euo pipefail
major="${1:?usage: ci-node.sh MAJOR}"
case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "ci-node: no node-linux package for $(uname -m)" >&2; exit 1 ;; esac
prefix="${SOUS_NODE_CACHE:-/var/tmp/sous-node}/$major"
dir="$prefix/node_modules/node-linux-$arch"
if [ ! -x "$dir/bin/node" ] || [ ! -d "$dir/include/node" ]; then
  mkdir -p "$prefix"
  echo "ci-node: installing node-linux-$arch@$major from the npm registry" >&2
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock "node-linux-$arch@$major" >&2
fi
"$dir/bin/node" --version >&2
echo "$dir"
