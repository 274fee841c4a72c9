#!/usr/bin/env bash
# Fleet verification throughput (issue 14), every figure from one run of this script, baselines
# interleaved with the measurements so a loaded machine skews them alike:
#
#   bare     single-core ECDSA P-384 verifies/s with aws-lc (certs/benches/p384_rate.rs): the
#            floor of a warm verification, measured before and after the rest (mean of both);
#   batch    `snp-agent verify --batch -` over N paths to the same-chip real evidence (Milan,
#            report + host certificate table as `bin`), on every core; measured twice (mean);
#   service  `snp-agent verifier` under wrk at concurrency 64 (keep-alive POSTs of the same
#            evidence), between the two batch runs; p50/p99 latency from wrk.
#
# Prints `ratio batch_vs_cores_x_bare X` (target >= 0.8) and `ratio service_vs_batch Y` (target
# >= 0.7), the raw rates, the wrk latency lines, the CPU model and the load average.
#
# Usage: scripts/bench-fleet.sh [--no-build]
# Env:   N (batch inputs, default 20000), DURATION (wrk seconds, default 15), CONNECTIONS
#        (default 64), WRK_THREADS (default 1), CARGO_TARGET_DIR.
# Needs: wrk (apt-get install -y wrk), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-20000}"
DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-1}"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="$TARGET/release/snp-agent"
AT=2026-11-25T00:00:00Z

command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
if [ "${1:-}" != "--no-build" ]; then
  cargo build --release -p snp-agent --bin snp-agent >&2
  cargo bench -p snp-certs --features aws-lc --bench p384_rate --no-run >&2
fi
[ -x "$BIN" ] || { echo "no $BIN (build failed?)" >&2; exit 1; }

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Same-chip evidence as a host serves it: report || certificate table (ARK, ASK, VCEK as DER).
python3 - "$WORK/milan.bin" <<'PY'
import base64, re, struct, sys, uuid
d = "tests/data/real/virtee-sev/"
pem = open(d + "cert_chain_milan").read()
ask, ark = [base64.b64decode("".join(b.split()))
            for b in re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)]
vcek = open(d + "vcek_milan.der", "rb").read()
entries = [("c0b406a4-a803-4952-9743-3fb6014cd0ae", ark),
           ("4ab7b379-bbac-4fe4-a02f-05aef327c782", ask),
           ("63da758d-e664-4564-adc5-f4b93be8accd", vcek)]
off = 24 * (len(entries) + 1)
head, body = b"", b""
for guid, der in entries:
    head += uuid.UUID(guid).bytes + struct.pack("<II", off + len(body), len(der))
    body += der
table = head + b"\0" * 24 + body
open(sys.argv[1], "wb").write(open(d + "report_milan.bin", "rb").read() + table)
PY
"$BIN" verify "$WORK/milan.bin" --offline --at "$AT" >/dev/null \
  || { echo "the bench evidence does not verify" >&2; exit 1; }
for _ in $(seq "$N"); do echo "$WORK/milan.bin"; done > "$WORK/paths"

# Each measurement prints "WALL_RATE CPU_RATE": per second of wall time, and per second of the
# CPU time the measured process used (user + system). On a shared machine the wall rates are
# what the target is stated in; the CPU rates say what the same work costs whatever else runs.
bare() {
  cargo bench -q -p snp-certs --features aws-lc --bench p384_rate -- 3 2>/dev/null \
    | awk '/^p384_verifies_per_sec/ {w=$3} /^p384_verifies_per_cpu_sec/ {c=$3} END {print w, c}'
}
batch() {
  python3 - "$BIN" "$WORK/paths" "$WORK/batch.out" "$AT" "$N" <<'PY'
import resource, subprocess, sys, time
binary, paths, out, at, n = sys.argv[1:]
t0 = time.monotonic()
with open(paths) as i, open(out, "w") as o:
    subprocess.run([binary, "verify", "--batch", "-", "--offline", "--at", at], stdin=i, stdout=o, check=True)
wall = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
affirmed = sum('"exit_code":0' in l for l in open(out))
if affirmed != int(n):
    sys.exit(f"batch: only {affirmed} of {n} affirmed")
print(round(int(n) / wall), round(int(n) / (r.ru_utime + r.ru_stime)))
PY
}

cat > "$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("EVIDENCE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

service() {
  "$BIN" verifier --listen 127.0.0.1:0 --offline --at "$AT" 2> "$WORK/server.err" &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's#^snp-agent: verifier listening on http://##p' "$WORK/server.err")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$WORK/server.err" >&2; exit 1; }
  curl -fsS --data-binary @"$WORK/milan.bin" "http://$addr/verify" | grep -Fq '"ear_status":"affirming"' \
    || { echo "service does not affirm the bench evidence" >&2; exit 1; }
  EVIDENCE="$WORK/milan.bin" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$WORK/post.lua" "http://$addr/verify" > "$WORK/wrk.out"
  curl -fsS "http://$addr/metrics" > "$WORK/metrics.out"
  # The server's CPU time (utime + stime, fields 14 and 15 of /proc/PID/stat, in clock ticks).
  local ticks; ticks=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if grep -q 'Non-2xx' "$WORK/wrk.out"; then
    echo "service answered errors under load:" >&2; cat "$WORK/wrk.out" >&2; exit 1
  fi
  local hz; hz=$(getconf CLK_TCK)
  awk -v ticks="$ticks" -v hz="$hz" '
    / requests in / {n = $1}
    /^Requests\/sec:/ {w = int($2)}
    END {print w, int(n / (ticks / hz))}' "$WORK/wrk.out"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
b1=$(bare); t1=$(batch); s=$(service); t2=$(batch); b2=$(bare)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
cores=$(nproc)

echo "# machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($cores CPUs)"
echo "# load average before: $load0, after: $load1"
echo "# rates: per wall second, then per CPU second of the measured process"
echo "bare_p384_awslc_per_sec $b1 / $b2"
echo "batch_per_sec $t1 / $t2   # N=$N same-chip inputs"
echo "service_per_sec $s   # wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s"
grep -E '^\s+(50|90|99)%' "$WORK/wrk.out" | sed 's/^ */service_latency /'
grep -E '^snp_verifier_verifications_total' "$WORK/metrics.out" || true
python3 - "$cores" $b1 $b2 $t1 $t2 $s <<'PY'
import sys
cores, b1w, b1c, b2w, b2c, t1w, t1c, t2w, t2c, sw, sc = (float(x) for x in sys.argv[1:])
bare_w, bare_c = (b1w + b2w) / 2, (b1c + b2c) / 2
batch_w, batch_c = (t1w + t2w) / 2, (t1c + t2c) / 2
print(f"ratio batch_vs_cores_x_bare {batch_w / (cores * bare_w):.2f}")
print(f"ratio service_vs_batch {sw / batch_w:.2f}")
# Load-independent: work per CPU second (what each core delivers when it is free).
print(f"ratio_cpu batch_vs_bare {batch_c / bare_c:.2f}")
print(f"ratio_cpu service_vs_batch {sc / batch_c:.2f}")
PY
