#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 20), starting
# from the seed corpus in fuzz/seeds/<target> (kept in the repository) and
# the working corpus in fuzz/corpus/<target> (not kept). A crash fails the
# run; its input lands in fuzz/artifacts/<target>/ — turn it into a
# regression test, then add it to the seeds.
#
#   scripts/fuzz.sh          # 20 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh 600      # a longer local run
#   scripts/fuzz.sh 60 h1_connection exchange
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them (the sanitizer and coverage flags it passes).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-20}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(hpack_decode h2_frame h2_connection h1_request h1_connection exchange)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
cargo fuzz build -O
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  rm -rf "artifacts/$t"
  echo "fuzzing $t for ${SECONDS_EACH}s"
  cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048 2>&1 |
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+[[:space:]]+DONE|ERROR|panicked|SUMMARY" || true
  # cargo fuzz exits non-zero on a crash; the pipe hides it, so look.
  if ls "artifacts/$t"/crash-* "artifacts/$t"/leak-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
    echo "fuzz target $t found a failing input: fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
