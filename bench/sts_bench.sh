#!/bin/sh
# sts_bench.sh - token exchanges per second over HTTP against a running
# daemon, next to what the CPU's ECDSA P-256 allows.  Not a test: it never
# fails on slow numbers, only when something breaks.
#
# It makes a test SPIFFE trust domain and its JWT-SVIDs (build/bench/
# sts_bench prepare), starts `mandate serve` on a free loopback port with
# a temporary configuration (data dir, policies, issuer) and creates one
# task; then wrk (keep-alive connections, bench/sts_exchange.lua) runs
# RFC 8693 exchanges for that task: first with the same subject token
# again and again (identity's verified-token cache answers), then with a
# different token each time (every one verified in full).  Beside it:
# `openssl speed -seconds 3 ecdsap256` (sign/s, verify/s), the crypto
# limit of one exchange (one verification and one signature:
# 1 / (1/verify + 1/sign)) and our ratio to it, and the identity module's
# cold vs cached verification in-process.  Everything it starts is
# stopped on exit; requests and time are bounded.
#
# Usage: bench/sts_bench.sh [BUILD_DIR]
# Environment: STS_SECONDS (length of each run, default 3), STS_TOKENS
# (distinct subject tokens made, default 40000; the distinct run stops
# when they are used up), STS_CONNECTIONS (wrk's keep-alive connections,
# default 64), STS_THREADS (the daemon's server.threads, default one per
# core), STS_PERF (a file name: perf record the daemon during the
# distinct-token run into it, for `perf report -i FILE`), STS_STAT=1 (perf
# stat the daemon during the distinct-token run: context switches and
# system calls per exchange, which a shared machine disturbs less than
# time).
#
# Why 64 connections: every exchange waits for one durable SQLite commit
# (synchronous=FULL, an fsync) of its credential row and audit record,
# and one commit can carry only the exchanges waiting at the same time.
# The wait does not hold a worker thread (the answer is held while the
# audit log's writer commits, see src/server/http.h), so a worker per
# core serves them all, and with more exchanges in flight each fsync is
# shared by more of them.  Besides the rates
# it reports the daemon's CPU time per exchange (from /proc), which says
# more than the rate when the machine is shared.
set -eu

cd "$(dirname "$0")/.."
. bench/lib.sh
build=${1:-build}
requests=${STS_TOKENS:-40000}
seconds=${STS_SECONDS:-3}
conns=${STS_CONNECTIONS:-64}
threads=${STS_THREADS:-$(nproc 2>/dev/null || echo 2)}

command -v wrk >/dev/null || { echo "sts_bench: wrk is missing (scripts/install-deps)" >&2; exit 1; }
ninja -C "$build" src/mandate bench/sts_bench >/dev/null

bench_tmpdir 100

"$build/bench/sts_bench" prepare "$tmp" "$requests"

port=$(bench_free_port)
url="http://127.0.0.1:$port"
mkdir "$tmp/policies"
cat > "$tmp/policies/bench.cedar" <<'POL'
@id("bench-creates-tasks")
permit (principal == Delegator::"dev:loopback",
        action == Action::"mandate:create_task", resource)
when { context.agent.trust_domain == "bench.test" };
POL
cat > "$tmp/mandate.yaml" <<CFG
data_dir: $tmp/data
server:
  listen: 127.0.0.1:$port
  threads: $threads
policies:
  platform: [$tmp/policies]
identity:
  issuers:
    - name: bench
      kind: spiffe
      trust_domain: bench.test
      bundle_file: $tmp/bundle.json
      audiences: [mandate]
tokens:
  audience: bench-api
api_auth:
  open_on_loopback: true
logging:
  level: warn
CFG
"$build/src/mandate" serve --config "$tmp/mandate.yaml" > "$tmp/daemon.log" 2>&1 &
pid=$!
bench_wait_ready sts_bench "$url/readyz" "$pid" "$tmp/daemon.log"

task=$(curl -sf "$url/v1/tasks" -H 'Content-Type: application/json' \
    -d '{"agent":"spiffe://bench.test/agent","objective":"benchmark","intents":[{"action":"read"}],"ttl":3600}' |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
# authorization_details=[{"type":"mandate_task","task_id":"<id>"}], encoded
rest="&authorization_details=%5B%7B%22type%22%3A%22mandate_task%22%2C%22task_id%22%3A%22$task%22%7D%5D"

# one exchange by hand first: the run is worth nothing if it is refused
code=$(curl -s -o "$tmp/first.json" -w '%{http_code}' "$url/oauth2/token" \
    --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt \
    --data-urlencode subject_token="$(cat "$tmp/same.txt")" \
    --data-urlencode "authorization_details=[{\"type\":\"mandate_task\",\"task_id\":\"$task\"}]")
if [ "$code" != 200 ]; then
	echo "sts_bench: the exchange was refused ($code): $(cat "$tmp/first.json")" >&2
	exit 1
fi

# the daemon's CPU time so far (user + system), in clock ticks
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

run() { # label tokens-file limit-per-thread -> "RESULT ..." line
	ppid=
	if [ "$1" = distinct ] && [ -n "${STS_PERF:-}" ]; then
		# profile the daemon during the distinct-token run
		perf record --call-graph dwarf,16384 -F 499 -o "$STS_PERF" -p "$pid" -- \
		    sleep "$seconds" > "$tmp/perf.out" 2>&1 &
		ppid=$!
	elif [ "$1" = distinct ] && [ -n "${STS_STAT:-}" ]; then
		perf stat -x, -o "$tmp/stat.txt" -e context-switches \
		    -e raw_syscalls:sys_enter -e syscalls:sys_enter_fdatasync \
		    -e syscalls:sys_enter_pwrite64 -e syscalls:sys_enter_pread64 \
		    -p "$pid" -- sleep "$seconds" > "$tmp/perf.out" 2>&1 &
		ppid=$!
	fi
	t0=$(cpu_ticks)
	TOKENS="$2" FORM_REST="$rest" LIMIT=$3 THREADS=2 \
	    wrk -t2 -c"$conns" -d"${seconds}s" --latency -s bench/sts_exchange.lua \
	    "$url/oauth2/token" > "$tmp/wrk-$1.txt" 2>&1 || true
	t1=$(cpu_ticks)
	[ -z "$ppid" ] || wait "$ppid" || true
	line=$(grep '^RESULT' "$tmp/wrk-$1.txt") || {
		echo "sts_bench: wrk failed:" >&2; cat "$tmp/wrk-$1.txt" >&2; exit 1; }
	if [ -n "$ppid" ] && [ -f "$tmp/stat.txt" ]; then
		# the counters over the requests of the run (perf's window
		# is the run's, give or take its start)
		n=$(echo "$line" | tr ' ' '\n' | sed -n 's/^requests=//p')
		awk -F, -v n="$n" '$1 ~ /^[0-9]+$/ && n > 0 {
		    printf "perf stat, distinct run: %.2f %s per exchange\n", $1 / n, $3 }' \
		    "$tmp/stat.txt" >&2
	fi
	echo "$line cpu_s=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" \
	    'BEGIN { printf "%.2f", t / hz }')"
}

echo "== token exchange over HTTP (wrk, $conns keep-alive connections, 2 threads, ${seconds}s a run; daemon: $threads threads)"
# wrk's own clock is the run's length (-d): a run must not stop early, so
# the same-token run has no request limit but the time, and the distinct
# one is marked incomplete when it ran out of tokens
res_same=$(run same "$tmp/same.txt" 100000000)
res_dist=$(run distinct "$tmp/distinct.txt" $((requests / 2)))

kill -TERM "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=

echo "== openssl speed -seconds 3 ecdsap256"
openssl speed -seconds 3 ecdsap256 > "$tmp/speed.txt" 2>/dev/null
line=$(grep -E 'ecdsa \(nistp256\)' "$tmp/speed.txt" | tail -n 1)
echo "$line"

echo "== identity verifier in-process"
"$build/bench/sts_bench" identity "$tmp" "$requests"

echo
/usr/bin/python3 - "$res_same" "$res_dist" "$line" "$requests" <<'PY'
import sys
def parse(s):
    return {k: float(v) for k, v in (f.split("=") for f in s.split()[1:])}
same, dist = parse(sys.argv[1]), parse(sys.argv[2])
f = sys.argv[3].split()
sign, verify = float(f[-2]), float(f[-1])
limit = 1.0 / (1.0 / verify + 1.0 / sign)
print("%-46s %12s %8s %8s %13s" % ("", "exchanges/s", "p50 ms", "p99 ms",
                                     "CPU/exchange"))
for name, r in (("same subject token (identity cache)", same),
                ("distinct subject tokens (full verification)", dist)):
    rate = r["requests"] / r["seconds"]
    print("%-46s %12.0f %8.3f %8.3f %10.0f us   %d requests, %d refused, %d socket errors"
          % (name, rate, r["p50_ms"], r["p99_ms"],
             1e6 * r["cpu_s"] / max(r["requests"], 1),
             r["requests"], r["non200"], r["sockerr"]))
if dist["requests"] >= int(sys.argv[4]):
    print("WARNING: the distinct run used up its %s tokens before the time: "
          "its rate is too low; raise STS_TOKENS" % sys.argv[4])
print()
print("ECDSA P-256 (openssl speed, one core): %.0f sign/s, %.0f verify/s" % (sign, verify))
print("crypto limit of one exchange, 1/(1/verify + 1/sign): %.0f /s (%.0f us of CPU)"
      % (limit, 1e6 / limit))
for name, r in (("same token", same), ("distinct tokens", dist)):
    print("ratio to the crypto limit, %-16s %5.1f%%  (target >= 60%%)"
          % (name + ":", 100.0 * r["requests"] / r["seconds"] / limit))
# CPU/exchange is the daemon's CPU time (all threads, user + system, from
# /proc) over the run divided by the exchanges: unlike the rate it does
# not drop when other processes take the cores
print("crypto share of the daemon's CPU per exchange, distinct tokens: %.0f%%"
      % (100.0 * (1e6 / limit) / max(1e6 * dist["cpu_s"] / max(dist["requests"], 1), 1e-9)))
PY
