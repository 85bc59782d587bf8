#!/bin/sh
# task_bench.sh - task-bound evaluations per second against the same
# evaluation without a task, in one run.  Not a test: it never fails on
# slow numbers, only when something breaks.
#
# A task-bound permit is what an enforcement point asks for every tool
# call of an agent on a task: the token is checked (signature, not
# revoked, task active), the task's intents, budget and session are read,
# and the permit is recorded against the task (its call count, the
# decision row, the session) in the same durable commit as its audit
# record.  The same evaluation without `context.mandate` is the baseline:
# same policy, same subject, action and resource, same audit mode.
#
# It makes a test SPIFFE trust domain and a JWT-SVID (build/bench/
# sts_bench prepare), starts `mandate serve` on a free loopback port with
# a temporary configuration (data dir, a policy that permits the
# agent's read), creates one task with no call budget and exchanges the
# SVID for its access token (open_on_loopback: the development
# delegator); then wrk (keep-alive connections, bench/audit_eval.lua)
# sends the evaluation, without the task and then with it, in rounds;
# each round's ratio comes from its own runs, and the median of the rounds
# is the result.  After the runs it checks that every answered task-bound
# permit was counted against the task.  Everything it starts is stopped
# on exit; requests and time are bounded.
#
# Usage: bench/task_bench.sh [BUILD_DIR]
# Environment: TASK_SECONDS (length of each run, default 3), TASK_ROUNDS
# (default 3), TASK_CONNECTIONS (default 64), TASK_THREADS (wrk threads,
# default 2), TASK_AUDIT (logging.audit: sync, the default, or async).
set -eu

cd "$(dirname "$0")/.."
. bench/lib.sh
build=${1:-build}
seconds=${TASK_SECONDS:-3}
rounds=${TASK_ROUNDS:-3}
conns=${TASK_CONNECTIONS:-64}
wthreads=${TASK_THREADS:-2}
audit=${TASK_AUDIT:-sync}
sthreads=$(nproc 2>/dev/null || echo 2)

command -v wrk >/dev/null || { echo "task_bench: wrk is missing (scripts/install-deps)" >&2; exit 1; }
ninja -C "$build" src/mandate bench/sts_bench >/dev/null

bench_tmpdir 150

# one SVID is enough: it is exchanged once
"$build/bench/sts_bench" prepare "$tmp" 1 >/dev/null
agent=spiffe://bench.test/agent

port=$(bench_free_port)
url="http://127.0.0.1:$port"
mkdir "$tmp/policies"
cat > "$tmp/policies/bench.cedar" <<POL
@id("bench-creates-tasks")
permit (principal == Delegator::"dev:loopback",
        action == Action::"mandate:create_task", resource)
when { context.agent.trust_domain == "bench.test" };

@id("bench-agent-reads")
permit (principal == Agent::"$agent", action == Action::"read", resource);
POL
cat > "$tmp/mandate.yaml" <<CFG
data_dir: $tmp/data
server:
  listen: 127.0.0.1:$port
  threads: $sthreads
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
  audit: $audit
CFG
"$build/src/mandate" serve --config "$tmp/mandate.yaml" > "$tmp/daemon.log" 2>&1 &
pid=$!
bench_wait_ready task_bench "$url/readyz" "$pid" "$tmp/daemon.log"

task=$(curl -sf "$url/v1/tasks" -H 'Content-Type: application/json' \
    -d '{"agent":"'"$agent"'","objective":"benchmark","intents":[{"action":"read"}],"ttl":3600}' |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
token=$(curl -sf "$url/oauth2/token" \
    --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    --data-urlencode subject_token_type=urn:ietf:params:oauth:token-type:jwt \
    --data-urlencode subject_token="$(cat "$tmp/same.txt")" \
    --data-urlencode "authorization_details=[{\"type\":\"mandate_task\",\"task_id\":\"$task\"}]" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') || {
	echo "task_bench: the token exchange failed" >&2; cat "$tmp/daemon.log" >&2; exit 1; }

# one evaluation of each kind by hand first: the runs are worth nothing
# if they deny
for with in no yes; do
	body=$(AGENT=$agent TOKEN=$token WITH_TASK=$with /usr/bin/python3 -c '
import json, os
b = {"subject": {"type": "Agent", "id": os.environ["AGENT"]},
     "action": {"name": "read"}, "resource": {"type": "Doc", "id": "d1"},
     "context": {"arguments": {"path": "/docs/d1"}}}
if os.environ["WITH_TASK"] == "yes":
    b["context"]["mandate"] = {"token": os.environ["TOKEN"]}
print(json.dumps(b))')
	printf '%s' "$body" > "$tmp/body-$with.json"
	answer=$(curl -s "$url/access/v1/evaluation" -H 'Content-Type: application/json' \
	    --data-binary "@$tmp/body-$with.json")
	case "$answer" in
	*'"decision":true'*) ;;
	*) echo "task_bench: the evaluation (task: $with) was not a permit: $answer" >&2; exit 1 ;;
	esac
done

run() { # yes|no -> "RESULT ..." line
	BODY_FILE="$tmp/body-$1.json" wrk -t"$wthreads" -c"$conns" -d"${seconds}s" \
	    --latency -s bench/audit_eval.lua "$url/access/v1/evaluation" \
	    > "$tmp/wrk-$1.txt" 2>&1 || true
	grep '^RESULT' "$tmp/wrk-$1.txt" || {
		echo "task_bench: wrk failed:" >&2; cat "$tmp/wrk-$1.txt" >&2; exit 1; }
}

echo "== AuthZEN evaluations with and without a task (wrk, $conns keep-alive connections, $wthreads threads, ${seconds}s a run, $rounds rounds; server.threads $sthreads; logging.audit $audit; machine possibly shared)"
results=
r=1
while [ $r -le "$rounds" ]; do
	results="$results no $(run no | tr ' ' ',')"
	results="$results yes $(run yes | tr ' ' ',')"
	r=$((r + 1))
done

# the task's count of permitted calls: one per answered task-bound permit
# (and the one by hand)
calls=$(curl -sf "$url/v1/tasks/$task" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get("calls_used", -1))')

/usr/bin/python3 - "$calls" $results <<'PY'
import statistics, sys
def parse(s):
    return {k: float(v) for k, v in (f.split("=") for f in s.split(",")[1:])}
calls = int(sys.argv[1])
args = sys.argv[2:]
runs = [(args[i], parse(args[i + 1])) for i in range(0, len(args), 2)]
rounds = [dict(runs[i:i + 2]) for i in range(0, len(runs), 2)]
print("%-6s %-34s %12s %9s %9s" % ("round", "", "decisions/s", "p50 ms", "p99 ms"))
ratios = []
answered = 1
failed = False
for k, rd in enumerate(rounds, 1):
    for key, label in (("no", "without a task (baseline)"),
                       ("yes", "task-bound (token in context)")):
        r = rd[key]
        print("%-6d %-34s %12.0f %9.3f %9.3f   %d requests, %d bad, %d socket errors"
              % (k, label, r["requests"] / r["seconds"], r["p50_ms"], r["p99_ms"],
                 r["requests"], r["bad"], r["sockerr"]))
        if r["bad"] > 0:
            failed = True
    answered += int(rd["yes"]["requests"] - rd["yes"]["sockerr"])
    ratios.append(100.0 * (rd["yes"]["requests"] / rd["yes"]["seconds"])
                  / (rd["no"]["requests"] / rd["no"]["seconds"]))
print("task-bound / without a task: %5.1f%% (median of %d rounds: %s)"
      % (statistics.median(ratios), len(ratios),
         ", ".join("%.1f%%" % x for x in ratios)))
# wrk may count a request in flight at the end of a run that the daemon
# also answered: calls >= answered
if calls >= 0 and calls < answered:
    print("ERROR: the task counted %d calls for %d answered permits" % (calls, answered))
    failed = True
if calls >= 0:
    print("the task counted %d permitted calls (%d answered)" % (calls, answered))
sys.exit(1 if failed else 0)
PY
