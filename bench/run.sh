#!/bin/sh
# run.sh - run the Cedar benchmarks (ours and cedar-wasm) and print one
# comparison table.  Not a test: it never fails on slow numbers.
#
# Usage (from the repository root, after `meson setup build` and
# `npm install`):
#   bench/run.sh [BUILD_DIR]          # default: build
# Environment: REQUESTS (default 10000), PASSES (default 3),
# WASM_PASSES (default 1).
#
# Targets it reports against: (a) median < 2 us; (b) within 3x of (a);
# our throughput >= 100x cedar-wasm's.
set -eu

cd "$(dirname "$0")/.."
build=${1:-build}
out="$build/bench-data"

ninja -C "$build" bench/cedar_bench >/dev/null
"$build/bench/cedar_bench" --out "$out" --requests "${REQUESTS:-10000}" \
    --passes "${PASSES:-3}"
echo
# Node 20's V8 dies now and then in its deoptimizer under cedar-wasm
# ("Fatal error ... unreachable code"); one retry.
node bench/cedar_wasm_bench.js "$out" --passes "${WASM_PASSES:-1}" ||
    node bench/cedar_wasm_bench.js "$out" --passes "${WASM_PASSES:-1}"
echo
node -e '
const fs = require("fs");
const dir = process.argv[1];
const ours = JSON.parse(fs.readFileSync(dir + "/ours.json", "utf8"));
const wasm = JSON.parse(fs.readFileSync(dir + "/wasm.json", "utf8"));
const f = (x, d) => x.toFixed(d).padStart(12);
const row = (name, r) => console.log(name.padEnd(46) + f(r.per_sec, 0) + f(r.p50_us, 3) + f(r.p99_us, 3));
console.log("".padEnd(46) + "decisions/s".padStart(12) + "p50 us".padStart(12) + "p99 us".padStart(12));
for (const k of ["a", "b"]) {
  const label = k === "a" ? "(a) 50 policies" : "(b) +10,000 unrelated";
  row(label + ", ours", ours[k].authorize);
  row(label + ", ours incl. request parse", ours[k].parse_authorize);
  row(label + ", cedar-wasm " + wasm.version, wasm[k].authorize);
}
console.log("");
const ratio = (x, y) => (x / y).toFixed(2) + "x";
console.log("(b)/(a) p50, ours:        " + ratio(ours.b.authorize.p50_us, ours.a.authorize.p50_us) + "  (target <= 3x)");
console.log("(b)/(a) p50, cedar-wasm:  " + ratio(wasm.b.authorize.p50_us, wasm.a.authorize.p50_us));
console.log("ours/wasm throughput (a): " + ratio(ours.a.authorize.per_sec, wasm.a.authorize.per_sec) + "  (target >= 100x)");
console.log("ours/wasm throughput (b): " + ratio(ours.b.authorize.per_sec, wasm.b.authorize.per_sec));
console.log("ours incl. parse/wasm (a): " + ratio(ours.a.parse_authorize.per_sec, wasm.a.authorize.per_sec));
console.log("(a) p50 ours: " + ours.a.authorize.p50_us.toFixed(3) + " us  (target < 2 us)");
for (const k of ["a", "b"]) {
  if (wasm[k].disagree_with_ours) console.log("WARNING: (" + k + ") " + wasm[k].disagree_with_ours + " decisions differ between ours and cedar-wasm");
}
' "$out"
