#!/usr/bin/env bash
# Runs every test of duet. On Debian it first installs the external clients
# the tests use (curl; nghttp and h2load from nghttp2-client; chromium;
# openssl; haproxy, in front of duet in the load-balancer test) when they
# are missing. A test whose tool is missing fails, it
# does not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
want() {
  command -v "$1" >/dev/null 2>&1 && return
  [ -x "/usr/sbin/$1" ] && return
  local p
  for p in "${need[@]}"; do [ "$p" = "$2" ] && return; done
  need+=("$2")
}
want curl curl
want nghttp nghttp2-client
want h2load nghttp2-client
want chromium chromium
want openssl openssl
want haproxy haproxy
if ((${#need[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]} and no apt-get: the tests that use them will fail" >&2
  fi
fi

# Python's grpcio (and grpcio-tools, which brings protoc) for the gRPC
# interop test of the examples, in a venv of the checkout.
if ! .venv/bin/python -c "import grpc, grpc_tools" >/dev/null 2>&1; then
  if ! python3 -m venv --help >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  python3 -m venv .venv
  .venv/bin/pip install -q grpcio grpcio-tools
fi
export DUET_GRPC_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The docs, with the protocol cores too (public only with unstable-fuzz).
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --workspace
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps -p duet-http --features unstable-fuzz
cargo test --workspace
# Every fuzz target for a short while, from the seeds in fuzz/seeds/ (a
# crash fails the run; scripts/fuzz.sh 600 for a longer local run).
scripts/fuzz.sh 20
