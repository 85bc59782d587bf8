# bench/lib.sh - what the shell benchmarks (audit_bench.sh,
# authzen_bench.sh, sts_bench.sh, task_bench.sh) share: a temporary
# directory removed on exit together with what they started, stopping a
# process, a free loopback port, and waiting for a started server to say
# it is ready.
#
# Sourced, not run: each script does `. bench/lib.sh` from the
# repository root, after `set -eu` and its `cd "$(dirname "$0")/.."`.
# POSIX sh.  The functions return 0 on their normal paths, so set -e is
# not tripped; their own variables start with bench_ so that they do not
# clobber the script's.

# bench_stop PID [TENTHS]
# Stops PID if it still runs: SIGTERM, then up to TENTHS (default 100)
# checks 0.1 s apart for it to exit, then SIGKILL.  An empty PID, or one
# that has already exited, does nothing.
bench_stop() {
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		bench_i=0
		while kill -0 "$1" 2>/dev/null && [ "$bench_i" -lt "${2:-100}" ]; do
			sleep 0.1; bench_i=$((bench_i + 1))
		done
		kill -KILL "$1" 2>/dev/null || true
	fi
}

# bench_tmpdir STOP_TENTHS [CLEANUP]
# Makes the temporary directory $tmp (mktemp -d) and sets pid to empty.
# On exit, SIGINT or SIGTERM: the process in $pid, if any, is stopped
# (bench_stop PID STOP_TENTHS), then the function named CLEANUP, if given,
# runs (for anything else the script started), then $tmp is removed.
bench_tmpdir() {
	tmp=$(mktemp -d)
	pid=
	bench_stop_tenths=$1
	bench_cleanup_more=${2:-}
	# a signal ends the script, through the EXIT trap (a trap on the
	# signal alone would clean up and then carry on without $tmp)
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# The trap of bench_tmpdir.
bench_cleanup() {
	bench_stop "$pid" "$bench_stop_tenths"
	if [ -n "$bench_cleanup_more" ]; then
		"$bench_cleanup_more"
	fi
	rm -rf "$tmp"
}

# bench_free_port
# Prints a TCP port that is free on 127.0.0.1 (the kernel's pick for a
# bind to port 0; nothing holds it afterwards).
bench_free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_wait_ready NAME URL PID LOGFILE [WHAT]
# Waits until a GET of URL answers with a 2xx status (a daemon's /readyz),
# trying every 0.1 s.  When PID has exited, or after about 100 tries,
# prints "NAME: the WHAT did not start:" (WHAT defaults to "daemon") and
# LOGFILE on stderr, stops PID (the EXIT trap does not run for a
# subshell, where audit_bench.sh starts its daemons) and exits the
# script (or the subshell) with status 1.
bench_wait_ready() {
	bench_i=0
	until curl -sf "$2" >/dev/null 2>&1; do
		bench_i=$((bench_i + 1))
		if [ "$bench_i" -gt 100 ] || ! kill -0 "$3" 2>/dev/null; then
			echo "$1: the ${5:-daemon} did not start:" >&2
			cat "$4" >&2
			bench_stop "$3"
			exit 1
		fi
		sleep 0.1
	done
}
