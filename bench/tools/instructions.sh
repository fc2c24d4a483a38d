#!/usr/bin/env bash
# bench/tools/instructions.sh — instructions per request, counted by
# callgrind: a figure that does not depend on what else the machine runs
# (unlike CPU time), for comparing two builds of duet.
#
#   bench/tools/instructions.sh BINARY [BINARY...]
#
# Each binary (duet's, or a bench peer: bench/target/release/peer-*) serves
# `GET /hello/{name}` on one worker thread under
# `valgrind --tool=callgrind`; h2load (nghttp2-client) sends N and then 3N
# requests in two runs, and the difference of the two totals divided by 2N
# is the cost of one request, start-up and shutdown cancelled out. With
# N = 4000 and 2N, runs of the same binary differed by up to 500 (h1) to
# 1,100 (pipelined) instructions; with 10,000 and 30,000, h2c repeated
# within 70. Scenarios: h1 keep-alive (1 connection), h1 pipelined (depth
# 16), h1close (a new connection per request: `Connection: close`, which
# h2load answers by connecting again), h2c (1 connection, 16 streams at
# once). Env: N (default 10000), PORT (18090), SCENARIOS (default
# "h1 h1pipe h2c").
set -euo pipefail

N="${N:-10000}"
PORT="${PORT:-18090}"
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
command -v h2load >/dev/null || { echo "needs h2load (nghttp2-client)" >&2; exit 1; }

# Total instructions of one server run that answers `count` requests.
run() {
    local bin="$1" scenario="$2" count="$3" out
    out="$(mktemp)"
    local args=(--http "127.0.0.1:$PORT")
    case "$(basename "$bin")" in
        peer-*) ;; # current-thread runtime, cleartext unless asked
        *) args+=(--no-https --threads 1 --quiet) ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "${args[@]}" \
        >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 200); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/hello/probe" && break
        sleep 0.1
    done
    local url="http://127.0.0.1:$PORT/hello/bench"
    case "$scenario" in
        h1) h2load --h1 -n "$count" -c 1 "$url" >/dev/null ;;
        h1pipe) h2load --h1 -n "$count" -c 1 -m 16 "$url" >/dev/null ;;
        h1close) h2load --h1 -n "$count" -c 1 -H 'Connection: close' "$url" >/dev/null ;;
        h2c) h2load -n "$count" -c 1 -m 16 "$url" >/dev/null ;;
    esac
    # Peers install no signal handler, and a background job of a
    # non-interactive shell ignores SIGINT: they are stopped by SIGTERM
    # (callgrind still writes its counts); duet shuts down on SIGINT.
    case "$(basename "$bin")" in
        peer-*) kill -TERM "$pid" ;;
        *) kill -INT "$pid" ;;
    esac
    wait "$pid" || true
    # The "summary:" / "totals:" line holds the instruction count.
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
    rm -f "$out"
}

printf '%-28s %-8s %s\n' binary scenario instructions/request
for bin in "$@"; do
    for scenario in ${SCENARIOS:-h1 h1pipe h2c}; do
        one="$(run "$bin" "$scenario" "$N")"
        three="$(run "$bin" "$scenario" $((3 * N)))"
        printf '%-28s %-8s %d\n' "$(basename "$bin")" "$scenario" $(((three - one) / (2 * N)))
    done
done
