#!/bin/sh
# audit_bench.sh - durable audited decisions per second against the same
# workload with decision auditing off, in one run.  Not a test: it never
# fails on slow numbers, only when something breaks.
#
# Three daemons in turn, each on a free loopback port with its own data
# directory and the same policy (every evaluation below is a permit):
#   sync   logging.audit: sync (the default): a permit is answered only
#          after its decision record is durable (group commit, fsync)
#   async  logging.audit: async: records are queued, written behind
#   off    audit.decisions: false: decisions are not recorded (unsafe; the
#          baseline)
# wrk (keep-alive connections, bench/audit_eval.lua) sends AuthZEN
# evaluations (POST /access/v1/evaluation) to each; the script prints each
# rate, latency, and the ratios to the unaudited rate (target: sync >=
# 70%), and checks after each audited run that the database holds one
# decision record per answered evaluation.  The three runs are repeated
# in rounds (off, sync, async each round), each round's ratios come from
# its own runs, and the median of the rounds is the result: on a shared
# machine, and with a disk whose fsync latency moves (a VM's), one run's
# ratio moves by several points.  Everything it starts is stopped on
# exit; requests and time are bounded.  Compare the ratios, not the
# absolute numbers.
#
# Usage: bench/audit_bench.sh [BUILD_DIR]
# Environment: AUDIT_SECONDS (length of each run, default 3),
# AUDIT_ROUNDS (default 3),
# AUDIT_CONNECTIONS (default 64), AUDIT_THREADS (wrk threads, default 2),
# AUDIT_SERVER_THREADS (the daemon's server.threads, default one per
# core: a sync permit's answer waits for its group commit without holding
# its worker thread, so the batch grows with the requests in flight).
# The databases live under $TMPDIR (mktemp): TMPDIR=/dev/shm puts them on
# tmpfs, where fdatasync returns at once, and the difference with a run
# on the disk is what the disk's flush costs (docs/ARCHITECTURE.md).
set -eu

cd "$(dirname "$0")/.."
. bench/lib.sh
build=${1:-build}
seconds=${AUDIT_SECONDS:-3}
rounds=${AUDIT_ROUNDS:-3}
conns=${AUDIT_CONNECTIONS:-64}
sthreads=${AUDIT_SERVER_THREADS:-$(nproc 2>/dev/null || echo 2)}
wthreads=${AUDIT_THREADS:-2}

command -v wrk >/dev/null || { echo "audit_bench: wrk is missing (scripts/install-deps)" >&2; exit 1; }
ninja -C "$build" src/mandate >/dev/null

bench_tmpdir 150
stop_daemon() {
	bench_stop "$pid" 150
	pid=
}

mkdir "$tmp/policies"
cat > "$tmp/policies/bench.cedar" <<'POL'
@id("bench-reads")
permit (principal, action == Action::"read", resource);
POL

# run NAME sync|async true|false -> "RESULT ... records=N" line
run() {
	name=$1
	port=$(bench_free_port)
	url="http://127.0.0.1:$port"
	rm -rf "${tmp:?}/$name"
	mkdir -p "$tmp/$name"
	cat > "$tmp/$name/mandate.yaml" <<CFG
data_dir: $tmp/$name/data
server:
  listen: 127.0.0.1:$port
  threads: $sthreads
policies:
  platform: [$tmp/policies]
api_auth:
  open_on_loopback: true
logging:
  level: warn
  audit: $2
audit:
  decisions: $3
CFG
	"$build/src/mandate" serve --config "$tmp/$name/mandate.yaml" > "$tmp/$name/daemon.log" 2>&1 &
	pid=$!
	bench_wait_ready audit_bench "$url/readyz" "$pid" "$tmp/$name/daemon.log"
	# one evaluation by hand first: the run is worth nothing if it denies
	body=$(curl -s "$url/access/v1/evaluation" -H 'Content-Type: application/json' \
	    -d '{"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"doc","id":"x"}}')
	case "$body" in
	*'"decision":true'*) ;;
	*) echo "audit_bench: the evaluation was not a permit: $body" >&2
	   stop_daemon; exit 1 ;;
	esac
	wrk -t"$wthreads" -c"$conns" -d"${seconds}s" --latency -s bench/audit_eval.lua \
	    "$url/access/v1/evaluation" > "$tmp/$name/wrk.txt" 2>&1 || true
	stop_daemon
	res=$(grep '^RESULT' "$tmp/$name/wrk.txt") || {
		echo "audit_bench: wrk failed:" >&2; cat "$tmp/$name/wrk.txt" >&2; exit 1; }
	# decision records in the database after a clean stop
	recs=$(/usr/bin/python3 - "$tmp/$name/data/mandate.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("SELECT count(*) FROM audit_events WHERE type = 'decision'").fetchone()[0])
PY
)
	echo "$res records=$recs"
}

echo "== AuthZEN evaluations over HTTP (wrk, $conns keep-alive connections, $wthreads threads, ${seconds}s a run, $rounds rounds; server.threads $sthreads; machine possibly shared)"
results=
r=1
while [ $r -le "$rounds" ]; do
	results="$results off $(run off sync false | tr ' ' ',')"
	results="$results sync $(run sync sync true | tr ' ' ',')"
	results="$results async $(run async async true | tr ' ' ',')"
	r=$((r + 1))
done

/usr/bin/python3 - $results <<'PY'
import statistics, sys
def parse(s):
    return {k: float(v) for k, v in (f.split("=") for f in s.split(",")[1:])}
args = sys.argv[1:]
runs = [(args[i], parse(args[i + 1])) for i in range(0, len(args), 2)]
rounds = [dict(runs[i:i + 3]) for i in range(0, len(runs), 3)]
names = (("off", "decision auditing off (unsafe baseline)"),
         ("sync", "audited, sync (durable before the answer)"),
         ("async", "audited, async (written behind)"))
print("%-8s %-44s %12s %9s %9s %9s" % ("round", "", "decisions/s", "p50 ms", "p99 ms", "records"))
ratios = {"sync": [], "async": []}
failed = False
for k, rd in enumerate(rounds, 1):
    base = rd["off"]["requests"] / rd["off"]["seconds"]
    for key, label in names:
        r = rd[key]
        print("%-8d %-44s %12.0f %9.3f %9.3f %9d   %d requests, %d bad, %d socket errors"
              % (k, label, r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"],
                 r["records"], r["requests"], r["bad"], r["sockerr"]))
        if key != "off":
            ratios[key].append(100.0 * r["requests"] / r["seconds"] / base)
            # every answered permit has its record (wrk may count a request
            # in flight at the end of the run that the daemon also
            # answered: >=)
            if r["records"] < r["requests"] - r["sockerr"] - r["bad"]:
                print("ERROR: %s: %d records for %d answered evaluations"
                      % (key, r["records"], r["requests"]))
                failed = True
    if rd["off"]["records"] != 0:
        print("ERROR: auditing off still wrote %d decision records" % rd["off"]["records"])
        failed = True
for key in ("sync", "async"):
    print("ratio %-6s to unaudited: %5.1f%% (median of %d rounds: %s)%s"
          % (key, statistics.median(ratios[key]), len(ratios[key]),
             ", ".join("%.1f%%" % x for x in ratios[key]),
             "  (target >= 70%)" if key == "sync" else ""))
sys.exit(1 if failed else 0)
PY
