#!/bin/sh
# authzen_bench.sh - AuthZEN evaluations per second over HTTP, next to
# nginx answering a fixed JSON body on the same machine in the same run.
# Not a test: it never fails on slow numbers, only when something breaks.
#
# It starts `mandate serve` on a free loopback port with the Todo interop
# scenario (examples/authzen-interop/todo: policies and entities) and a
# temporary data dir, checks one evaluation by hand, then wrk (keep-alive
# connections, bench/authzen_eval.lua) sends the scenario's 40 single
# evaluations in turn to POST /access/v1/evaluation.  Then nginx (Debian's
# nginx-light, run as this user with a temporary configuration: free
# 127.0.0.1 port, error log, pid and temp paths in a temp dir) answers
# the same requests with a fixed {"decision":true}, one worker per core.  It prints both rates, our ratio to nginx
# (target >= 50%) and p50/p99 latency, and the daemon's GET /healthz rate
# as the HTTP layer's own ceiling.  Everything it starts is stopped on
# exit; requests and time are bounded.
#
# Usage: bench/authzen_bench.sh [BUILD_DIR]
# Environment: AZ_SECONDS (length of each run, default 5), AZ_CONNECTIONS
# (default 64), AZ_THREADS (wrk threads, default 2), AZ_DAEMON_THREADS
# (server.threads, default one per connection).
set -eu

cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${AZ_SECONDS:-5}
conns=${AZ_CONNECTIONS:-64}
wthreads=${AZ_THREADS:-2}
nginx=$(command -v nginx || echo /usr/sbin/nginx)

command -v wrk >/dev/null || { echo "authzen_bench: wrk is missing (scripts/install-deps)" >&2; exit 1; }
[ -x "$nginx" ] || { echo "authzen_bench: nginx is missing (scripts/install-deps: nginx-light)" >&2; exit 1; }
ninja -C "$build" src/mandate >/dev/null

tmp=$(mktemp -d)
pid=
npid=
stop() { # pid
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		i=0
		while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$1" 2>/dev/null || true
	fi
}
cleanup() {
	stop "$pid"
	if [ -f "$tmp/nginx.pid" ]; then
		stop "$(cat "$tmp/nginx.pid")"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() { # url pid log
	i=0
	until curl -s -o /dev/null "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$2" 2>/dev/null; then
			echo "authzen_bench: the server did not start:" >&2
			cat "$3" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# the 40 single evaluations of the Todo interop cases, one a line
data=../shared/testdata/authzen-interop/todo/decisions-authorization-api-1_0-02.json
[ -f "$data" ] || data=../../shared/testdata/authzen-interop/todo/decisions-authorization-api-1_0-02.json
/usr/bin/python3 - "$data" > "$tmp/bodies.txt" <<'PY'
import json, sys
for c in json.load(open(sys.argv[1]))["evaluation"]:
    print(json.dumps(c["request"], separators=(",", ":")))
PY

ex=$(pwd)/examples/authzen-interop/todo
port=$(free_port)
url="http://127.0.0.1:$port"
cores=$(nproc 2>/dev/null || echo 2)
[ "$cores" -lt 1 ] && cores=1
# the daemon answers from a thread pool and group-commits the audit
# records of concurrent requests (one fsync per batch): it gets a thread
# per connection; nginx, event-driven, a worker per core
threads=${AZ_DAEMON_THREADS:-$conns}
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
CFG
"$build/src/mandate" serve --config "$tmp/mandate.yaml" > "$tmp/daemon.log" 2>&1 &
pid=$!
wait_http "$url/readyz" "$pid" "$tmp/daemon.log"

first=$(head -n 5 "$tmp/bodies.txt" | tail -n 1)
out=$(curl -s "$url/access/v1/evaluation" -H 'Content-Type: application/json' -d "$first")
case "$out" in
*'"decision":true'*) ;;
*) echo "authzen_bench: the evaluation failed: $out" >&2; exit 1 ;;
esac

run() { # label url [GET] -> "RESULT ..." line
	METHOD=${3:-POST} BODIES="$tmp/bodies.txt" wrk -t"$wthreads" -c"$conns" -d"${seconds}s" \
	    --latency -s bench/authzen_eval.lua "$2" > "$tmp/wrk-$1.txt" 2>&1 || true
	grep '^RESULT' "$tmp/wrk-$1.txt" || {
		echo "authzen_bench: wrk failed:" >&2; cat "$tmp/wrk-$1.txt" >&2; exit 1; }
}

echo "== AuthZEN evaluations over HTTP (wrk: $conns keep-alive connections, $wthreads threads, ${seconds}s a run; daemon: $threads threads, nginx: $cores workers)"
res_ours=$(run ours "$url/access/v1/evaluation")
res_health=$(run health "$url/healthz" GET)
stop "$pid"
pid=

nport=$(free_port)
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
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" > "$tmp/nginx.out" 2>&1 &
npid=$!
wait_http "http://127.0.0.1:$nport/" "$npid" "$tmp/nginx.out"
res_nginx=$(run nginx "http://127.0.0.1:$nport/access/v1/evaluation")
stop "$npid"
npid=

echo
/usr/bin/python3 - "$res_ours" "$res_nginx" "$res_health" <<'PY'
import sys
def parse(s):
    return {k: float(v) for k, v in (f.split("=") for f in s.split()[1:])}
ours, ngx, health = parse(sys.argv[1]), parse(sys.argv[2]), parse(sys.argv[3])
print("%-44s %14s %9s %9s" % ("", "requests/s", "p50 ms", "p99 ms"))
for name, r in (("mandate: POST /access/v1/evaluation (Todo)", ours),
                ("mandate: GET /healthz (HTTP layer ceiling)", health),
                ("nginx: fixed JSON body", ngx)):
    print("%-44s %14.0f %9.3f %9.3f   %d requests, %d non-200, %d socket errors"
          % (name, r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"],
             r["requests"], r["non200"], r["sockerr"]))
ratio = (ours["requests"] / ours["seconds"]) / (ngx["requests"] / ngx["seconds"])
print()
print("mandate / nginx: %.1f%%  (target >= 50%%)" % (100.0 * ratio))
print("mandate /healthz / nginx: %.1f%%  (what the HTTP layer allows)"
      % (100.0 * (health["requests"] / health["seconds"]) / (ngx["requests"] / ngx["seconds"])))
print("every evaluation writes a durable audit record before its answer "
      "(logging.audit: sync)")
print("(the machine may be shared with other work: compare runs on a quiet one)")
PY
