#!/bin/sh
# authzen_bench.sh - AuthZEN evaluations per second over HTTP, next to
# nginx answering a fixed JSON body on the same machine in the same run.
# Not a test: it never fails on slow numbers, only when something breaks.
#
# It starts `mandate serve` on a free loopback port with the Todo interop
# scenario (examples/authzen-interop/todo: policies and entities) and a
# temporary data dir, checks one evaluation by hand, then wrk (keep-alive
# connections, bench/authzen_eval.lua) sends the scenario's 40 single
# evaluations in turn to POST /access/v1/evaluation: once with the
# default logging.audit: sync (every record durable before its answer)
# and, when the build implements it, once more with logging.audit: async
# on a fresh data dir.  Then nginx (Debian's nginx-light, run as this
# user with a temporary configuration: free 127.0.0.1 port, error log,
# pid and temp paths in a temp dir) answers the same requests with a
# fixed {"decision":true}, one worker per core.  It prints the rates, our
# ratios to nginx (target >= 50%) and p50/p99 latency, and the daemon's
# GET /healthz rate as the HTTP layer's own ceiling.  nginx runs before
# and after the daemon, and the mean of its two rates is the baseline.
# All of that is one round; the rounds are repeated (AZ_ROUNDS, default
# 3), each round's ratios come from its own runs, and the median of the
# rounds is the result: nginx's rate on a shared machine moves by 20%
# from one run to the next, and one round's ratio with it.  Everything it
# starts is stopped on exit; requests and time are bounded.
#
# Usage: bench/authzen_bench.sh [BUILD_DIR]
# Environment: AZ_SECONDS (length of each run, default 5), AZ_ROUNDS
# (default 3), AZ_CONNECTIONS
# (default 64), AZ_THREADS (wrk threads, default 2), AZ_DAEMON_THREADS
# (server.threads, default one per core, as nginx's workers), AZ_PERF (a file prefix:
# perf record the daemon during each evaluation run into PREFIX.sync,
# PREFIX.async), AZ_STAT=1
# (perf stat the daemon during that run: CPU time and context
# switches per evaluation, which a shared machine disturbs less
# than the rate, its fdatasync calls, one per group commit, and the
# block device requests it issues per fdatasync: the WAL's data, plus
# the inode when a commit changed it; the cache flush that follows is
# issued by a kernel worker and not counted).
# The daemon's database lives under $TMPDIR (mktemp): TMPDIR=/dev/shm puts
# it on tmpfs, where fdatasync returns at once, to see what the disk's
# flush costs the sync mode.
set -eu

cd "$(dirname "$0")/.."
. bench/lib.sh
build=${1:-build}
seconds=${AZ_SECONDS:-5}
rounds=${AZ_ROUNDS:-3}
conns=${AZ_CONNECTIONS:-64}
wthreads=${AZ_THREADS:-2}
nginx=$(command -v nginx || echo /usr/sbin/nginx)

command -v wrk >/dev/null || { echo "authzen_bench: wrk is missing (scripts/install-deps)" >&2; exit 1; }
[ -x "$nginx" ] || { echo "authzen_bench: nginx is missing (scripts/install-deps: nginx-light)" >&2; exit 1; }
ninja -C "$build" src/mandate >/dev/null

# on exit, after the daemon: the nginx of nginx_run, if one still runs
stop_nginx() {
	if [ -f "$tmp/nginx.pid" ]; then
		bench_stop "$(cat "$tmp/nginx.pid")"
	fi
}
bench_tmpdir 100 stop_nginx
npid=

# the 40 single evaluations of the Todo interop cases, one a line
data=../shared/testdata/authzen-interop/todo/decisions-authorization-api-1_0-02.json
[ -f "$data" ] || data=../../shared/testdata/authzen-interop/todo/decisions-authorization-api-1_0-02.json
/usr/bin/python3 - "$data" > "$tmp/bodies.txt" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["evaluation"]:
    print(json.dumps(c["request"], separators=(",", ":")))
PY

ex=$(pwd)/examples/authzen-interop/todo
port=$(bench_free_port)
url="http://127.0.0.1:$port"
cores=$(nproc 2>/dev/null || echo 2)
[ "$cores" -lt 1 ] && cores=1
# the daemon's worker threads are event-driven as nginx's workers are
# (a request whose audit record is being committed does not hold its
# thread): one per core for each
threads=${AZ_DAEMON_THREADS:-$cores}
run() { # label url [GET] -> "RESULT ..." line
	METHOD=${3:-POST} BODIES="$tmp/bodies.txt" wrk -t"$wthreads" -c"$conns" -d"${seconds}s" \
	    --latency -s bench/authzen_eval.lua "$2" > "$tmp/wrk-$1.txt" 2>&1 || true
	grep '^RESULT' "$tmp/wrk-$1.txt" || {
		echo "authzen_bench: wrk failed:" >&2; cat "$tmp/wrk-$1.txt" >&2; exit 1; }
}

# One daemon run with logging.audit: $1 (sync or async), a fresh data
# dir each: the evaluation rate (into res_<mode>), with AZ_PERF/AZ_STAT
# the profile or the counters of that run, and for sync the /healthz
# rate (res_health).
bench_mode() { # mode
	rm -rf "$tmp/data"
	cat > "$tmp/mandate.yaml" <<CFG
data_dir: $tmp/data
server:
  listen: 127.0.0.1:$port
  threads: $threads
policies:
  platform: [$ex/policies.cedar]
  entities: [$ex/entities.json]
api_auth:
  open_on_loopback: true
logging:
  level: warn
  audit: $1
CFG
	"$build/src/mandate" serve --config "$tmp/mandate.yaml" > "$tmp/daemon.log" 2>&1 &
	pid=$!
	bench_wait_ready authzen_bench "$url/readyz" "$pid" "$tmp/daemon.log" server

	first=$(head -n 5 "$tmp/bodies.txt" | tail -n 1)
	out=$(curl -s "$url/access/v1/evaluation" -H 'Content-Type: application/json' -d "$first")
	case "$out" in
	*'"decision":true'*) ;;
	*) echo "authzen_bench: the evaluation failed: $out" >&2; exit 1 ;;
	esac

	ppid=
	if [ -n "${AZ_PERF:-}" ]; then
		# profile the daemon during the evaluation run
		perf record --call-graph dwarf,16384 -F 499 -o "$AZ_PERF.$1" \
		    -p "$pid" -- sleep "$seconds" > "$tmp/perf.out" 2>&1 &
		ppid=$!
	elif [ -n "${AZ_STAT:-}" ]; then
		# the daemon's CPU time, context switches, fdatasync calls
		# and block requests during the evaluation run
		perf stat -e task-clock,context-switches,syscalls:sys_enter_fdatasync,block:block_rq_issue \
		    -x, -o "$tmp/stat-$1.txt" -p "$pid" -- sleep "$seconds" \
		    > /dev/null 2>&1 &
		ppid=$!
	fi
	eval "res_$1=\$(run $1 \"\$url/access/v1/evaluation\")"
	if [ -n "$ppid" ]; then
		wait "$ppid" || true
	fi
	if [ "$1" = sync ]; then
		res_health=$(run health "$url/healthz" GET)
	fi
	bench_stop "$pid"
	pid=
}

# logging.audit: async exists when the daemon does more with it than
# parse it (src/config): then both modes run
modes=sync
if grep -rl CONFIG_AUDIT_ASYNC src --include='*.c' | grep -qv '^src/config/'; then
	modes="sync async"
fi
res_async=

# nginx: the same requests, answered with a fixed body; run before and
# after the daemon's runs, and their mean is the baseline (a shared
# machine's speed drifts during the runs)
nport=$(bench_free_port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<NGX
worker_processes $cores;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nport;
        location / {
            default_type application/json;
            return 200 '{"decision":true}';
        }
    }
}
NGX
nginx_run() { # label -> RESULT line
	"$nginx" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" \
	    > "$tmp/nginx.out" 2>&1 &
	npid=$!
	bench_wait_ready authzen_bench "http://127.0.0.1:$nport/" "$npid" "$tmp/nginx.out" server
	run "$1" "http://127.0.0.1:$nport/access/v1/evaluation"
	bench_stop "$npid"
	npid=
}

echo "== AuthZEN evaluations over HTTP (wrk: $conns keep-alive connections, $wthreads threads, ${seconds}s a run, $rounds rounds; daemon: $threads threads, nginx: $cores workers; logging.audit: $modes)"
r=1
while [ "$r" -le "$rounds" ]; do
res_nginx1=$(nginx_run nginx1)
for m in $modes; do
	bench_mode "$m"
done
res_nginx2=$(nginx_run nginx2)

echo
echo "-- round $r of $rounds"
/usr/bin/python3 - "$res_sync" "$res_nginx1" "$res_health" "$tmp" "$res_async" "$res_nginx2" \
    > "$tmp/round-$r.txt" <<'PY'
import os, sys
def parse(s):
    return {k: float(v) for k, v in (f.split("=") for f in s.split()[1:])}
def rate(r):
    return r["requests"] / r["seconds"]
sync, ngx1, health = parse(sys.argv[1]), parse(sys.argv[2]), parse(sys.argv[3])
ngx2 = parse(sys.argv[6])
# the baseline: the mean of nginx's runs before and after ours
ngx = {k: (ngx1[k] + ngx2[k]) / 2 for k in ngx1}
asy = parse(sys.argv[5]) if sys.argv[5] else None
rows = [("mandate: evaluation, audit sync (default)", sync)]
if asy:
    rows.append(("mandate: evaluation, audit async", asy))
rows += [("mandate: GET /healthz (HTTP layer ceiling)", health),
         ("nginx: fixed JSON body, before", ngx1),
         ("nginx: fixed JSON body, after", ngx2),
         ("nginx: mean of the two (the baseline)", ngx)]
print("%-44s %14s %9s %9s" % ("", "requests/s", "p50 ms", "p99 ms"))
for name, r in rows:
    print("%-44s %14.0f %9.3f %9.3f   %d requests, %d non-200, %d socket errors"
          % (name, rate(r), r["p50_ms"], r["p99_ms"],
             r["requests"], r["non200"], r["sockerr"]))
print()
print("mandate (audit sync) / nginx: %.1f%%  (target >= 50%%)"
      % (100.0 * rate(sync) / rate(ngx)))
if asy:
    print("mandate (audit async) / nginx: %.1f%%" % (100.0 * rate(asy) / rate(ngx)))
print("mandate /healthz / nginx: %.1f%%  (what the HTTP layer allows)"
      % (100.0 * rate(health) / rate(ngx)))
for mode, r in (("sync", sync), ("async", asy)):
    path = os.path.join(sys.argv[4], "stat-%s.txt" % mode)
    if not r or not os.path.exists(path):
        continue
    st = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[0] and f[0][0].isdigit():
            st[f[2]] = float(f[0])
    n = r["requests"]
    if n <= 0:
        continue
    out = []
    if "task-clock" in st:
        out.append("%.1f us CPU" % (1000.0 * st["task-clock"] / n))
    if "context-switches" in st:
        out.append("%.1f context switches" % (st["context-switches"] / n))
    syncs = st.get("syscalls:sys_enter_fdatasync", 0)
    if syncs > 0:
        out.append("%.1f evaluations per fdatasync (group commit)" % (n / syncs))
        if "block:block_rq_issue" in st:
            out.append("%.2f device writes per fdatasync"
                       % (st["block:block_rq_issue"] / syncs))
    print("audit %s, per evaluation (perf stat of the daemon): %s"
          % (mode, ", ".join(out)))
print("sync: every evaluation's audit record is durable before its answer; "
      "async: answered before (docs/configuration.md)" if asy else
      "every evaluation writes a durable audit record before its answer "
      "(logging.audit: sync; this build has no async mode)")
PY
cat "$tmp/round-$r.txt"
r=$((r + 1))
done

# the median of the rounds' ratios
echo
/usr/bin/python3 - "$tmp" "$rounds" <<'PY'
import os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
found = {}
for k in range(1, rounds + 1):
    for line in open(os.path.join(tmp, "round-%d.txt" % k)):
        m = re.match(r"mandate (\(audit sync\)|\(audit async\)|/healthz) / nginx: "
                     r"([0-9.]+)%", line)
        if m:
            found.setdefault(m.group(1), []).append(float(m.group(2)))
names = (("(audit sync)", "mandate (audit sync) / nginx", "  (target >= 50%)"),
         ("(audit async)", "mandate (audit async) / nginx", ""),
         ("/healthz", "mandate /healthz / nginx", "  (what the HTTP layer allows)"))
for key, label, tail in names:
    v = found.get(key)
    if v:
        print("%s: %.1f%% (median of %d rounds: %s)%s" % (label,
              statistics.median(v), len(v),
              ", ".join("%.1f%%" % x for x in v), tail))
print("(the machine may be shared with other work: compare runs on a quiet one)")
PY
