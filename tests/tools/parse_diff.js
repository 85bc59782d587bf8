// parse_diff.js - run by hand: differential test of the policy parser
// against the reference (cedar-wasm).  Mutates valid policies token by
// token, asks both parsers whether each text parses (and how many static
// policies and templates it holds), and prints the disagreements.
//
//   node tests/tools/parse_diff.js N SEED /tmp/parse_diff_run [seed files...]
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');
const cedar = require('@cedar-policy/cedar-wasm/nodejs');

const N = parseInt(process.argv[2] || '10000', 10);
let seed = parseInt(process.argv[3] || '1', 10);
const runner = process.argv[4];
const files = process.argv.slice(5);

function rnd(n) {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const pick = (a) => a[rnd(a.length)];

const bases = [
  'permit(principal, action, resource);',
  'forbid(principal == User::"a", action == Action::"view", resource in Folder::"f") when { true } unless { false };',
  'permit(principal is User, action in [Action::"a", NS::Action::"b"], resource is Photo in Album::"x");',
  'permit(principal in ?principal, action, resource == ?resource);',
  'permit(principal is User in ?principal, action, resource is Doc in ?resource);',
  '@id("x") @advice permit(principal, action, resource) when { context.a.b == 1 };',
  'permit(principal, action, resource) when { 1 + 2 * 3 - -4 == --5 && !true || !!false };',
  'permit(principal, action, resource) when { if context.a then 1 else 2 } unless { principal has a.b };',
  'permit(principal, action, resource) when { principal.name like "*a\\*b" && principal is User in Group::"g" };',
  'permit(principal, action, resource) when { [1, [2, "x"], []].contains(1) && {a: 1, "b": 2}.a == 1 };',
  'permit(principal, action, resource) when { ip("10.0.0.1").isInRange(ip("10.0.0.0/8")) && decimal("1.2").lessThan(decimal("2")) };',
  'permit(principal, action, resource) when { principal["x y"].z.getTag("t") < -9223372036854775808 };',
  'permit(principal, action, resource) when { "a\\u{1F600}\\x41\\n\\t\\\\\\0\\\'\\"" like "\\u{e9}*\\*" };',
];
for (const f of files) {
  try { bases.push(fs.readFileSync(f, 'utf8')); } catch (e) { /* skip */ }
}

const snippets = [
  'principal', 'action', 'resource', 'context', 'User::"a"', 'Action::"v"',
  'NS::Action::"w"', '?principal', '?resource', '?other', '==', '!=', '<',
  '<=', '>', '>=', '=', 'in', 'is', 'has', 'like', 'if', 'then', 'else',
  'true', 'false', '&&', '||', '!', '!!!!!', '-', '-----', '+', '*', '/',
  '%', '(', ')', '[', ']', '{', '}', ',', ';', ':', '::', '.', '"str"',
  '"a\\*"', '"\\u{41}"', '"\\q"', '"\\x80"', '1', '0', '9223372036854775807',
  '9223372036854775808', '18446744073709551616', 'ip', 'decimal',
  'datetime', 'duration', '.contains(1)', '.isEmpty()', '.isEmpty(1)',
  '.lessThan', 'isIpv4', '@id("x")', '@a', 'when', 'unless', 'permit',
  'forbid', '__cedar', '.foo', '["x"]', 'is User in', 'Foo::', 'has a.b',
  'has "x"', 'like "*"', 'foo', 'x.y', '[]', '{}', '{a: 1}', '{if: 1}',
  '// c\n', ' ', '\n', 'if true then 1 else 2', '(1)', '.getTag("t")',
  'principal.x', 'A::B', '"', '\\', '?', '@', 'then', 'Action', '.then',
];

function tokens(s) {
  const re = /"(?:\\.|[^"\\])*"|[A-Za-z_][A-Za-z0-9_]*|\?[A-Za-z_]+|\d+|::|==|!=|<=|>=|&&|\|\||\/\/[^\n]*|\s+|./gs;
  return s.match(re) || [];
}

const chars = ['"', '\\', '*', 'u', '{', '}', 'x', '0', '9', 'F', ' ',
  '\n', '\r', '\t', '\u00a0', '\u2028', '\ufeff', '\u00e9', '\0', '?', '_',
  ':', '.', '-', '!', '/', '\u000b', '\u0085', '\u3000', 'a', '7f', '80', 'D800',
  '10FFFF', '110000', '1_0', '_1'];

// character-level mutation: exercises the lexer and escapes
function mutateChars(s) {
  const a = Array.from(s);
  const ops = 1 + rnd(3);
  for (let k = 0; k < ops && a.length > 0; k++) {
    const i = rnd(a.length);
    switch (rnd(3)) {
      case 0: a.splice(i, 1); break;
      case 1: a.splice(i, 0, pick(chars)); break;
      case 2: a[i] = pick(chars); break;
    }
  }
  return a.join('');
}

function mutate(s) {
  if (rnd(3) === 0) return mutateChars(s);
  const t = tokens(s);
  const ops = 1 + rnd(3);
  for (let k = 0; k < ops && t.length > 0; k++) {
    const i = rnd(t.length);
    switch (rnd(4)) {
      case 0: t.splice(i, 1); break;
      case 1: t.splice(i, 0, ' ' + pick(snippets) + ' '); break;
      case 2: t[i] = ' ' + pick(snippets) + ' '; break;
      case 3: t.splice(i, 0, t[rnd(t.length)]); break;
    }
  }
  return t.join('');
}

const cases = [];
for (let i = 0; i < N; i++) {
  const b = pick(bases);
  cases.push(rnd(10) === 0 ? b : mutate(b));
}

const chunks = [];
for (const c of cases) {
  const body = Buffer.from(c, 'utf8');
  const h = Buffer.alloc(4);
  h.writeUInt32LE(body.length, 0);
  chunks.push(h, body);
}
const tmp = '/tmp/parse_diff_cases.bin';
fs.writeFileSync(tmp, Buffer.concat(chunks));
const ours = execFileSync(runner, [tmp], { maxBuffer: 1 << 30 })
  .toString().split('\n');

let agree = 0, disagree = 0, refOk = 0;
for (let i = 0; i < cases.length; i++) {
  const r = cedar.policySetTextToParts(cases[i]);
  let ref;
  if (r.type === 'success') {
    ref = `OK ${r.policies.length} ${r.policy_templates.length}`;
    refOk++;
  } else {
    ref = 'ERR';
  }
  const mine = ours[i].startsWith('OK') ? ours[i] : 'ERR';
  if (mine === ref) {
    agree++;
  } else {
    disagree++;
    if (disagree <= 30) {
      console.log('--- case ' + i + ': reference ' + ref + ', mandate ' + ours[i]);
      console.log(JSON.stringify(cases[i]));
      if (r.type !== 'success') console.log('ref: ' + JSON.stringify(r.errors).slice(0, 300));
    }
  }
}
console.log(`${agree} agree, ${disagree} disagree (${refOk} accepted by the reference)`);
process.exit(disagree ? 1 : 0);
