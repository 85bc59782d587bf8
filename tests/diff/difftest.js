'use strict';
/*
 * difftest.js - differential test of Mandate's Cedar engine against the
 * reference implementation (cedar-wasm, the Rust engine compiled to wasm).
 *
 * Usage (from the repository root, after `npm install` and a build):
 *   node tests/diff/difftest.js [--n|-n N] [--seed S] [--only I] [--cli PATH]
 *                               [--procs P] [--jobs J] [--out DIR] [--show K]
 *                               [--gen 1|2]
 *   (make difftest N=... SEED=... runs it on build/src/mandate)
 *     --n     number of generated cases (default 10000)
 *     --seed  seed of the run (default 1); case i of seed S is always the
 *             same case, so a failure is reproduced with --seed S --only i
 *     --only  run just case i (repeatable)
 *     --cli   the mandate binary (default build/src/mandate)
 *     --procs node processes, each running a shard of the cases with its
 *             own cedar-wasm (default 2: the reference is the slow side)
 *     --jobs  CLI processes in flight per node process (default 1)
 *     --out   where mismatching cases are written (default
 *             build/difftest-failures; emptied of earlier cases first);
 *             each is a directory with policies.cedar, entities.json,
 *             requests.json, expected.json (cedar-wasm), got.json (ours)
 *             and stderr.txt (the CLI's), ready to become a unit test
 *     --show  mismatches printed in detail (default 10)
 *     --gen   the generator: 1 is tests/diff/gen.js (the default), 2 is
 *             tests/diff/gen2.js, designed apart from it (its header says
 *             what it stresses); case i of seed S is per generator
 *
 * Each case (tests/diff/gen.js or gen2.js) holds policies, entities and several
 * requests.  cedar-wasm answers each request; our CLI
 * answers all of a case's requests in one call:
 *   mandate check --policies P --entities E --requests R --format json
 *                 --positional-ids
 * (positional ids, as cedar-wasm names the policies of a text policy0,
 * policy1... whatever their @id annotations) printing one JSON line per request (with --schema S when the case has
 * one; then `mandate policy validate --schema S --positional-ids P` also
 * runs and its verdict must equal cedar-wasm's strict validation).
 * A case with templates also gets --template-links L (its links, in the
 * Cedar CLI's format) in both calls; cedar-wasm gets the same policy set
 * as {staticPolicies, templates, templateLinks} keyed by positional id.
 * Compared per request: the decision,
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
const GENERATORS = { 1: './gen.js', 2: './gen2.js' };

const root = path.resolve(__dirname, '..', '..');
function loadCedarWasm() {
    try {
        return require(path.join(root, 'node_modules', '@cedar-policy', 'cedar-wasm', 'nodejs'));
    } catch (e) {
        console.error('cedar-wasm is not installed: run `npm install` (or `npm ci`) in ' + root);
        process.exit(2);
    }
}
const cedar = loadCedarWasm();

function parseArgs(argv) {
    const o = {
        n: 10000, seed: 1, cli: path.join(root, 'build', 'src', 'mandate'),
        jobs: 1, procs: 2, shard: null, scratch: null,
        out: path.join(root, 'build', 'difftest-failures'), show: 10, only: [], gen: 1,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) usage();
            return argv[++i];
        };
        if (a === '--n' || a === '-n') o.n = Number(val());
        else if (a === '--seed') o.seed = Number(val());
        else if (a === '--cli') o.cli = path.resolve(val());
        else if (a === '--jobs') o.jobs = Number(val());
        else if (a === '--procs') o.procs = Number(val());
        else if (a === '--shard') {
            const m = /^(\d+)\/(\d+)$/.exec(val());
            if (!m || Number(m[1]) >= Number(m[2])) usage();
            o.shard = { k: Number(m[1]), m: Number(m[2]) };
        }
        else if (a === '--out') o.out = path.resolve(val());
        else if (a === '--scratch') o.scratch = path.resolve(val());   /* a shard's, from runSharded */
        else if (a === '--show') o.show = Number(val());
        else if (a === '--only') o.only.push(Number(val()));
        else if (a === '--gen') o.gen = Number(val());
        else usage();
    }
    if (!Number.isInteger(o.n) || o.n < 0 || !Number.isInteger(o.jobs) || o.jobs < 1 ||
        !Number.isInteger(o.procs) || o.procs < 1 ||
        !Number.isFinite(o.seed) || GENERATORS[o.gen] === undefined || o.only.some((x) => !Number.isInteger(x) || x < 0)) usage();
    return o;
}

function usage() {
    console.error('usage: node tests/diff/difftest.js [--n N] [--seed S] [--only I] [--cli PATH] ' +
        '[--jobs J] [--procs P] [--out DIR] [--show K] [--gen 1|2]');
    process.exit(2);
}

/* Case i of seed s: an independent stream per case. */
function caseSeed(seed, i) {
    let h = (Math.imul(seed >>> 0, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
    h ^= h >>> 16;
    return Math.imul(h, 0x27d4eb2f) >>> 0;
}

/* ---- the two engines ---- */

/* A link's slot value as cedar-wasm takes it: {type, id} as is, text
 * `Type::"id"` (the id written as a JSON string, as gen.js does) split. */
function wasmUid(v) {
    if (typeof v !== 'string') return v;
    const m = /^(.*?)::("(?:[^"\\]|\\.)*")$/s.exec(v);
    return m ? { type: m[1], id: JSON.parse(m[2]) } : v;
}

/* The case's policy set in cedar-wasm's shape: the text as is, or, with
 * templates, every static policy and template under its positional id
 * (as our CLI names them) and the links. */
function wasmPolicySet(c) {
    if (c.parts === undefined) return { staticPolicies: c.policies };
    const ps = { staticPolicies: {}, templates: {}, templateLinks: [] };
    for (const p of c.parts) (p.template ? ps.templates : ps.staticPolicies)[p.id] = p.text;
    for (const l of c.links) {
        const values = {};
        for (const [k, v] of Object.entries(l.args)) values[k] = wasmUid(v);
        ps.templateLinks.push({ templateId: l.template_id, newId: l.link_id, values });
    }
    return ps;
}

/* The reference's answers to a case's requests.  A normalised answer is
 * { error: message } or { decision, reason: [sorted ids], errors: [sorted
 * ids], messages }.  The policies (and schema) are parsed once per case
 * (preparse + statefulIsAuthorized), as isAuthorized would parse them per
 * request; a parse failure rejects every request, as it would there. */
function wasmAnswers(c) {
    const fail = (msg) => c.requests.map(() => ({ error: msg }));
    try {
        const pp = cedar.preparsePolicySet('case', wasmPolicySet(c));
        if (pp.type !== 'success') return fail(pp.errors.map((e) => e.message).join('; '));
        if (c.schema !== undefined) {
            const ps = cedar.preparseSchema('case', c.schema);
            if (ps.type !== 'success') return fail(ps.errors.map((e) => e.message).join('; '));
        }
    } catch (e) {
        return fail('cedar-wasm threw: ' + e.message);
    }
    return c.requests.map((req) => {
        let a;
        try {
            const call = {
                principal: req.principal, action: req.action, resource: req.resource,
                context: req.context, preparsedPolicySetId: 'case', entities: c.entities,
            };
            if (c.schema !== undefined) {
                call.preparsedSchemaName = 'case';
                call.validateRequest = true;
            }
            a = cedar.statefulIsAuthorized(call);
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
    });
}

/* Strict validation of the case's policies against its schema: true when
 * the reference finds no error (a schema or policies that do not parse
 * count as not valid, as they make our `policy validate` fail too).
 *
 * One deliberate exception: a policy whose scope no action's appliesTo
 * admits.  cedar-wasm 4.13 only warns ("unable to find an applicable
 * action given the policy scope constraints"); the conformance corpus,
 * made with an earlier 4.x, expects an error (35 of its tests), and we
 * follow the corpus.  So that warning counts as an error here. */
const SCOPE_WARNING = /unable to find an applicable action given the policy scope constraints/;

function wasmValid(c) {
    try {
        const v = cedar.validate({
            schema: c.schema, policies: wasmPolicySet(c),
            validationSettings: { mode: 'strict' },
        });
        return v.type === 'success' && v.validationErrors.length === 0 &&
            !v.validationWarnings.some((w) => SCOPE_WARNING.test(w.error.message));
    } catch (e) {
        return false;
    }
}

/* Our CLI is run by long-lived shell workers: node's spawn() forks the
 * whole (large) node process and costs ~10 ms a call, a small shell
 * costs far less.  A worker reads a case directory per line, runs the CLI
 * on it (stdout straight back to us, stderr into the directory) and
 * marks the end with "@@END <status>". */
const WORKER_SCRIPT = `
if command -v timeout >/dev/null 2>&1; then t="timeout 20"; else t=""; fi
while IFS= read -r dir; do
  if [ -f "$dir/links.json" ]; then set -- --template-links "$dir/links.json"; else set --; fi
  if [ -f "$dir/schema.cedarschema" ]; then
    $t "$CLI" check --policies "$dir/policies.cedar" --entities "$dir/entities.json" \\
        --schema "$dir/schema.cedarschema" "$@" --positional-ids \\
        --requests "$dir/requests.json" --format json 2>"$dir/stderr.txt"
    rc=$?
    $t "$CLI" policy validate --schema "$dir/schema.cedarschema" --positional-ids "$@" \\
        "$dir/policies.cedar" >"$dir/validate.txt" 2>&1
    printf '\\n@@VALID %s\\n' "$?"
  else
    $t "$CLI" check --policies "$dir/policies.cedar" --entities "$dir/entities.json" "$@" \\
        --positional-ids --requests "$dir/requests.json" --format json 2>"$dir/stderr.txt"
    rc=$?
  fi
  printf '\\n@@END %s\\n' "$rc"
done
`;

class CliWorker {
    constructor(opts, slotDir) {
        this.dir = slotDir;
        fs.mkdirSync(slotDir, { recursive: true });
        this.proc = spawn('/bin/sh', ['-c', WORKER_SCRIPT], {
            stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, CLI: opts.cli },
        });
        this.buf = '';
        this.lines = [];
        this.valid = null;
        this.resolve = null;
        this.proc.stdout.setEncoding('utf8');
        this.proc.stdout.on('data', (chunk) => this.onData(chunk));
        this.proc.on('exit', () => {
            if (this.resolve) this.finish('worker shell exited');
        });
    }

    onData(chunk) {
        this.buf += chunk;
        let nl;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
            const line = this.buf.slice(0, nl);
            this.buf = this.buf.slice(nl + 1);
            if (line.startsWith('@@END ')) this.finish(line.slice(6));
            else if (line.startsWith('@@VALID ')) this.valid = line.slice(8).trim();
            else if (line.trim() !== '') this.lines.push(line);
        }
    }

    finish(status) {
        const resolve = this.resolve;
        const lines = this.lines;
        const valid = this.valid;
        this.resolve = null;
        this.lines = [];
        this.valid = null;
        if (resolve) resolve({ lines, status, valid });
    }

    /* The case's files must already be in this.dir. */
    run() {
        return new Promise((resolve) => {
            this.resolve = resolve;
            this.proc.stdin.write(this.dir + '\n');
        });
    }

    close() {
        this.proc.stdin.end();
    }
}

function parseCliOutput(dir, out, nRequests) {
    const answers = [];
    let stderr = '';
    try {
        stderr = fs.readFileSync(path.join(dir, 'stderr.txt'), 'utf8');
    } catch (e) { /* none */ }
    for (let i = 0; i < nRequests; i++) {
        const line = out.lines[i];
        if (line === undefined) {
            answers.push({ error: 'no answer (exit ' + out.status + '): ' + stderr.trim().slice(0, 300) });
            continue;
        }
        let j;
        try {
            j = JSON.parse(line);
        } catch (e) {
            answers.push({ error: 'unparsable line: ' + line.slice(0, 200) });
            continue;
        }
        if (j.decision !== 'allow' && j.decision !== 'deny') {
            answers.push({ error: j.error ? String(j.error) : 'no decision: ' + line.slice(0, 200) });
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
    return answers;
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
    fs.writeFileSync(path.join(dir, 'policies.cedar'), c.policies);
    const schema = path.join(dir, 'schema.cedarschema');
    if (c.schema !== undefined) fs.writeFileSync(schema, c.schema);
    else fs.rmSync(schema, { force: true });
    fs.writeFileSync(path.join(dir, 'entities.json'), JSON.stringify(c.entities, null, 1) + '\n');
    fs.writeFileSync(path.join(dir, 'requests.json'), JSON.stringify(c.requests, null, 1) + '\n');
    const links = path.join(dir, 'links.json');
    if (c.links !== undefined) fs.writeFileSync(links, JSON.stringify(c.links, null, 1) + '\n');
    else fs.rmSync(links, { force: true });
}

/* Scratch space: tmpfs when there is one (rewriting a small file on ext4
 * can cost milliseconds), else the system's temporary directory. */
function scratchRoot() {
    try {
        fs.accessSync('/dev/shm', fs.constants.W_OK);
        return '/dev/shm';
    } catch (e) {
        return os.tmpdir();
    }
}

/* Run the cases of one shard (i % shards.m === shards.k) in this process:
 * cedar-wasm here, our CLI in opts.jobs shell workers.  Returns counts. */
async function runShard(opts, shard) {
    const { makeRng, generateCase } = require(GENERATORS[opts.gen]);
    const work = fs.mkdtempSync(opts.scratch ? path.join(opts.scratch, 'shard' + shard.k + '-')
        : path.join(scratchRoot(), 'mandate-difftest-'));
    const all = opts.only.length ? opts.only : Array.from({ length: opts.n }, (_, i) => i);
    const indices = all.filter((i) => i % shard.m === shard.k);
    const res = { cases: indices.length, passed: 0, failed: 0, requests: 0, rejectedBoth: 0,
        allow: 0, deny: 0, withErrors: 0, withSchema: 0, validBoth: 0, invalidBoth: 0,
        withTemplates: 0, linkedReasons: 0 };
    let shown = 0;
    const workers = Array.from({ length: opts.jobs }, (_, k) => new CliWorker(opts, path.join(work, 'slot' + k)));
    const idle = workers.slice();
    const waiting = [];
    const inflight = new Set();

    /* want/got: per-request answers; wantValid/gotValid: the validation
     * verdicts (null without a schema) */
    const finish = (i, c, want, got, wantValid, gotValid, dir) => {
        const bad = [];
        const badValid = wantValid !== gotValid;
        if (wantValid !== null) {
            res.withSchema++;
            if (!badValid) res[wantValid ? 'validBoth' : 'invalidBoth']++;
        }
        for (let r = 0; r < c.requests.length; r++) {
            if (!sameAnswer(want[r], got[r])) {
                bad.push(r);
            } else if (want[r].error !== undefined) {
                res.rejectedBoth++;
            } else {
                res[want[r].decision]++;
                if (want[r].errors.length) res.withErrors++;
                if (want[r].reason.some((id) => id.startsWith('link'))) res.linkedReasons++;
            }
        }
        if (bad.length === 0 && !badValid) {
            res.passed++;
            return;
        }
        res.failed++;
        const keep = path.join(opts.out, 'seed' + opts.seed + '-case' + i);
        fs.rmSync(keep, { recursive: true, force: true });
        fs.mkdirSync(opts.out, { recursive: true });
        fs.cpSync(dir, keep, { recursive: true });
        const record = (answers, valid) => JSON.stringify(valid === null ? answers
            : { valid, requests: answers }, null, 1) + '\n';
        fs.writeFileSync(path.join(keep, 'expected.json'), record(want, wantValid));
        fs.writeFileSync(path.join(keep, 'got.json'), record(got, gotValid));
        if (shown < opts.show) {
            shown++;
            const lines = ['MISMATCH seed ' + opts.seed + ' case ' + i + ' (' + keep +
                '; rerun with --seed ' + opts.seed + ' --only ' + i + ')'];
            if (badValid) {
                lines.push('  strict validation: expected ' + (wantValid ? 'valid' : 'invalid') +
                    ', got ' + (gotValid ? 'valid' : 'invalid'));
                let ours = '';
                try {
                    ours = fs.readFileSync(path.join(dir, 'validate.txt'), 'utf8');
                } catch (e) { /* none */ }
                for (const l of ours.split('\n').filter((x) => x).slice(0, 3)) lines.push('    ours:  ' + l.slice(0, 200));
            }
            for (const r of bad.slice(0, 3)) {
                lines.push('  request ' + r + ': ' + JSON.stringify(c.requests[r]).slice(0, 300));
                lines.push('    expected ' + brief(want[r]));
                lines.push('    got      ' + brief(got[r]));
                for (const m of (want[r].messages || []).slice(0, 3)) lines.push('    wasm:  ' + m.slice(0, 200));
                for (const m of (got[r].messages || []).slice(0, 3)) lines.push('    ours:  ' + m.slice(0, 200));
            }
            console.log(lines.join('\n'));
        }
    };

    for (const i of indices) {
        const c = generateCase(makeRng(caseSeed(opts.seed, i)));
        res.requests += c.requests.length;
        if (c.parts !== undefined) res.withTemplates++;
        if (idle.length === 0) await new Promise((resolve) => waiting.push(resolve));
        const w = idle.pop();
        writeCase(w.dir, c);
        /* start our CLI, then run the reference while it works */
        const pending = w.run();
        const want = wasmAnswers(c);
        const wantValid = c.schema !== undefined ? wasmValid(c) : null;
        const p = pending.then((out) => {
            const gotValid = c.schema === undefined ? null
                : out.valid === null ? undefined : out.valid === '0';
            finish(i, c, want, parseCliOutput(w.dir, out, c.requests.length), wantValid, gotValid, w.dir);
            idle.push(w);
            if (waiting.length) waiting.shift()();
        });
        inflight.add(p);
        p.finally(() => inflight.delete(p));
    }
    await Promise.all(inflight);
    for (const w of workers) w.close();
    fs.rmSync(work, { recursive: true, force: true });
    return res;
}

/* Run opts.procs copies of this script, one shard each (cedar-wasm is the
 * slow side and is single-threaded), and add up their counts.  Even with
 * one process the work runs in a child, for the V8 flag below. */
function runSharded(opts, argv) {
    const total = { cases: 0, passed: 0, failed: 0, requests: 0, rejectedBoth: 0,
        allow: 0, deny: 0, withErrors: 0, withSchema: 0, validBoth: 0, invalidBoth: 0,
        withTemplates: 0, linkedReasons: 0 };
    const show = Math.ceil(opts.show / opts.procs);
    /* Node 20's V8 dies now and then in its deoptimizer on this workload
     * ("Fatal error ... unreachable code", cf. nodejs/node#51555), every
     * few thousand cases.  Shards therefore run without the optimizing JS
     * compiler (--no-opt: the time goes into wasm, which it does not
     * affect), and a shard that still dies is run once more (shards are
     * deterministic). */
    /* the shards' scratch directories live under one of this run's,
     * removed here at the end: a shard that dies cannot remove its own */
    const scratch = fs.mkdtempSync(path.join(scratchRoot(), 'mandate-difftest-'));
    const removeScratch = () => fs.rmSync(scratch, { recursive: true, force: true });
    const running = new Set();
    process.on('exit', removeScratch);
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
        process.on(sig, () => {
            for (const c of running) c.kill('SIGTERM');
            process.exit(code);
        });
    }
    const runOne = (k, attempt) => new Promise((resolve) => {
        const child = spawn(process.execPath, ['--no-opt', __filename, ...argv, '--show', String(show),
            '--shard', k + '/' + opts.procs, '--scratch', scratch], { stdio: ['ignore', 'pipe', 'inherit'] });
        running.add(child);
        let buf = '';
        let result = null;
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk) => {
            buf += chunk;
            let nl;
            while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (line.startsWith('@@SHARD ')) result = JSON.parse(line.slice(8));
                else console.log(line);
            }
        });
        child.on('close', (code, signal) => {
            running.delete(child);
            if (result) resolve(result);
            else if (attempt === 0) {
                console.error('difftest: shard ' + k + ' died (' + (signal || 'exit ' + code) + '), running it again');
                resolve(runOne(k, 1));
            } else resolve({ error: 'shard ' + k + ' died twice (' + (signal || 'exit ' + code) + ')' });
        });
    });
    const children = [];
    for (let k = 0; k < opts.procs; k++) children.push(runOne(k, 0));
    return Promise.all(children).then((results) => {
        removeScratch();
        for (const r of results) {
            if (r.error) {
                console.error('difftest: ' + r.error);
                total.failed++;
                continue;
            }
            for (const key of Object.keys(total)) total[key] += r[key];
        }
        return total;
    });
}

async function main() {
    const argv = process.argv.slice(2);
    const opts = parseArgs(argv);
    if (!fs.existsSync(opts.cli)) {
        console.error('difftest: no CLI at ' + opts.cli + ' (build first, or pass --cli)');
        process.exit(2);
    }
    const t0 = Date.now();
    if (!opts.shard) {
        /* the failures of an earlier run would be mistaken for this one's */
        try {
            for (const name of fs.readdirSync(opts.out)) {
                if (/^seed[0-9.e+-]+-case[0-9]+$/.test(name)) fs.rmSync(path.join(opts.out, name), { recursive: true, force: true });
            }
        } catch (e) { /* no such directory yet */ }
    }
    if (opts.shard) {
        const r = await runShard(opts, opts.shard);
        console.log('@@SHARD ' + JSON.stringify(r));
        return;
    }
    const res = await runSharded(opts, argv);
    const secs = (Date.now() - t0) / 1000;
    console.log(res.cases + ' cases, ' + res.requests + ' requests in ' + secs.toFixed(1) + ' s (seed ' +
        opts.seed + (opts.gen !== 1 ? ', generator ' + opts.gen : '') + '); matching answers: ' + res.allow + ' allow, ' + res.deny + ' deny, ' +
        res.withErrors + ' with policy errors, ' + res.rejectedBoth + ' inputs rejected by both; ' +
        res.withSchema + ' cases with a schema, policies agreed valid in ' + res.validBoth +
        ' and invalid in ' + res.invalidBoth + '; ' + res.withTemplates + ' cases with templates, ' +
        res.linkedReasons + ' matching answers with a link among the reasons');
    if (res.failed > 0) console.log('mismatching cases written to ' + opts.out);
    console.log(res.passed + ' passed, ' + res.failed + ' failed');
    process.exit(res.failed === 0 ? 0 : 1);
}

main().catch((e) => {
    console.error('difftest: ' + (e && e.stack ? e.stack : e));
    process.exit(2);
});
