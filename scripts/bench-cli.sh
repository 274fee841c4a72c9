#!/usr/bin/env bash
# Wall time and peak RSS of `snp-agent verify` on real evidence, against snpguest (issue 8).
#
# Evidence: virtee/sev's real Milan report + VCEK + the KDS Milan chain (tests/data/real),
# laid out as a snpguest directory (DIR/attestation-report.bin, DIR/certs/{ark,ask,vcek}.pem)
# so both tools read the same files:
#   ours:     snp-agent verify DIR --at 2026-11-25T00:00:00Z --offline
#   snpguest: snpguest verify certs DIR/certs  +  snpguest verify attestation -p milan DIR/certs REPORT
# (snpguest needs two processes for what `snp-agent verify` does in one; its figure is the sum.)
#
# Usage: scripts/bench-cli.sh [--no-build]
# Env:   SNPGUEST (default /work/tools/bin/snpguest, else from PATH), CARGO_TARGET_DIR,
#        RUNS (hyperfine runs, default 200), CARGO_FEATURES (e.g. "snp-certs/aws-lc").
# Prints `ratio wall_vs_snpguest X`, `rss_kib N` and the raw means, one per line, plus the
# hyperfine tables. Needs hyperfine (apt-get install -y hyperfine) and /usr/bin/time (apt-get
# install -y time); without hyperfine a plain loop is used.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-200}"
SNPGUEST="${SNPGUEST:-/work/tools/bin/snpguest}"
[ -x "$SNPGUEST" ] || SNPGUEST="$(command -v snpguest || true)"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/snp-agent"

if [ "${1:-}" != "--no-build" ]; then
  feats=()
  [ -n "${CARGO_FEATURES:-}" ] && feats=(--features "$CARGO_FEATURES")
  cargo build --release -p snp-agent --bin snp-agent "${feats[@]}" >&2
fi
[ -x "$BIN" ] || { echo "no $BIN (build failed?)" >&2; exit 1; }

DATA=tests/data/real/virtee-sev
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/certs"
cp "$DATA/report_milan.bin" "$DIR/attestation-report.bin"
openssl x509 -inform der -in "$DATA/vcek_milan.der" -out "$DIR/certs/vcek.pem"
# cert_chain_milan is the KDS bundle: ASK first, then ARK.
awk -v d="$DIR/certs" '/BEGIN CERTIFICATE/{n++} {print > (n==1 ? d "/ask.pem" : d "/ark.pem")}' \
  "$DATA/cert_chain_milan"

OURS=("$BIN" verify "$DIR" --at 2026-11-25T00:00:00Z --offline)
echo "# ours: ${OURS[*]}" >&2
"${OURS[@]}" >&2 || { echo "snp-agent verify failed on genuine evidence" >&2; exit 1; }

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"

mean_ms() { # command... -> mean wall time in ms
  if command -v hyperfine >/dev/null 2>&1; then
    local j; j="$(mktemp)"
    hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$j" "$(printf '%q ' "$@")" >&2
    python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$j"
    rm -f "$j"
  else
    local s e; s=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>&1; done
    e=$(date +%s%N)
    python3 -c "print('%.3f' % (($e - $s) / 1e6 / $RUNS))"
  fi
}

ours_ms=$(mean_ms "${OURS[@]}")
if [ -n "$SNPGUEST" ]; then
  certs_ms=$(mean_ms "$SNPGUEST" verify certs "$DIR/certs")
  att_ms=$(mean_ms "$SNPGUEST" verify attestation -p milan "$DIR/certs" "$DIR/attestation-report.bin")
  echo "mean_ms snp_agent_verify $ours_ms"
  echo "mean_ms snpguest_verify_certs $certs_ms"
  echo "mean_ms snpguest_verify_attestation $att_ms"
  python3 -c "print('ratio wall_vs_snpguest %.2f' % ($ours_ms / ($certs_ms + $att_ms)))"
else
  echo "mean_ms snp_agent_verify $ours_ms"
  echo "# snpguest not found: no comparison" >&2
fi

if [ -x /usr/bin/time ]; then
  rss=$(/usr/bin/time -v "${OURS[@]}" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p')
  echo "rss_kib snp_agent_verify $rss"
  python3 -c "print('rss_mib snp_agent_verify %.2f' % ($rss / 1024))"
  if [ -n "$SNPGUEST" ]; then
    srss=$(/usr/bin/time -v "$SNPGUEST" verify attestation -p milan "$DIR/certs" "$DIR/attestation-report.bin" 2>&1 >/dev/null \
      | sed -n 's/.*Maximum resident set size (kbytes): //p')
    echo "rss_kib snpguest_verify_attestation $srss"
  fi
else
  echo "# /usr/bin/time missing (apt-get install -y time): no RSS figure" >&2
fi
