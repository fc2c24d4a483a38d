#!/usr/bin/env bash
# bench/soak.sh — duet under mixed load with attack connections mixed in.
#
#   bench/soak.sh                      # 10 minutes
#   SOAK_SECONDS=60 bench/soak.sh      # a short run
#   bench/soak.sh --no-build
#
# The demo binary (one worker, pinned to core 0) serves, for SOAK_SECONDS:
# well-behaved load in rounds of ROUND seconds — h2load over HTTP/1.1, h2c
# and h2 over TLS at once, new connections every round — while
# tools/attacks.py opens attack connections (CONTINUATION and empty-DATA
# floods, rapid reset, PING and SETTINGS floods, never-ending header
# blocks, a zero window, slowloris, CL+TE smuggling, oversized heads,
# garbage), a few percent of all connections. Every SAMPLE seconds the
# server's RSS, open file descriptors and CPU are recorded.
#
# Checks: no panic in the server's log; no failed well-behaved request;
# RSS flat over the second half; file descriptors back to the baseline at
# the end; every attack connection closed by the server or bounded.
# Writes bench/results/soak.md (and the raw samples under
# bench/results/raw/soak-<stamp>/); exits non-zero when a check fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD=1
for a in "$@"; do
    case "$a" in
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $a" >&2; exit 2 ;;
    esac
done

SOAK_SECONDS="${SOAK_SECONDS:-600}"
ROUND="${ROUND:-20}"
SAMPLE="${SAMPLE:-5}"
ATTACK_RATE="${ATTACK_RATE:-0.3}"
PORT_HTTP="${PORT_HTTP:-18180}"
PORT_HTTPS="${PORT_HTTPS:-18543}"
CPU_SERVER="${CPU_SERVER:-0}"
CPU_CLIENT="${CPU_CLIENT:-1}"
DUET_BIN="${DUET_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/duet}"

log() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

for t in h2load openssl python3 curl; do
    command -v "$t" >/dev/null || { echo "soak needs $t (apt-get install nghttp2-client openssl python3 curl)" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || true

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$HERE/results/raw/soak-$STAMP"
mkdir -p "$RAW"

if [ "$BUILD" = 1 ]; then
    log "building duet (release)"
    (cd "$ROOT" && cargo build --release -p duet-cli >"$RAW/build.log" 2>&1)
fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$RAW/key.pem" -out "$RAW/cert.pem" >"$RAW/openssl.log" 2>&1

taskset -c "$CPU_SERVER" "$DUET_BIN" --http "127.0.0.1:$PORT_HTTP" --https "127.0.0.1:$PORT_HTTPS" \
    --cert "$RAW/cert.pem" --key "$RAW/key.pem" --threads 1 --quiet >"$RAW/server.log" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
    [ "$(curl -s --max-time 1 "http://127.0.0.1:$PORT_HTTP/hello/probe")" = hello ] && break
    sleep 0.1
done
fds() { ls "/proc/$PID/fd" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }

# Warm up, then take the baseline.
h2load -n 2000 -c 4 "http://127.0.0.1:$PORT_HTTP/hello/warm" >/dev/null 2>&1 || true
sleep 1
BASE_FDS="$(fds)"
BASE_RSS="$(rss)"
log "pid $PID, baseline: $BASE_FDS fds, $BASE_RSS kB RSS; running ${SOAK_SECONDS}s"

START="$(date +%s)"
(
    while kill -0 "$PID" 2>/dev/null; do
        printf '%s\t%s\t%s\t%s\n' "$(($(date +%s) - START))" "$(rss)" "$(fds)" "$(cpu)"
        sleep "$SAMPLE"
    done
) >"$RAW/samples.tsv" &
SAMPLER=$!

taskset -c "$CPU_CLIENT" python3 "$HERE/tools/attacks.py" --port "$PORT_HTTP" --tls-port "$PORT_HTTPS" \
    --duration "$SOAK_SECONDS" --rate "$ATTACK_RATE" --out "$RAW/attacks.jsonl" &
ATTACKER=$!

round=0
while [ $(($(date +%s) - START)) -lt "$SOAK_SECONDS" ]; do
    round=$((round + 1))
    taskset -c "$CPU_CLIENT" h2load --h1 -c 8 -m 1 -D "$ROUND" "http://127.0.0.1:$PORT_HTTP/hello/h1" >"$RAW/h1.$round.txt" 2>&1 &
    a=$!
    taskset -c "$CPU_CLIENT" h2load -c 4 -m 8 -D "$ROUND" "http://127.0.0.1:$PORT_HTTP/hello/h2c" >"$RAW/h2c.$round.txt" 2>&1 &
    b=$!
    taskset -c "$CPU_CLIENT" h2load -c 4 -m 8 -D "$ROUND" "https://127.0.0.1:$PORT_HTTPS/hello/h2" >"$RAW/h2.$round.txt" 2>&1 &
    c=$!
    wait "$a" "$b" "$c" || true
done
log "load done after $round rounds; waiting for the attack connections"
wait "$ATTACKER" || true
# Let the server's own timeouts close what is left (header read 10 s).
sleep 15
END_FDS="$(fds)"
END_RSS="$(rss)"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$SAMPLER" 2>/dev/null || true
kill -TERM "$PID"
EXIT=0
wait "$PID" || EXIT=$?
trap - EXIT

python3 "$HERE/tools/soak_report.py" --raw "$RAW" --seconds "$SOAK_SECONDS" --base-fds "$BASE_FDS" \
    --end-fds "$END_FDS" --base-rss "$BASE_RSS" --end-rss "$END_RSS" --exit "$EXIT" \
    --commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" --load "$LOAD" \
    --md "$HERE/results/soak.md"
