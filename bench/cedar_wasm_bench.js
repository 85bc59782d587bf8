'use strict';
/*
 * cedar_wasm_bench.js - the reference engine (cedar-wasm) on the requests
 * that bench/cedar_bench.c generated, for comparison.  A benchmark, not a
 * test.
 *
 * Usage (from the repository root, after `npm install`):
 *   node bench/cedar_wasm_bench.js DIR [--passes P] [--max-a N] [--max-b N]
 *
 * DIR holds what cedar_bench wrote: policies_a.cedar, policies_b.cedar,
 * entities.json, requests.json, decisions_{a,b}.txt.  The policy sets are
 * parsed once (cedar-wasm's preparsePolicySet); each call gets the
 * request's slice of entities as JSON, which cedar-wasm parses per call
 * (it has no entity store).  Prints decisions/second and p50/p99 latency
 * per decision for both workloads, counts disagreements with our
 * decisions, and writes DIR/wasm.json.  cedar-wasm evaluates every policy
 * of a set for every request, so (b) is slow: by default only the first
 * 2,000 requests run for (a) and 200 for (b) (--max-a, --max-b).
 */
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cedar = require(path.join(root, 'node_modules', '@cedar-policy', 'cedar-wasm', 'nodejs'));

function usage() {
    console.error('usage: node bench/cedar_wasm_bench.js DIR [--passes P] [--max-a N] [--max-b N]');
    process.exit(2);
}

const argv = process.argv.slice(2);
let dir = null, passes = 1;
const max = { a: 2000, b: 200 };
for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--passes' && i + 1 < argv.length) passes = Number(argv[++i]);
    else if (argv[i] === '--max-a' && i + 1 < argv.length) max.a = Number(argv[++i]);
    else if (argv[i] === '--max-b' && i + 1 < argv.length) max.b = Number(argv[++i]);
    else if (dir === null && !argv[i].startsWith('-')) dir = argv[i];
    else usage();
}
if (dir === null || !Number.isInteger(passes) || passes < 1 ||
    !(max.a >= 1) || !(max.b >= 1)) usage();

const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8');
const key = (u) => u.type + '\u0000' + u.id;
const entities = new Map();
for (const e of JSON.parse(read('entities.json'))) entities.set(key(e.uid), e);
const actions = [...entities.values()].filter((e) => e.uid.type === 'Action');
const allRequests = JSON.parse(read('requests.json')).map((r) => ({
    principal: r.principal, action: r.action, resource: r.resource, context: r.context,
    entities: r.slice.map((u) => entities.get(key(u))).filter(Boolean).concat(actions),
}));

function pct(sorted, p) {
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function run(name, text) {
    const requests = allRequests.slice(0, max[name]);
    const pre = cedar.preparsePolicySet('bench-' + name, { staticPolicies: text });
    if (pre.type !== 'success') {
        console.error('cedar-wasm: policies ' + name + ' do not parse: ' +
            pre.errors.map((e) => e.message).join('; '));
        process.exit(1);
    }
    let ours = null;
    try {
        ours = read('decisions_' + name + '.txt').split('\n').filter((l) => l !== '');
    } catch (e) { /* no cross-check */ }
    const lat = new Float64Array(requests.length * passes);
    let total = 0, allow = 0, disagree = 0, failures = 0;
    for (let p = 0; p < passes; p++) {
        for (let i = 0; i < requests.length; i++) {
            const r = requests[i];
            const t0 = process.hrtime.bigint();
            const a = cedar.statefulIsAuthorized({
                principal: r.principal, action: r.action, resource: r.resource,
                context: r.context, preparsedPolicySetId: 'bench-' + name,
                entities: r.entities,
            });
            const ns = Number(process.hrtime.bigint() - t0);
            lat[p * requests.length + i] = ns;
            total += ns;
            if (p > 0) continue;
            if (a.type !== 'success') {
                failures++;
                continue;
            }
            if (a.response.decision === 'allow') allow++;
            if (ours && ours[i] !== a.response.decision) disagree++;
        }
    }
    lat.sort();
    return {
        policies: text.split(';').length - 1, requests: requests.length, allow, failures,
        disagree_with_ours: ours ? disagree : null,
        authorize: {
            per_sec: lat.length / (total / 1e9),
            p50_us: pct(lat, 0.5) / 1e3, p99_us: pct(lat, 0.99) / 1e3,
        },
    };
}

const textA = read('policies_a.cedar');
const textB = textA + read('policies_b.cedar');
const res = { a: run('a', textA), b: run('b', textB), version: cedar.getCedarVersion() };
fs.writeFileSync(path.join(dir, 'wasm.json'), JSON.stringify(res, null, 1) + '\n');
console.log('cedar-wasm ' + res.version);
for (const k of ['a', 'b']) {
    const r = res[k];
    console.log('(' + k + ') ' + r.authorize.per_sec.toFixed(0) + ' decisions/s, p50 ' +
        r.authorize.p50_us.toFixed(2) + ' us, p99 ' + r.authorize.p99_us.toFixed(2) + ' us, ' +
        r.requests + ' requests, ' + r.allow + ' allow, ' + r.failures + ' failed' +
        (r.disagree_with_ours === null ? '' : ', ' + r.disagree_with_ours + ' decisions differ from ours'));
}
