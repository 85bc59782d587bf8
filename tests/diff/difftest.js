'use strict';
/*
 * difftest.js - differential test of Mandate's Cedar engine against the
 * reference implementation (cedar-wasm, the Rust engine compiled to wasm).
 *
 * Usage (from the repository root, after `npm install` and a build):
 *   node tests/diff/difftest.js [--n N] [--seed S] [--cli PATH] [--jobs J]
 *                               [--out DIR] [--show K]
 *     --n     number of generated cases (default 10000)
 *     --seed  seed of the run (default 1); case i of seed S is always the
 *             same case, so a failure is reproduced with --seed S --only i
 *     --only  run just case i (repeatable)
 *     --cli   the mandate binary (default build/src/mandate)
 *     --jobs  CLI processes in flight (default 2)
 *     --out   where mismatching cases are written (default
 *             build/difftest-failures); each is a directory with
 *             policies.cedar, entities.json, requests.json, expected.json
 *             (cedar-wasm) and got.json (ours), ready to become a unit test
 *     --show  mismatches printed in detail (default 10)
 *
 * Each case (tests/diff/gen.js) holds policies, entities and several
 * requests.  cedar-wasm's isAuthorized answers each request; our CLI
 * answers all of a case's requests in one call:
 *   mandate check --policies P --entities E --requests R --format json
 * printing one JSON line per request.  Compared per request: the decision,
 * the reasons (as a set) and the ids of the policies that errored (as a
 * set); when the reference rejects the input (policies that do not parse,
 * malformed entities or context) we must reject it too.  A case passes
 * when all its requests match.  Ends with "N passed, M failed"; exit 1 on
 * any mismatch.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { makeRng, generateCase } = require('./gen.js');

const root = path.resolve(__dirname, '..', '..');
const cedar = require(path.join(root, 'node_modules', '@cedar-policy', 'cedar-wasm', 'nodejs'));

function parseArgs(argv) {
    const o = {
        n: 10000, seed: 1, cli: path.join(root, 'build', 'src', 'mandate'),
        jobs: 2, out: path.join(root, 'build', 'difftest-failures'), show: 10, only: [],
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage();
            return argv[++i];
        };
        if (a === '--n') o.n = Number(val());
        else if (a === '--seed') o.seed = Number(val());
        else if (a === '--cli') o.cli = path.resolve(val());
        else if (a === '--jobs') o.jobs = Number(val());
        else if (a === '--out') o.out = path.resolve(val());
        else if (a === '--show') o.show = Number(val());
        else if (a === '--only') o.only.push(Number(val()));
        else usage();
    }
    if (!Number.isInteger(o.n) || o.n < 0 || !Number.isInteger(o.jobs) || o.jobs < 1 ||
        !Number.isFinite(o.seed) || o.only.some((x) => !Number.isInteger(x) || x < 0)) usage();
    return o;
}

function usage() {
    console.error('usage: node tests/diff/difftest.js [--n N] [--seed S] [--only I] [--cli PATH] ' +
        '[--jobs J] [--out DIR] [--show K]');
    process.exit(2);
}

/* Case i of seed s: an independent stream per case. */
function caseSeed(seed, i) {
    let h = (Math.imul(seed >>> 0, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
    h ^= h >>> 16;
    return Math.imul(h, 0x27d4eb2f) >>> 0;
}

/* ---- the two engines ---- */

/* A normalised answer: { error: message } or
 * { decision, reason: [sorted ids], errors: [sorted ids], messages }. */
function wasmAnswer(c, req) {
    let a;
    try {
        a = cedar.isAuthorized({
            principal: req.principal, action: req.action, resource: req.resource,
            context: req.context, policies: { staticPolicies: c.policies }, entities: c.entities,
        });
    } catch (e) {
        return { error: 'cedar-wasm threw: ' + e.message };
    }
    if (a.type !== 'success') return { error: a.errors.map((e) => e.message).join('; ') };
    const d = a.response.diagnostics;
    return {
        decision: a.response.decision,
        reason: [...new Set(d.reason)].sort(),
        errors: [...new Set(d.errors.map((e) => e.policyId))].sort(),
        messages: d.errors.map((e) => e.policyId + ': ' + e.error.message),
    };
}

function cliAnswers(opts, dir, nRequests) {
    return new Promise((resolve) => {
        const args = ['check', '--policies', path.join(dir, 'policies.cedar'),
            '--entities', path.join(dir, 'entities.json'),
            '--requests', path.join(dir, 'requests.json'), '--format', 'json'];
        let out = '', err = '';
        let child;
        try {
            child = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e) {
            resolve(Array(nRequests).fill({ error: 'spawn failed: ' + e.message }));
            return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
        child.stdout.on('data', (b) => { out += b; });
        child.stderr.on('data', (b) => { err += b; });
        child.on('error', (e) => { err += e.message; });
        child.on('close', (code, signal) => {
            clearTimeout(timer);
            const lines = out.split('\n').filter((l) => l.trim() !== '');
            const answers = [];
            const why = signal ? 'killed by ' + signal : 'exit ' + code;
            for (let i = 0; i < nRequests; i++) {
                if (i >= lines.length) {
                    answers.push({ error: 'no answer (' + why + '): ' + err.trim().slice(0, 300) });
                    continue;
                }
                let j;
                try {
                    j = JSON.parse(lines[i]);
                } catch (e) {
                    answers.push({ error: 'unparsable line: ' + lines[i].slice(0, 200) });
                    continue;
                }
                if (j.decision !== 'allow' && j.decision !== 'deny') {
                    answers.push({ error: j.error ? String(j.error) : 'no decision: ' + lines[i].slice(0, 200) });
                    continue;
                }
                const errs = Array.isArray(j.errors) ? j.errors : [];
                answers.push({
                    decision: j.decision,
                    reason: [...new Set(Array.isArray(j.reason) ? j.reason : [])].sort(),
                    errors: [...new Set(errs.map((e) => (typeof e === 'string' ? e : e.policy)))].sort(),
                    messages: errs.map((e) => (typeof e === 'string' ? e : e.policy + ': ' + e.message)),
                });
            }
            resolve(answers);
        });
    });
}

function sameAnswer(want, got) {
    if (want.error !== undefined || got.error !== undefined)
        return want.error !== undefined && got.error !== undefined;
    return want.decision === got.decision &&
        JSON.stringify(want.reason) === JSON.stringify(got.reason) &&
        JSON.stringify(want.errors) === JSON.stringify(got.errors);
}

function brief(a) {
    if (a.error !== undefined) return 'rejected: ' + a.error.slice(0, 300);
    return a.decision + ' reason [' + a.reason.join(',') + '] errors [' + a.errors.join(',') + ']';
}

/* ---- main ---- */

function writeCase(dir, c) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'policies.cedar'), c.policies);
    fs.writeFileSync(path.join(dir, 'entities.json'), JSON.stringify(c.entities, null, 1) + '\n');
    fs.writeFileSync(path.join(dir, 'requests.json'), JSON.stringify(c.requests, null, 1) + '\n');
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    if (!fs.existsSync(opts.cli)) {
        console.error('difftest: no CLI at ' + opts.cli + ' (build first, or pass --cli)');
        process.exit(2);
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-difftest-'));
    const indices = opts.only.length ? opts.only : Array.from({ length: opts.n }, (_, i) => i);
    const t0 = Date.now();
    let passed = 0, failed = 0, shown = 0, requests = 0, rejectedBoth = 0;
    const inflight = new Set();
    const stats = { allow: 0, deny: 0, withErrors: 0 };

    const finish = (i, c, want, got, dir) => {
        let ok = true;
        const bad = [];
        for (let r = 0; r < c.requests.length; r++) {
            if (!sameAnswer(want[r], got[r])) {
                ok = false;
                bad.push(r);
            } else if (want[r].error !== undefined) {
                rejectedBoth++;
            } else {
                stats[want[r].decision]++;
                if (want[r].errors.length) stats.withErrors++;
            }
        }
        if (ok) {
            passed++;
            fs.rmSync(dir, { recursive: true, force: true });
            return;
        }
        failed++;
        const keep = path.join(opts.out, 'seed' + opts.seed + '-case' + i);
        fs.rmSync(keep, { recursive: true, force: true });
        fs.mkdirSync(opts.out, { recursive: true });
        fs.cpSync(dir, keep, { recursive: true });
        fs.rmSync(dir, { recursive: true, force: true });
        fs.writeFileSync(path.join(keep, 'expected.json'), JSON.stringify(want, null, 1) + '\n');
        fs.writeFileSync(path.join(keep, 'got.json'), JSON.stringify(got, null, 1) + '\n');
        if (shown < opts.show) {
            shown++;
            console.log('MISMATCH seed ' + opts.seed + ' case ' + i + ' (' + keep + ')');
            for (const r of bad.slice(0, 3)) {
                console.log('  request ' + r + ': ' + JSON.stringify(c.requests[r]).slice(0, 300));
                console.log('    expected ' + brief(want[r]));
                console.log('    got      ' + brief(got[r]));
                for (const m of (want[r].messages || []).slice(0, 3)) console.log('    wasm:  ' + m.slice(0, 200));
                for (const m of (got[r].messages || []).slice(0, 3)) console.log('    ours:  ' + m.slice(0, 200));
            }
        }
    };

    for (const i of indices) {
        const c = generateCase(makeRng(caseSeed(opts.seed, i)));
        const dir = path.join(work, 'case' + i);
        writeCase(dir, c);
        requests += c.requests.length;
        /* start our CLI, then run the reference while it works */
        const pending = cliAnswers(opts, dir, c.requests.length);
        const want = c.requests.map((req) => wasmAnswer(c, req));
        const p = pending.then((got) => finish(i, c, want, got, dir));
        inflight.add(p);
        p.finally(() => inflight.delete(p));
        if (inflight.size >= opts.jobs) await Promise.race(inflight);
    }
    await Promise.all(inflight);
    fs.rmSync(work, { recursive: true, force: true });

    const secs = (Date.now() - t0) / 1000;
    console.log(indices.length + ' cases, ' + requests + ' requests in ' + secs.toFixed(1) + ' s (seed ' +
        opts.seed + '); matching answers: ' + stats.allow + ' allow, ' + stats.deny + ' deny, ' +
        stats.withErrors + ' with policy errors, ' + rejectedBoth + ' inputs rejected by both');
    if (failed > 0) console.log('mismatching cases written to ' + opts.out);
    console.log(passed + ' passed, ' + failed + ' failed');
    process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error('difftest: ' + (e && e.stack ? e.stack : e));
    process.exit(2);
});
