#!/usr/bin/env bash
# What metrics cost: server CPU per request with the Prometheus recorder
# installed (the demo binary's default, here with --admin as in production)
# and without (--no-metrics), alternating, REPEAT runs of each.
#
#   cargo build --release -p duet-cli
#   bench/metrics_cost.sh                 # HTTP/1.1 (wrk) and h2c (h2load)
#   REPEAT=3 DURATION=10 bench/metrics_cost.sh
#
# The server runs with one worker pinned to core 0 (`taskset -c 0`), the
# load generator on core 1. CPU is the server process's utime+stime from
# /proc/PID/stat, read before and after each run; µs per request is that
# difference over the requests the generator completed. Prints one line
# per run and the medians. On a machine shared with other work CPU time per
# request swings by 10% and more between runs: compare medians of several
# alternating runs, and profile (`perf record`) to see what metrics take.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/duet}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-10}
H2_REQUESTS=${H2_REQUESTS:-200000}
PORT=${PORT:-18180}
ADMIN=${ADMIN:-18190}
TICKS=$(getconf CLK_TCK)

for tool in wrk h2load taskset curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "build first: cargo build --release -p duet-cli" >&2; exit 2; }

cpu_ticks() { # utime+stime of process $1, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

start_server() { # $@: extra flags; sets PID
    taskset -c 0 "$BIN" --http "127.0.0.1:$PORT" --no-https --threads 1 --quiet "$@" \
        >/dev/null 2>&1 &
    PID=$!
    local deadline=$((SECONDS + 20))
    until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
        [ $SECONDS -lt $deadline ] || { echo "server did not start" >&2; exit 1; }
        kill -0 "$PID" 2>/dev/null || { echo "server exited" >&2; exit 1; }
    done
}

stop_server() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

run_one() { # $1: config name, $2: load (h1|h2c); prints "config load requests cpu_us_per_req"
    local flags=()
    [ "$1" = metrics ] && flags=(--admin "127.0.0.1:$ADMIN")
    [ "$1" = off ] && flags=(--no-metrics)
    start_server "${flags[@]}"
    local before after n out
    before=$(cpu_ticks "$PID")
    if [ "$2" = h1 ]; then
        out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/")
        n=$(awk '/requests in/ { print $1 }' <<<"$out")
    else
        out=$(taskset -c 1 h2load -c64 -m10 -n"$H2_REQUESTS" "http://127.0.0.1:$PORT/")
        n=$(awk '/^requests:/ { print $8 }' <<<"$out")
    fi
    after=$(cpu_ticks "$PID")
    if [ "$1" = metrics ]; then
        # The recorder saw the load (and only it: the probe above is counted too).
        curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -q '^duet_requests_total' ||
            { echo "no metrics rendered" >&2; exit 1; }
    fi
    stop_server
    awk -v c="$1" -v l="$2" -v n="$n" -v t=$((after - before)) -v hz="$TICKS" \
        'BEGIN { printf "%s %s %d %.3f\n", c, l, n, t / hz * 1e6 / n }'
}

results=$(mktemp)
trap 'rm -f "$results"; [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true' EXIT
for load in h1 h2c; do
    for i in $(seq "$REPEAT"); do
        # Alternating which goes first, so that neither always follows the other.
        order="off metrics"
        [ $((i % 2)) -eq 0 ] && order="metrics off"
        for config in $order; do
            line=$(run_one "$config" "$load")
            echo "run $i: $line"
            echo "$line" >>"$results"
        done
    done
done

echo
median() { # $1 config, $2 load, $3 column
    awk -v c="$1" -v l="$2" -v k="$3" '$1 == c && $2 == l { print $k }' "$results" | sort -g |
        awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
echo "columns: config load requests cpu_us_per_request"
echo "medians (CPU µs per request):"
for load in h1 h2c; do
    awk -v l="$load" -v a="$(median off "$load" 4)" -v b="$(median metrics "$load" 4)" \
        'BEGIN { printf "%-4s off %.3f  metrics %.3f  ratio %.3f (%+.1f%%)\n", l, a, b, b / a, (b / a - 1) * 100 }'
done
