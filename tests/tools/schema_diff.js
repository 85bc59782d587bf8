#!/usr/bin/env node
/*
 * schema_diff.js - differential checks of Mandate's schema parsers against
 * the reference (cedar-wasm, pinned in package.json).  Run by hand with
 * tests/tools/schema_check.c:
 *
 *   node tests/tools/schema_diff.js gen DIR N SEED text|json
 *       N mutated schemas (from the seeds below and corpus schemas) in DIR,
 *       with the reference's verdict in DIR/manifest.tsv
 *   node tests/tools/schema_diff.js resolve DIR FILE.cedarschema...
 *       DIR/<name>.json: the reference's JSON with every type name
 *       resolved (schemaToJsonWithResolvedTypes), for `schema_check -same`
 *
 * Corpus schemas are read from $CORPUS (default /tmp/corpus/corpus-tests);
 * $CEDAR_WASM overrides where cedar-wasm's nodejs package is found.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const cedar = require(process.env.CEDAR_WASM || path.join(__dirname, '..', '..',
  'node_modules', '@cedar-policy', 'cedar-wasm', 'nodejs'));

const SEEDS = [
  `type Addr = { street: String, "zip code"?: Long, };
entity Region;
@doc("ns")
namespace Acme::Corp {
  type Name = String;
  entity User in [Group] = { name: Name, addr: Addr, home: Region, ip: ipaddr, t: Set<__cedar::decimal> } tags String;
  entity Group, Team in Region { };
  entity Color enum ["red", "green"];
  type Ctx = { when_: datetime };
  action "read", write in [all] appliesTo { principal: User, resource: [Group, Team], context: Ctx };
  action all;
  action "x" in [Action::"read", Acme::Corp::Action::"all", "all"] appliesTo { principal: [User], resource: [Color], };
}
action top in Acme::Corp::Action::"all";`,
  `namespace N { entity T; type T = { y: Long }; entity E { t: T, u: Set<N::T> }; entity F in [T]; action a appliesTo { principal: F, resource: E, context: { x: Bool } }; }`,
  `entity Long; entity A { x: Long, y: __cedar::Long, z: Bool, w: String }; type S = Set<A>; action b appliesTo { principal: A, resource: Long, context: { s: S } };`,
  `namespace A { entity X; action v; } entity Y { x: A::X }; action w in A::Action::"v";`,
  `entity entity { type: Long, namespace: String, Set: Bool }; entity Set; entity B { s: Set<Set> }; action "do" appliesTo { principal: [entity], resource: [B] };`,
  `@a("1") @b entity E in [G] { @c("d") x?: decimal, y: duration } tags Set<Long>; entity G enum ["a", "b", ""]; action q in [r] appliesTo { principal: E, resource: G }; action r;`,
];
const IDS = ['Long', 'Bool', 'Boolean', 'String', '__cedar::Long', '__cedar::Bool',
  '__cedar::ipaddr', 'ipaddr', 'decimal', 'Action', 'N::Action', 'Set', 'Record', 'Entity',
  'Extension', '__cedar', 'A', 'T', 'E', 'F', 'G', 'N::T', 'N::E', 'A::X', 'User', 'Region',
  'Acme::Corp::User', 'Acme::Corp::Action', 'Name', 'Ctx', 'Addr', 'S', 'in', 'if', 'is',
  'has', 'true', 'entity', 'type', 'action', 'namespace', 'context', 'tags', 'enum',
  'principal', 'resource', '"all"', '"read"', '"x"', 'all', 'read', 'x', 'X', 'Y', 'Color'];
const PUNCT = [',', ';', ':', '::', '{', '}', '[', ']', '<', '>', '=', '?', '@doc("y")',
  'Set<Long>', '{ a: Long }', '[]', 'Action::"all"'];
const JSTR = ['Long', 'Boolean', 'Bool', 'String', 'Set', 'Record', 'Entity', 'EntityOrCommon',
  'Extension', 'Foo', '__cedar::Long', '__cedar::Bool', 'ipaddr', 'decimal', 'N::U', 'U', 'G',
  'T', 'C', 'S', 'R', 'Action', 'N::Action', 'v', 'w', '', 'A B', 'if', '__cedar', 'N', 'x::'];
const JKEYS = ['type', 'element', 'attributes', 'additionalAttributes', 'name', 'required',
  'annotations', 'memberOfTypes', 'shape', 'tags', 'enum', 'memberOf', 'appliesTo',
  'principalTypes', 'resourceTypes', 'context', 'id', 'entityTypes', 'actions', 'commonTypes'];

let state = 1;
const rnd = () => { state = (state * 1103515245 + 12345) & 0x7fffffff; return state / 0x7fffffff; };
const pick = (a) => a[Math.floor(rnd() * a.length)];

function corpus(lo, hi) {
  const dir = process.env.CORPUS || '/tmp/corpus/corpus-tests';
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.cedarschema')).sort().slice(lo, hi)
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).filter((t) => t.length < 2500);
}

function mutateText(base) {
  const toks = base.match(/"(?:\\.|[^"\\])*"|[A-Za-z_][A-Za-z0-9_]*|::|\/\/[^\n]*|\s+|./g);
  const sig = () => toks.map((t, k) => k).filter((k) => !/^\s+$/.test(toks[k]));
  const names = rnd() < 0.7;
  for (let m = 1 + Math.floor(rnd() * 2); m > 0; m--) {
    const idx = sig();
    if (names) {
      const ids = idx.filter((j) => /^[A-Za-z_"]/.test(toks[j]));
      if (!ids.length) break;
      toks[pick(ids)] = rnd() < 0.5 ? pick(IDS) : toks[pick(ids)];
      continue;
    }
    const k = pick(idx), r = rnd();
    if (r < 0.3) toks[k] = pick(PUNCT.concat(IDS));
    else if (r < 0.5) toks.splice(k, 1);
    else if (r < 0.7) toks.splice(k, 0, pick(PUNCT.concat(IDS)), ' ');
    else { const k2 = pick(idx); [toks[k], toks[k2]] = [toks[k2], toks[k]]; }
  }
  return toks.join('');
}

function mutateJson(o) {
  const anyval = () => pick([null, [], {}, 1, true, 'Long', { type: 'Long' },
    { type: 'Record', attributes: {} }, ['U'], [{ id: 'w' }], pick(JSTR)]);
  const nodes = (v, acc, p, k) => {
    if (p !== null) acc.push([p, k, v]);
    if (v && typeof v === 'object') for (const kk of Object.keys(v)) nodes(v[kk], acc, v, kk);
    return acc;
  };
  for (let m = 1 + Math.floor(rnd() * 2); m > 0; m--) {
    const all = nodes(o, [], null, null);
    if (!all.length) break;
    const [p, k, v] = pick(all), r = rnd();
    if (r < 0.2) { if (Array.isArray(p)) p.splice(k, 1); else delete p[k]; }
    else if (r < 0.45 && typeof v === 'string') p[k] = pick(JSTR);
    else if (r < 0.6) p[k] = anyval();
    else if (r < 0.75 && !Array.isArray(p)) {
      const val = p[k]; delete p[k]; p[pick(rnd() < 0.5 ? JKEYS : JSTR)] = val;
    } else if (v && typeof v === 'object' && !Array.isArray(v)) v[pick(JKEYS)] = anyval();
  }
  return o;
}

function gen(dir, n, seed, form) {
  state = seed;
  fs.mkdirSync(dir, { recursive: true });
  const texts = SEEDS.concat(corpus(0, 400));
  const jsons = texts.map((t) => cedar.schemaToJson(t)).filter((r) => r.type === 'success')
    .map((r) => r.json);
  const lines = [];
  let accepted = 0;
  for (let i = 0; i < n; i++) {
    let input, file;
    if (form === 'json') {
      input = mutateJson(JSON.parse(JSON.stringify(pick(jsons))));
      file = `${i}.json`;
      fs.writeFileSync(path.join(dir, file), JSON.stringify(input));
    } else {
      input = mutateText(rnd() < 0.6 ? pick(SEEDS) : pick(texts));
      file = `${i}.cedarschema`;
      fs.writeFileSync(path.join(dir, file), input);
    }
    const r = cedar.checkParseSchema(input);
    const ok = r.type === 'success';
    if (ok) accepted++;
    const msg = ok ? '' : r.errors.map((e) => e.message).join(' | ').replace(/\s+/g, ' ');
    lines.push(`${i}\t${ok ? 1 : 0}\t${msg.slice(0, 300)}`);
  }
  fs.writeFileSync(path.join(dir, 'manifest.tsv'), lines.join('\n') + '\n');
  console.log(`${n} ${form} schemas in ${dir}: the reference accepts ${accepted}`);
}

function resolve(dir, files) {
  fs.mkdirSync(dir, { recursive: true });
  let ok = 0;
  for (const f of files) {
    const r = cedar.schemaToJsonWithResolvedTypes(fs.readFileSync(f, 'utf8'));
    if (r.type !== 'success') continue;
    ok++;
    fs.writeFileSync(path.join(dir, path.basename(f).replace(/\.cedarschema$/, '.json')),
      JSON.stringify(r.json));
  }
  console.log(`${ok} of ${files.length} converted into ${dir}`);
}

const [cmd, dir, ...rest] = process.argv.slice(2);
if (cmd === 'gen') gen(dir, parseInt(rest[0] || '1000', 10), parseInt(rest[1] || '1', 10), rest[2] || 'text');
else if (cmd === 'resolve') resolve(dir, rest);
else {
  console.error('usage: schema_diff.js gen DIR N SEED text|json | resolve DIR FILE...');
  process.exit(2);
}
