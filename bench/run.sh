#!/usr/bin/env bash
# bench/run.sh — the one command of duet's benchmark (see bench/README.md).
#
#   bench/run.sh                               # everything: ~55 min
#   DURATION=2 REPEAT=1 bench/run.sh --quick   # smoke run: ~2 min
#   bench/run.sh --servers hyper,nginx --scenarios a,c,g --no-build
#
# Installs missing tools (apt-get), builds duet and the peers, runs every
# scenario against every server (one worker thread, pinned to core 0; the
# load generator pinned to core 1), and writes bench/results/latest.md,
# bench/results/latest.svg and the raw outputs in bench/results/raw/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"

usage() {
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --quick              smaller downloads (256 MiB), 200 SSE clients, 2,000 idle
                       connections, 1 s warm-up (unless set by the variables)
  --no-build           use the binaries already built
  --servers LIST       comma-separated: duet,hyper,axum,axum-duet,actix,nginx,h2o
                       (and duet-base: the binary DUET_BASE_BIN, an earlier build);
                       multi-core: duet-mt (one worker per core), duet-per-core
                       (--per-core), hyper-mt (hyper on tokio's multi-thread
                       runtime)
  --both-cores         pin nothing: servers and load generators share every
                       core (for the multi-core servers); report in
                       results/multicore.md unless REPORT is set
  --scenarios LIST     comma-separated ids or letters:
                       a = h1,h1pipe  b = h1close  c = h2c  d = h2tls
                       e = dl_h1,dl_h2,dlf_h1,dlf_h2  f = sse
                       g = idle_tcp,idle_h1,idle_h2,idle_h2req,idle_h1tls,idle_h2tls
Environment: DURATION (s, 10) REPEAT (3) WARMUP (s) DL_BYTES DLF_COUNT (4) SSE_CLIENTS
  SSE_INTERVAL_MS (100) IDLE_CONNS PORT_HTTP (18080) PORT_H2C_NGINX (18081)
  PORT_HTTPS (18443) CPU_SERVER (0) CPU_CLIENT (1) DUET_BIN DUET_ARGS
  DUET_BASE_BIN REPORT (latest: results/REPORT.md and .svg)
EOF
}

QUICK=0
BUILD=1
BOTH_CORES=0
SERVERS="${SERVERS:-duet hyper axum actix nginx h2o}"
SCENARIOS="${SCENARIOS:-a b c d e f g}"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-build) BUILD=0 ;;
        --both-cores) BOTH_CORES=1 ;;
        --servers) SERVERS="${2//,/ }"; shift ;;
        --scenarios) SCENARIOS="${2//,/ }"; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
if [ "$QUICK" = 1 ]; then
    WARMUP="${WARMUP:-1}"; DL_BYTES="${DL_BYTES:-268435456}"
    SSE_CLIENTS="${SSE_CLIENTS:-200}"; IDLE_CONNS="${IDLE_CONNS:-2000}"
else
    WARMUP="${WARMUP:-2}"; DL_BYTES="${DL_BYTES:-1073741824}"
    SSE_CLIENTS="${SSE_CLIENTS:-1000}"; IDLE_CONNS="${IDLE_CONNS:-10000}"
fi
DLF_COUNT="${DLF_COUNT:-4}"
SSE_INTERVAL_MS="${SSE_INTERVAL_MS:-100}"
PORT_HTTP="${PORT_HTTP:-18080}"
PORT_H2C_NGINX="${PORT_H2C_NGINX:-18081}"
PORT_HTTPS="${PORT_HTTPS:-18443}"
CPU_SERVER="${CPU_SERVER:-0}"
CPU_CLIENT="${CPU_CLIENT:-1}"
DUET_FROM="built from this checkout"
if [ -n "${DUET_BIN:-}" ]; then DUET_FROM="DUET_BIN given"; fi
DUET_BIN="${DUET_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/duet}"
PEERS_BIN="$HERE/target/release"

# Expand scenario letters into ids.
expanded=""
for s in $SCENARIOS; do
    case "$s" in
        a) expanded+=" h1 h1pipe" ;;
        b) expanded+=" h1close" ;;
        c) expanded+=" h2c" ;;
        d) expanded+=" h2tls" ;;
        e) expanded+=" dl_h1 dl_h2 dlf_h1 dlf_h2" ;;
        f) expanded+=" sse" ;;
        g) expanded+=" idle_tcp idle_h1 idle_h2 idle_h2req idle_h1tls idle_h2tls" ;;
        h1 | h1pipe | h1close | h2c | h2tls | dl_h1 | dl_h2 | dlf_h1 | dlf_h2 | sse | idle_tcp | idle_h1 | idle_h2 | idle_h2req | \
            idle_h1tls | idle_h2tls) expanded+=" $s" ;;
        *) echo "unknown scenario: $s" >&2; exit 2 ;;
    esac
done
SCENARIOS="$expanded"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ tools

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
    log "installing $* (apt-get)"
    if [ "$APT_UPDATED" = 0 ]; then
        $SUDO apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || apt_install "$2"
}
need wrk wrk
need h2load nghttp2-client
need nginx nginx-light
need openssl openssl
need curl curl
need taskset util-linux
need pgrep procps
need python3 python3
# h2o only when selected: nothing else reads it, and a run without it should
# not need the package.
case " $SERVERS " in *" h2o "*) need h2o h2o ;; esac
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
H2O_BIN="$(command -v h2o || echo /usr/bin/h2o)"
PY="$(command -v python3)"
HZ="$(getconf CLK_TCK)"

if [ "$BOTH_CORES" = 1 ]; then
    log "not pinned: servers and load generators share all $(nproc) cores"
    PIN_S=()
    PIN_C=()
elif [ "$(nproc)" -lt 2 ]; then
    log "warning: fewer than 2 cores; server and load generator share a core"
    PIN_S=()
    PIN_C=()
else
    PIN_S=(taskset -c "$CPU_SERVER")
    PIN_C=(taskset -c "$CPU_CLIENT")
fi
# Room for 10,000 idle connections on each side.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# ------------------------------------------------------------- workspace

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$HERE/results"
RAW="$RESULTS/raw/$STAMP"
mkdir -p "$RAW"
JSONL="$RAW/results.jsonl"
: >"$JSONL"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/duet-bench.XXXXXX")"
chmod 755 "$TMP" # nginx's worker and h2o (user nobody when started as root) read the served files
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
SERVER_PID=""
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in "$PORT_HTTP" "$PORT_H2C_NGINX" "$PORT_HTTPS"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "port $p is in use; set PORT_HTTP / PORT_H2C_NGINX / PORT_HTTPS" >&2
        exit 1
    fi
done

declare -A DEAD=()
if [ "$BUILD" = 1 ]; then
    case " $SERVERS " in *" duet "* | *" duet-mt "* | *" duet-per-core "*)
        log "building duet (cargo build --release; log in raw/build-duet.log)"
        if ! (cd "$ROOT" && cargo build --release -p duet-cli) >"$RAW/build-duet.log" 2>&1; then
            DEAD[duet]="cargo build --release failed (raw/$STAMP/build-duet.log)"
            log "duet: ${DEAD[duet]}"
        fi ;;
    esac
    log "building the peers (bench/peers; log in raw/build-peers.log)"
    if ! (cd "$HERE/peers" && cargo build --release --target-dir "$HERE/target") >"$RAW/build-peers.log" 2>&1; then
        tail -20 "$RAW/build-peers.log" >&2
        echo "the peers failed to build" >&2
        exit 1
    fi
fi

# TLS certificate for every server (rustls wants a SAN; EC P-256 keeps handshakes cheap).
CERT="$TMP/cert.pem"
KEY="$TMP/key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$KEY" -out "$CERT" -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$RAW/openssl.log" 2>&1 ||
    { cat "$RAW/openssl.log" >&2; echo "openssl req failed: no certificate for the TLS scenarios" >&2; exit 1; }

# duet: pass --https and the certificate if the binary takes them (else it
# may use its self-signed mode). DUET_ARGS adds arguments.
# Options duet does not list in --help yet are left out (its TLS scenario is
# then skipped with a reason).
DUET_TLS=()
DUET_HELP="$("$DUET_BIN" --help 2>&1 || true)"
if grep -q -- '--https' <<<"$DUET_HELP"; then
    DUET_TLS+=(--https "127.0.0.1:$PORT_HTTPS")
fi
if grep -q -- '--cert' <<<"$DUET_HELP"; then
    DUET_TLS+=(--cert "$CERT" --key "$KEY")
fi

# nginx: generated config in the temp dir; never the system one.
NGX="$TMP/nginx"
mkdir -p "$NGX/www/bytes"
# (" dl" matches the dl_ and the dlf_ scenarios.)
case " $SERVERS | $SCENARIOS " in *nginx*" dl"* | *h2o*" dl"*)
    # Real zeros, not a sparse file: reading holes costs nginx more CPU than
    # serving cached pages. Written once (h2o's tree links to it below); it
    # stays in the page cache.
    head -c "$DL_BYTES" /dev/zero >"$NGX/www/bytes/$DL_BYTES" ;;
esac
NGX_VER="$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')"
if printf '%s\n' 1.25.1 "$NGX_VER" | sort -V -C; then
    NGX_H2C="listen 127.0.0.1:$PORT_H2C_NGINX; http2 on;"
    NGX_TLS="listen 127.0.0.1:$PORT_HTTPS ssl; http2 on;"
else
    NGX_H2C="listen 127.0.0.1:$PORT_H2C_NGINX http2;"
    NGX_TLS="listen 127.0.0.1:$PORT_HTTPS ssl http2;"
fi
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 30000; }
http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    # TLS 1.3 as the Rust servers negotiate (before 1.23.4, nginx's default
    # stops at TLS 1.2).
    ssl_protocols TLSv1.2 TLSv1.3;
    root $NGX/www;
    default_type application/octet-stream;
    sendfile on; # as in Debian's stock nginx.conf
    server { listen 127.0.0.1:$PORT_HTTP; include $NGX/locations.conf; }
    server { $NGX_H2C include $NGX/locations.conf; }
    server { $NGX_TLS include $NGX/locations.conf; }
}
EOF
cat >"$NGX/locations.conf" <<'EOF'
location /hello/ { default_type text/plain; return 200 "hello"; }
location /bytes/ { }
EOF

# h2o: generated config in the temp dir as well. h2o 2.2 has no
# fixed-response directive and its mruby handler costs about 4x a file, so
# /hello/NAME is a 5-byte file for each name the harness asks for (probe:
# readiness and protocol checks; bench: the load; idle: the idle scenarios);
# any other name is a 404. /bytes/DL_BYTES is a hard link to nginx's file.
H2O="$TMP/h2o"
mkdir -p "$H2O/www/hello" "$H2O/www/bytes"
for name in probe bench idle; do printf hello >"$H2O/www/hello/$name"; done
if [ -f "$NGX/www/bytes/$DL_BYTES" ]; then
    ln "$NGX/www/bytes/$DL_BYTES" "$H2O/www/bytes/$DL_BYTES"
fi
# HTTP/1.1 and h2c (prior knowledge) share the cleartext port, h2 by ALPN on
# the TLS port. max-connections (default 1024) and the timeouts (default 10 s)
# are raised so the idle scenarios' 10,000 connections are accepted and kept.
# No access-log directive: no access log. No pid-file: h2o writes it after
# switching to nobody, and the harness has the PID. No error-log: errors go
# to stderr, i.e. the run's server log. ocsp-update-interval 0: no periodic
# OCSP fetcher process (the certificate is self-signed).
cat >"$H2O/h2o.conf" <<EOF
num-threads: 1
max-connections: 30000
http1-request-timeout: 300
http2-idle-timeout: 300
handshake-timeout: 300
file.mime.setdefaulttype: text/plain
listen:
  host: 127.0.0.1
  port: $PORT_HTTP
listen:
  host: 127.0.0.1
  port: $PORT_HTTPS
  ssl:
    certificate-file: $CERT
    key-file: $KEY
    ocsp-update-interval: 0
hosts:
  default:
    paths:
      /:
        file.dir: $H2O/www
EOF
H2O_VER=""
case " $SERVERS " in *" h2o "*) H2O_VER="$("$H2O_BIN" --version 2>/dev/null | sed -n 's/^h2o version //p')" ;; esac

# ---------------------------------------------------------------- servers

server_cmd() { # fills CMD for server $1
    case "$1" in
        duet) CMD=("$DUET_BIN" --http "127.0.0.1:$PORT_HTTP" --threads 1 --quiet "${DUET_TLS[@]}") ;;
        # An earlier build of duet (DUET_BASE_BIN), to compare a change
        # against its base in the same run.
        duet-base) CMD=("${DUET_BASE_BIN:-}" --http "127.0.0.1:$PORT_HTTP" --threads 1 --quiet "${DUET_TLS[@]}") ;;
        # Every core: the default multi-threaded runtime (one worker per
        # core), and one single-threaded runtime per core (--per-core).
        duet-mt) CMD=("$DUET_BIN" --http "127.0.0.1:$PORT_HTTP" --quiet "${DUET_TLS[@]}") ;;
        duet-per-core) CMD=("$DUET_BIN" --http "127.0.0.1:$PORT_HTTP" --per-core --quiet "${DUET_TLS[@]}") ;;
        hyper-mt) CMD=("$PEERS_BIN/peer-hyper" --http "127.0.0.1:$PORT_HTTP" --multi-thread
            --https "127.0.0.1:$PORT_HTTPS" --cert "$CERT" --key "$KEY") ;;
        hyper | axum | axum-duet | actix) CMD=("$PEERS_BIN/peer-$1" --http "127.0.0.1:$PORT_HTTP"
            --https "127.0.0.1:$PORT_HTTPS" --cert "$CERT" --key "$KEY") ;;
        nginx) CMD=("$NGINX" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g "daemon off;") ;;
        # Worker mode (the default, without -m): h2o stays in the foreground,
        # so the PID started is h2o's own process (not the start_server
        # wrapper of -m master).
        h2o) CMD=("$H2O_BIN" -c "$H2O/h2o.conf") ;;
        *) return 1 ;;
    esac
    if [ -n "${DUET_ARGS:-}" ] && case "$1" in duet | duet-*) true ;; *) false ;; esac; then
        # shellcheck disable=SC2206 # word splitting is the point
        CMD+=($DUET_ARGS)
    fi
}

# nginx needs a port of its own for h2c; h2o, like the Rust servers, tells
# h2c from HTTP/1.1 by the preface on one port.
h2c_port() { if [ "$1" = nginx ]; then echo "$PORT_H2C_NGINX"; else echo "$PORT_HTTP"; fi; }

start_server() { # start_server NAME LOGFILE; sets SERVER_PID, SERVER_PIDS or returns 1 with START_ERR
    local name="$1" logf="$2" i
    START_ERR=""
    server_cmd "$name"
    if [ ! -x "${CMD[0]}" ]; then
        START_ERR="binary not found: ${CMD[0]#"$ROOT"/}"
        return 1
    fi
    "${PIN_S[@]}" "${CMD[@]}" >"$logf" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 100); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            START_ERR="exited at start: $(tail -c 200 "$logf" | tr '\n' ' ')"
            wait "$SERVER_PID" 2>/dev/null || true
            SERVER_PID=""
            return 1
        fi
        if [ "$(curl -s --max-time 1 "http://127.0.0.1:$PORT_HTTP/hello/probe" 2>/dev/null)" = hello ]; then
            if [ "$name" = h2o ]; then
                # h2o's children: neverbleed (its private-key process, an
                # h2o fork) counts; the crash handler (a perl script waiting
                # for a backtrace on a pipe) is not the server.
                SERVER_PIDS="$SERVER_PID $(pgrep -x h2o -P "$SERVER_PID" | tr '\n' ' ')"
            else
                SERVER_PIDS="$SERVER_PID $(pgrep -P "$SERVER_PID" | tr '\n' ' ')"
            fi
            return 0
        fi
        sleep 0.1
    done
    START_ERR="no 'hello' from GET /hello/probe on port $PORT_HTTP within 10 s"
    stop_server
    return 1
}

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        SERVER_PIDS=""
    fi
}

cpu_seconds() { # utime+stime of the server's processes (all threads), seconds
    local t=0 p line f
    for p in $SERVER_PIDS; do
        if [ -r "/proc/$p/stat" ]; then
            read -r line <"/proc/$p/stat" || true
            line="${line##*) }"
            read -r -a f <<<"$line"
            t=$((t + f[11] + f[12]))
        fi
    done
    awk -v t="$t" -v hz="$HZ" 'BEGIN { printf "%.4f", t / hz }'
}

hwm_kb() { # peak RSS of the server's processes, kB
    local t=0 p v
    for p in $SERVER_PIDS; do
        v="$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)"
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# ------------------------------------------------------------ scenarios

# Checks that the server speaks what the scenario needs; prints a reason if not.
unsupported() { # unsupported SCENARIO SERVER
    local sc="$1" sv="$2" out
    case "$sc" in
        h2c | dl_h2 | dlf_h2 | idle_h2 | idle_h2req)
            out="$(curl -s --http2-prior-knowledge --max-time 2 "http://127.0.0.1:$(h2c_port "$sv")/hello/probe" || true)"
            [ "$out" = hello ] || echo "no h2c (prior knowledge) answer on /hello/" ;;
        h2tls | idle_h2tls)
            out="$(curl -sk --http2 --max-time 2 -o /dev/null -w '%{http_code} %{http_version}' \
                "https://127.0.0.1:$PORT_HTTPS/hello/probe" || true)"
            [ "$out" = "200 2" ] || echo "no h2 over TLS on port $PORT_HTTPS (curl said: '$out')" ;;
        idle_h1tls)
            out="$(curl -sk --http1.1 --max-time 2 -o /dev/null -w '%{http_code} %{http_version}' \
                "https://127.0.0.1:$PORT_HTTPS/hello/probe" || true)"
            [ "$out" = "200 1.1" ] || echo "no HTTP/1.1 over TLS on port $PORT_HTTPS (curl said: '$out')" ;;
        sse)
            if [ "$sv" = nginx ] || [ "$sv" = h2o ]; then
                echo "n/a: $sv serves no SSE endpoint"
            else
                out="$(curl -sN --max-time 1.5 "http://127.0.0.1:$PORT_HTTP/sse?interval_ms=100" 2>/dev/null || true)"
                case "$out" in *"data:"*) ;; *) echo "GET /sse?interval_ms=100 sent no event within 1.5 s" ;; esac
            fi ;;
    esac
    case "$sc" in
        dl_h1 | dl_h2 | dlf_h1 | dlf_h2)
            case "$sv" in nginx | h2o) return 0 ;; esac # serve a file of exactly DL_BYTES
            out="$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{size_download}' \
                "http://127.0.0.1:$PORT_HTTP/bytes/16" 2>/dev/null || true)"
            [ "$out" = "200 16" ] || echo "GET /bytes/16 did not return 16 bytes (got '$out')" ;;
    esac
}

gen_cmd() { # gen_cmd SCENARIO SERVER SECONDS LOGFILE: fills GEN
    local sc="$1" sv="$2" secs="$3" lf="$4"
    local h1="http://127.0.0.1:$PORT_HTTP" h2c="http://127.0.0.1:$(h2c_port "$sv")"
    case "$sc" in
        h1) GEN=(wrk -t1 -c64 -d"${secs}s" --latency "$h1/hello/bench") ;;
        h1close) GEN=(wrk -t1 -c64 -d"${secs}s" --latency -H "Connection: close" "$h1/hello/bench") ;;
        h1pipe) GEN=(h2load --h1 -c64 -m16 -D "$secs" --log-file="$lf" "$h1/hello/bench") ;;
        h2c) GEN=(h2load -c16 -m32 -D "$secs" --log-file="$lf" "$h2c/hello/bench") ;;
        h2tls) GEN=(h2load -c16 -m32 -D "$secs" --log-file="$lf" "https://127.0.0.1:$PORT_HTTPS/hello/bench") ;;
    esac
}

run_one() { # run_one SCENARIO SERVER REP
    local sc="$1" sv="$2" rep="$3"
    local tag="$rep-$sc-$sv" reason c0 c1 hwm kind
    local out="$RAW/$tag.out" lf="$RAW/$tag.log"
    local rec=("$PY" "$HERE/tools/results.py" record --jsonl "$JSONL" --scenario "$sc" --server "$sv" --rep "$rep")
    if [ -n "${DEAD[$sv]:-}" ]; then
        "${rec[@]}" --kind skip --reason "${DEAD[$sv]}"
        return
    fi
    if ! start_server "$sv" "$RAW/$tag.server.log"; then
        DEAD[$sv]="did not start: $START_ERR"
        "${rec[@]}" --kind skip --reason "${DEAD[$sv]}"
        return
    fi
    reason="$(unsupported "$sc" "$sv")"
    if [ -n "$reason" ]; then
        stop_server
        "${rec[@]}" --kind skip --reason "$reason"
        return
    fi
    local pids_csv
    pids_csv="$(echo "$SERVER_PIDS" | xargs | tr ' ' ',')"
    case "$sc" in
        h1 | h1close | h1pipe | h2c | h2tls)
            gen_cmd "$sc" "$sv" "$WARMUP" /dev/null
            "${PIN_C[@]}" "${GEN[@]}" >/dev/null 2>&1 || true
            gen_cmd "$sc" "$sv" "$DURATION" "$lf"
            kind=h2load
            case "$sc" in h1 | h1close) kind=wrk ;; esac
            c0="$(cpu_seconds)"
            "${PIN_C[@]}" "${GEN[@]}" >"$out" 2>&1 || true
            c1="$(cpu_seconds)"
            ;;
        dl_h1 | dl_h2)
            local url="http://127.0.0.1:$PORT_HTTP/bytes/$DL_BYTES" proto=(--http1.1)
            if [ "$sc" = dl_h2 ]; then
                url="http://127.0.0.1:$(h2c_port "$sv")/bytes/$DL_BYTES"
                proto=(--http2-prior-knowledge)
            fi
            kind=curl
            c0="$(cpu_seconds)"
            "${PIN_C[@]}" curl -s "${proto[@]}" -o /dev/null --max-time 300 \
                -w '%{http_code} %{size_download} %{speed_download} %{time_total}\n' "$url" >"$out" 2>&1 || true
            c1="$(cpu_seconds)"
            ;;
        dlf_h1 | dlf_h2)
            # hyper's client (bench/peers/fetch) receives both versions
            # alike, so the two rows compare the server's own framing.
            local url="http://127.0.0.1:$PORT_HTTP/bytes/$DL_BYTES" proto=()
            if [ "$sc" = dlf_h2 ]; then
                url="http://127.0.0.1:$(h2c_port "$sv")/bytes/$DL_BYTES"
                proto=(--h2)
            fi
            kind=curl
            c0="$(cpu_seconds)"
            "${PIN_C[@]}" timeout 300 "$PEERS_BIN/fetch" "${proto[@]}" "$url" "$DLF_COUNT" >"$out" 2>&1 || true
            c1="$(cpu_seconds)"
            ;;
        sse)
            kind=json
            c0="" c1=""
            "${PIN_C[@]}" "$PY" "$HERE/tools/clients.py" sse --port "$PORT_HTTP" --clients "$SSE_CLIENTS" \
                --interval-ms "$SSE_INTERVAL_MS" --duration "$DURATION" --pids "$pids_csv" >"$out" 2>"$lf" || true
            ;;
        idle_tcp | idle_h1 | idle_h2 | idle_h2req | idle_h1tls | idle_h2tls)
            kind=json
            c0="" c1=""
            local mode=h1 port="$PORT_HTTP"
            if [ "$sc" = idle_tcp ]; then mode=tcp; fi
            if [ "$sc" = idle_h2 ]; then mode=h2c; port="$(h2c_port "$sv")"; fi
            if [ "$sc" = idle_h2req ]; then mode=h2req; port="$(h2c_port "$sv")"; fi
            if [ "$sc" = idle_h1tls ]; then mode=h1tls; port="$PORT_HTTPS"; fi
            if [ "$sc" = idle_h2tls ]; then mode=h2tls; port="$PORT_HTTPS"; fi
            "${PIN_C[@]}" "$PY" "$HERE/tools/clients.py" idle --port "$port" --mode "$mode" \
                --n "$IDLE_CONNS" --pids "$pids_csv" >"$out" 2>"$lf" || true
            ;;
    esac
    hwm="$(hwm_kb)"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "server exited during the run" >>"$out"
    fi
    stop_server
    local extra=()
    [ -n "$c0" ] && extra+=(--cpu0 "$c0" --cpu1 "$c1")
    [ "$kind" = h2load ] && extra+=(--log "$lf")
    case "$sc" in
        dl_h1 | dl_h2) extra+=(--expect-bytes "$DL_BYTES") ;;
        dlf_h1 | dlf_h2) extra+=(--expect-bytes "$((DL_BYTES * DLF_COUNT))") ;;
    esac
    "${rec[@]}" --kind "$kind" --out "$out" --hwm "$hwm" "${extra[@]}"
    # h2load per-request logs are large; keep them only for this run's report.
    [ "$kind" = h2load ] && gzip -f "$lf" 2>/dev/null || true
}

# ------------------------------------------------------------------- run

read -r -a SV <<<"$SERVERS"
log "servers: ${SV[*]}; scenarios:$SCENARIOS; ${DURATION}s x $REPEAT; raw: results/raw/$STAMP"
for rep in $(seq 1 "$REPEAT"); do
    # Alternate servers within the run; rotate the order on each repeat.
    n=${#SV[@]}
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${SV[$(((i + rep - 1) % n))]}"); done
    for sc in $SCENARIOS; do
        log "repeat $rep/$REPEAT, scenario $sc"
        for sv in "${order[@]}"; do
            run_one "$sc" "$sv" "$rep"
        done
    done
done

{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
    echo "duet=$("$DUET_BIN" --version 2>/dev/null | head -1 || echo 'no binary') ($DUET_FROM)"
    if [ -n "${DUET_BASE_BIN:-}" ]; then echo "duet_base=$DUET_BASE_BIN"; fi
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "load=$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "duration=$DURATION"
    echo "warmup=$WARMUP"
    echo "repeat=$REPEAT"
    echo "quick=$QUICK"
    echo "cpu_server=$CPU_SERVER"
    echo "cpu_client=$CPU_CLIENT"
    if [ "$BOTH_CORES" = 1 ]; then echo "pinning=none"; fi
    echo "tools=$(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), $(h2load --version 2>&1 | head -1), nginx $NGX_VER,${H2O_VER:+ h2o $H2O_VER,} $(curl --version | head -1 | awk '{print "curl " $2}'), $("$PY" --version 2>&1)"
    echo "peers=$(awk '/^name = "(hyper|hyper-util|axum|actix-web|tokio|rustls)"$/ { n = $3; getline; printf "%s %s, ", n, $3 }' "$HERE/peers/Cargo.lock" | tr -d '"' | sed 's/, $//')"
    if [ -n "$H2O_VER" ]; then
        echo "note_servers=h2o serves /hello/ as a static 5-byte file (h2o $H2O_VER has no fixed-response directive; its mruby handler costs about 4× as much): under load it pays a pread per response that the other servers, answering from memory, do not, and its file handler adds last-modified, etag and accept-ranges headers."
    fi
    echo "note_dl_h1=Downloads GET /bytes/$DL_BYTES ($((DL_BYTES / 1048576)) MiB) once per run with curl; nginx sends a file of zeros (in the page cache) with sendfile on (as in Debian's stock config; HTTP/2 does not use sendfile)${H2O_VER:+; h2o reads the same file with pread and sends it with writev (h2o $H2O_VER has no sendfile)}."
    echo "note_dl_h2=Same download over h2c with curl's HTTP/2 (its own flow-control windows)."
    echo "note_dlf_h1=The same download $DLF_COUNT times in a row on one connection (less noise than one) with hyper's client (bench/peers/fetch). curl receives HTTP/2 at about half its HTTP/1.1 rate, and a sender's CPU per GiB rises when its receiver is slower; this client receives both versions at closer rates, so these two sections compare each server's HTTP/2 with its own HTTP/1.1."
    echo "note_dlf_h2=Same over h2c with hyper's client (prior knowledge; windows of 16 MiB per stream and 32 MiB per connection; SETTINGS_MAX_FRAME_SIZE 1 MiB, so a server that honours it may send frames larger than 16 KiB)."
    echo "note_sse=$SSE_CLIENTS HTTP/1.1 clients on GET /sse?interval_ms=$SSE_INTERVAL_MS (one event every $SSE_INTERVAL_MS ms each), counted for ${DURATION} s after all connected; CPU per event delivered. The Python client shares core $CPU_CLIENT: if events/s falls short of the offered rate, check the client before the server."
    echo "note_idle_tcp=$IDLE_CONNS TCP connections on the HTTP/1.1 port, accepted, nothing sent; (RSS after - RSS before) / connections still open."
    echo "note_idle_h1=$IDLE_CONNS connections, each after one answered GET /hello/idle, kept alive; (RSS after - RSS before) / connections still open."
    echo "note_idle_h2=$IDLE_CONNS h2c connections that sent the preface + SETTINGS, received the server's SETTINGS and acknowledged them."
    echo "note_idle_h2req=$IDLE_CONNS h2c connections, each after one answered GET /hello/idle (three literal fields indexed by each side's HPACK decoder), kept open."
    echo "note_idle_h1tls=$IDLE_CONNS TLS connections (ALPN http/1.1, ECDSA P-256 certificate, TLS 1.3), each after one answered GET /hello/idle, kept alive: idle_h1 plus what TLS keeps per connection."
    echo "note_idle_h2tls=$IDLE_CONNS TLS connections (ALPN h2) that sent the preface + SETTINGS, received the server's SETTINGS and acknowledged them: idle_h2 over TLS."
    echo "note_h2tls=TLS 1.3, ECDSA P-256 certificate; h2load does not resume sessions, 16 connections."
} >"$RAW/meta.txt"

if [ "$BOTH_CORES" = 1 ]; then REPORT="${REPORT:-multicore}"; else REPORT="${REPORT:-latest}"; fi
"$PY" "$HERE/tools/results.py" report --jsonl "$JSONL" --meta "$RAW/meta.txt" \
    --md "$RESULTS/$REPORT.md" --svg "$RESULTS/$REPORT.svg"
cp "$RESULTS/$REPORT.md" "$RAW/$REPORT.md"
log "wrote bench/results/$REPORT.md and $REPORT.svg (raw: bench/results/raw/$STAMP)"
