#!/bin/sh
# links_test.sh - `mandate check --template-links`: good links allow, and a
# bad link anywhere in the file (even after good ones) fails the whole load.
# Usage: links_test.sh MANDATE
set -u
cli=$1
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
fails=0
printf 'permit(principal == ?principal, action, resource);\n' >"$d/p.cedar"
good='{"template_id":"policy0","link_id":"L0","args":{"?principal":"User::\"a\""}}'

# expect STATUS LINKS-JSON: run check with these links, compare the exit status
expect() {
	printf '%s' "$2" >"$d/l.json"
	"$cli" check --policies "$d/p.cedar" --template-links "$d/l.json" \
	    --principal 'User::"a"' --action 'Action::"v"' \
	    --resource 'D::"x"' >"$d/out" 2>&1
	rc=$?
	if [ "$rc" -ne "$1" ]; then
		echo "FAIL: links $2: exit $rc, expected $1"; cat "$d/out"
		fails=$((fails + 1))
	fi
}
expect 0 "[$good]"
expect 1 "[$good,{\"link_id\":\"L1\"}]"
expect 1 "[$good,{\"template_id\":\"policy0\",\"link_id\":\"L1\"}]"
expect 1 "[$good,{\"template_id\":\"policy0\",\"link_id\":\"L1\",\"args\":{\"?principal\":7}}]"
expect 1 "[$good,$good]"
expect 1 '[{"template_id":"nosuch","link_id":"L0","args":{}}]'
expect 1 '[{"template_id":"policy0","link_id":"L0","args":{}}]'
expect 1 '{}'
[ "$fails" -eq 0 ] && echo "ok" || exit 1
