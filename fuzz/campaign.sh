#!/usr/bin/env bash
# One fuzzing campaign per target, to the bar issue 12 sets: 10 million executions or 30 minutes,
# whichever comes first. "30 minutes" is counted in CPU time of the fuzzer process, not wall
# time, so that a campaign on a shared 2-core machine (run under `nice`) is not cut short by the
# other load. libFuzzer's `-timeout` is wall time, though: pausing the fuzzer (SIGSTOP while a
# benchmark measures) for longer than it makes the resumed run report a `timeout-*` for the input
# it was on and stop there. Campaigns that will be paused set TIMEOUT well above the longest
# pause (e.g. TIMEOUT=900); a real hang is still caught, later. Replay any `timeout-*` or
# `slow-unit-*` file to tell such an artefact from a real hang.
#
#   fuzz/campaign.sh [TARGET...]        (default: every target in fuzz/Cargo.toml)
#
# Needs `cargo install cargo-fuzz` and a nightly toolchain; builds without a sanitizer (`-s none`:
# the code under test has no `unsafe`, and ASan would cut the execution rate). Per target it
# writes OUT/TARGET.log (libFuzzer's output, with `-print_final_stats=1`), grows OUT/new-TARGET
# from corpus/TARGET, then merges what adds coverage, from small inputs only (see
# merge_max_len), back into corpus/TARGET (so the committed corpora stay small). A crash stops
# that target's run and leaves the input in fuzz/artifacts/TARGET/, named in the summary line.
# Prints one line per target: executions, CPU seconds, coverage, outcome.
set -euo pipefail
cd "$(dirname "$0")"

RUNS=${RUNS:-10000000}
CPU_SECONDS=${CPU_SECONDS:-1800}
OUT=${OUT:-/tmp/fuzz-campaign}
MAX_LEN=${MAX_LEN:-16384}
TIMEOUT=${TIMEOUT:-10} # seconds of wall time per input before libFuzzer calls it a hang
mkdir -p "$OUT"

if [ $# -eq 0 ]; then
  set -- $(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^snp-fuzz$')
fi
cargo +nightly fuzz build -s none >"$OUT/build.log" 2>&1 || {
  tail -20 "$OUT/build.log"
  exit 1
}
BIN=target/x86_64-unknown-linux-gnu/release
TICKS=$(getconf CLK_TCK)

# The largest input merged back into corpus/TARGET: small, so the committed corpora stay around
# a few hundred KiB and replay fast in `cargo test` (MERGE_MAX_LEN overrides).
merge_max_len() {
  [ -n "${MERGE_MAX_LEN:-}" ] && { echo "$MERGE_MAX_LEN"; return; }
  case "$1" in
    evidence) echo 512 ;;
    vek_cert | verify | evidence_* | policy) echo 1024 ;;
    crl | kds_response | report_sev_diff) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

# CPU seconds (user + system) used so far by process $1; fails once the process is gone.
cpu_seconds() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  awk -v t="$TICKS" '{ print int(($14 + $15) / t) }' <<<"$stat"
}

for t in "$@"; do
  mkdir -p "$OUT/new-$t" "corpus/$t" "artifacts/$t"
  "$BIN/$t" -runs="$RUNS" -max_len="$MAX_LEN" -timeout="$TIMEOUT" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "$OUT/new-$t" "corpus/$t" >"$OUT/$t.log" 2>&1 &
  pid=$!
  used=0
  while kill -0 "$pid" 2>/dev/null; do
    # Keep the last reading if the fuzzer ended between the check and the read.
    u=$(cpu_seconds "$pid") && used=$u
    if [ "$used" -ge "$CPU_SECONDS" ]; then
      kill -INT "$pid" 2>/dev/null || true
      break
    fi
    sleep 2
  done
  set +e
  wait "$pid"
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -1)
  if [ -z "$execs" ]; then
    # Interrupted before the final stats: the last status line carries the count.
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$OUT/$t.log" | tail -1)
  fi
  cov=$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$OUT/$t.log" | tail -1 | cut -d' ' -f2)
  # Crashes, timeouts, OOMs and leaks (not `slow-unit-*`: a unit that ran for long in wall time,
  # which is what a pause with SIGSTOP produces; replay one to see its real time).
  crash=$(grep -oE "Test unit written to [^ ]*/(crash|timeout|oom|leak)-[0-9a-f]+" "$OUT/$t.log" \
    | tail -1 | cut -d' ' -f5 || true)
  # Merge what adds coverage, from small inputs only.
  small="$OUT/small-$t"
  limit=$(merge_max_len "$t")
  rm -rf "$small" && mkdir -p "$small"
  find "$OUT/new-$t" -type f -size -"$((limit + 1))"c -exec cp {} "$small/" \;
  before=$(find "corpus/$t" -type f | wc -l)
  "$BIN/$t" -set_cover_merge=1 -use_counters=0 -max_len="$limit" "corpus/$t" "$small" \
    >"$OUT/$t.merge.log" 2>&1 || true
  after=$(find "corpus/$t" -type f | wc -l)
  echo "campaign $t execs=${execs:-?} cpu_s=$used cov=${cov:-?} ft=${ft:-?} corpus=$before->$after rc=$rc ${crash:+crash=$crash}"
done
