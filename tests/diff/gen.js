'use strict';
/*
 * gen.js - seeded random Cedar cases for differential testing.
 *
 * A case is { policies: "<Cedar text>", entities: [<Cedar entity JSON>],
 * requests: [{principal, action, resource, context}], schema?: "<text>" }.
 * A quarter of the cases carry a schema (.cedarschema text) to which their
 * data conforms (but for rare slips): they also exercise schema-directed
 * entity and context parsing, request validation and strict validation.  The generator
 * covers the whole language: every operator at every precedence level
 * (parentheses are sometimes dropped or doubled, so both engines must
 * agree on precedence and on what does not parse), has/like/is/in, sets,
 * records, if-then-else, arithmetic up to and past the 64-bit limits,
 * string escapes (valid and invalid), every extension function (ip,
 * decimal, datetime, duration) with valid and invalid strings,
 * getTag/hasTag, entity hierarchies of 2-3 levels, and missing entities,
 * attributes and tags so that evaluation errors happen.
 *
 * Policies never carry @id annotations: both engines then name them
 * policy0, policy1... by position.  A quarter of the cases also hold
 * templates (with principal and/or resource slots) among the policies,
 * and links to them: then c.parts lists every policy and template of
 * c.policies in order, {id, text, template}, and c.links the links in
 * the Cedar CLI's format, [{template_id, link_id, args: {"?principal":
 * UID, "?resource": UID}}], UID being {type, id} or `Type::"id"`; one
 * case in ten of these has a bad link that both engines must reject.
 *
 * Usage as a script (prints cases as JSON, one per line):
 *   node tests/diff/gen.js [--seed S] [--count N]
 * As a module: const { generateCase, makeRng } = require('./gen.js');
 *   generateCase(makeRng(seed)) returns one case.
 */

/* ---- random numbers: mulberry32, deterministic per seed ---- */

function makeRng(seed) {
    let s = (seed >>> 0) ^ 0x9e3779b9;
    const next = () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const rng = {
        next,
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        chance: (p) => next() < p,
        pick: (arr) => arr[Math.floor(next() * arr.length)],
        /* pick by weights: [[weight, value], ...] */
        weighted: (pairs) => {
            let total = 0;
            for (const [w] of pairs) total += w;
            let x = next() * total;
            for (const [w, v] of pairs) {
                if ((x -= w) < 0) return v;
            }
            return pairs[pairs.length - 1][1];
        },
    };
    return rng;
}

/* ---- the universe of one case ---- */

const ATTR_TYPES = {
    name: 'string', email: 'string', dept: 'string',
    age: 'long', level: 'long', size: 'long',
    active: 'bool', public: 'bool',
    tags: 'set_string', nums: 'set_long', friends: 'set_entity',
    owner: 'entity', manager: 'entity',
    info: 'record',
    addr: 'ipaddr', score: 'decimal', created: 'datetime', ttl: 'duration',
};
const ATTR_NAMES = Object.keys(ATTR_TYPES);
const RECORD_FIELDS = { a: 'long', b: 'string', 'c d': 'bool', nested: 'record2' };
const TAG_KEYS = ['color', 'env', 'k', 'owner', ''];

const IP_GOOD = ['127.0.0.1', '10.0.0.1', '192.168.1.10', '10.0.0.0/8',
    '192.168.0.0/16', '::1', 'ff02::1', '2001:db8::/32', '224.0.0.1',
    '0.0.0.0', '255.255.255.255', '::', '10.1.2.3/32',
    '127.0.0.0/8', 'fe80::1', '1.2.3.4/0'];
const IP_BAD = ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4/33',
    '::1/129', 'abc', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1:2:3', '::1%eth0',
    '1.2.3.4/', '1.2.3.4/-1', 'ffff::fffff', '::ffff:1.2.3.4'];
const DEC_GOOD = ['0.0', '1.0', '-1.5', '3.14', '0.0001', '-0.0001',
    '922337203685477.5807', '-922337203685477.5808', '12.3456', '100.25',
    '-0.5', '7.0'];
const DEC_BAD = ['1', '1.', '.5', '1.23456', 'abc', '922337203685477.5808',
    '-922337203685477.5809', '1.2.3', '+1.0', '1e3', '', ' 1.0', '--1.0'];
const DT_GOOD = ['2024-10-15', '2024-10-15T11:38:02Z', '2024-10-15T11:38:02.123Z',
    '2024-10-15T11:38:02+0100', '2024-10-15T11:38:02.001-0230', '1970-01-01',
    '1969-12-31T23:59:59Z', '2000-02-29', '9999-12-31T23:59:59.999Z',
    '0001-01-01'];
const DT_BAD = ['2024-13-01', '2024-10-15T25:00:00Z', '2024-10-15T11:38:02',
    '24-10-15', '2024-10-15 11:38:02Z', '2024-02-30', '2024-10-15T11:38:02.1Z',
    '2024-10-15T11:38:02+01', 'today', '', '2024-10-15Z', '2023-02-29'];
const DUR_GOOD = ['1d', '2h', '30m', '45s', '500ms', '1d2h3m4s5ms', '-1h',
    '-3d12h', '0ms', '1h30m', '100000d', '9223372036854775807ms',
    '-9223372036854775808ms'];
const DUR_BAD = ['', '1', 'd', '1x', '1h1d', '1.5h', '--1h', '1d-2h', '1ms2s',
    '9223372036854775808ms', '106751991167d', 'h1'];
const STRINGS = ['', 'a', 'alice', 'bob', 'Alice', 'x y', 'hello world', 'café',
    '日本', '*', 'a*b', 'tab\there', 'new\nline', 'quote"s', 'back\\slash',
    'eng', 'sales', 'prod', 'red', '0', 'ab', 'abc', 'test@example.com'];
const LONGS = [0, 1, 2, 3, 7, 10, 42, 100, -1, -7, 1000000,
    '9223372036854775807', '-9223372036854775808', '9223372036854775806',
    '4611686018427387904', '-4611686018427387904', 3037000500, 65536];

function mkUniverse(rng) {
    const ns = rng.chance(0.15) ? 'App::' : '';
    const T = {
        user: ns + 'User', team: ns + 'Team', group: ns + 'Group',
        doc: ns + 'Doc', folder: ns + 'Folder',
        action: ns + 'Action',
    };
    const ids = (prefix, n) => Array.from({ length: n }, (_, i) => prefix + i);
    const u = {
        T,
        users: ids('u', rng.int(2, 4)).map((id) => ({ type: T.user, id })),
        teams: ids('t', rng.int(1, 3)).map((id) => ({ type: T.team, id })),
        groups: ids('g', rng.int(1, 2)).map((id) => ({ type: T.group, id })),
        docs: ids('d', rng.int(2, 4)).map((id) => ({ type: T.doc, id })),
        folders: ids('f', rng.int(1, 3)).map((id) => ({ type: T.folder, id })),
        actions: ['view', 'edit', 'delete', 'read', 'write', 'all']
            .map((id) => ({ type: T.action, id })),
    };
    /* odd ids exercise string escapes in uids */
    if (rng.chance(0.1)) u.users.push({ type: T.user, id: rng.pick(['', 'a"b', 'x\\y', 'ünï', 'sp ace', '\n']) });
    /* whitespace noise between tokens in some cases: tabs, CRLF, comments */
    const noisy = rng.chance(0.1);
    u.ws = noisy ? () => rng.pick([' ', '  ', '\t', '\n', '\r\n', ' // note\n', '\n\n ']) : () => ' ';
    u.wt = noisy ? () => rng.pick(['', '', ' ', '\n', '\t', '//x\n']) : () => '';
    u.missing = [{ type: T.user, id: 'ghost' }, { type: T.doc, id: 'nodoc' },
        { type: ns + 'Other', id: 'o' }];
    return u;
}

/* ---- values (as JSON for entities/context, and as Cedar text) ---- */

/* A uid in policy text; with u, spaced as u's whitespace noise says. */
function uidText(e, u) {
    const wt = u ? u.wt : () => '';
    return e.type.split('::').join(wt() + '::' + wt()) + wt() + '::' + wt() + JSON.stringify(e.id);
}

function extJson(fn, arg) {
    return { __extn: { fn, arg } };
}

function randomString(rng) {
    if (rng.chance(0.1)) {
        let s = '';
        const n = rng.int(0, 6);
        for (let i = 0; i < n; i++) s += rng.pick(['a', 'b', '*', ' ', 'é', '\\', '"', '\u{1F600}', 'z']);
        return s;
    }
    return rng.pick(STRINGS);
}

function jsonLong(rng) {
    const v = rng.pick(LONGS);
    if (typeof v === 'string') return rng.int(-50, 50); /* JSON can't carry 64-bit exactly */
    return v;
}

/* A JSON value of the given attribute type (sometimes of a wrong type). */
function jsonValue(rng, u, type, depth = 0) {
    /* with a schema (u.strict) the data conforms, but for a rare slip */
    if (depth < 2 && rng.chance(u.strict ? 0.0003 : 0.05)) type = rng.pick(Object.values(ATTR_TYPES));
    switch (type) {
    case 'string': return randomString(rng);
    case 'long': return jsonLong(rng);
    case 'bool': return rng.chance(0.5);
    case 'set_string': return Array.from({ length: rng.int(0, 3) }, () => rng.pick(STRINGS.slice(0, 12)));
    case 'set_long': return Array.from({ length: rng.int(0, 3) }, () => rng.int(-3, 10));
    case 'set_entity': return Array.from({ length: rng.int(0, 3) }, () => ({ __entity: u.strict ? userRef(rng, u) : anyEntity(rng, u) }));
    case 'entity': return { __entity: u.strict ? userRef(rng, u) : anyEntity(rng, u) };
    case 'record': {
        const r = {};
        for (const [k, t] of Object.entries(RECORD_FIELDS)) {
            if (rng.chance(0.75)) r[k] = t === 'record2'
                ? { x: rng.int(0, 5), y: rng.pick(STRINGS.slice(0, 6)) }
                : jsonValue(rng, u, t, depth + 1);
        }
        return r;
    }
    case 'ipaddr': return extJson('ip', rng.pick(IP_GOOD));
    case 'decimal': return extJson('decimal', rng.pick(DEC_GOOD));
    case 'datetime': return extJson('datetime', rng.pick(DT_GOOD));
    case 'duration': return extJson('duration', rng.pick(DUR_GOOD));
    default: return null;
    }
}

/* A User uid (the declared type of entity attributes under a schema),
 * now and then of a user that does not exist. */
function userRef(rng, u) {
    return rng.chance(0.1) ? u.missing[0] : rng.pick(u.users);
}

function anyEntity(rng, u) {
    return rng.weighted([
        [4, () => rng.pick(u.users)], [2, () => rng.pick(u.teams)],
        [1, () => rng.pick(u.groups)], [3, () => rng.pick(u.docs)],
        [1, () => rng.pick(u.folders)], [1, () => rng.pick(u.missing)],
    ])();
}

function attrsFor(rng, u) {
    const attrs = {};
    for (const name of ATTR_NAMES) {
        if (rng.chance(0.3)) attrs[name] = jsonValue(rng, u, ATTR_TYPES[name]);
    }
    return attrs;
}

function mkEntities(rng, u) {
    const out = [];
    const pickSome = (arr, max) => {
        const res = [];
        for (const e of arr) if (res.length < max && rng.chance(0.5)) res.push(e);
        return res;
    };
    const add = (e, parents, withTags) => {
        if (rng.chance(0.08)) return; /* missing entity */
        const ent = { uid: { type: e.type, id: e.id }, attrs: attrsFor(rng, u), parents: parents.map((p) => ({ type: p.type, id: p.id })) };
        if (withTags && rng.chance(0.5)) {
            ent.tags = {};
            for (const k of TAG_KEYS) {
                if (rng.chance(0.4)) ent.tags[k] = jsonValue(rng, u, u.strict ? 'string' : rng.pick(['string', 'long', 'bool', 'set_string']));
            }
        }
        out.push(ent);
    };
    /* 3 levels: user -> team -> group; doc -> folder -> folder */
    for (const g of u.groups) add(g, [], false);
    for (const t of u.teams) add(t, pickSome(u.groups, 2), false);
    for (const usr of u.users) add(usr, rng.chance(0.2) ? pickSome(u.groups, 1) : pickSome(u.teams, 2), true);
    u.folders.forEach((f, i) => add(f, i > 0 && rng.chance(0.6) ? [u.folders[i - 1]] : [], true));
    for (const d of u.docs) add(d, pickSome(u.folders, 2), true);
    /* actions: view/edit in read/write, read/write in all */
    const A = (id) => u.actions.find((a) => a.id === id);
    const actionParents = {
        view: [A('read')], edit: [A('write')], delete: [A('write')],
        read: [A('all')], write: [A('all')], all: [],
    };
    for (const a of u.actions) {
        if (u.strict || rng.chance(0.05)) continue; /* a schema declares them */
        out.push({ uid: { type: a.type, id: a.id }, attrs: {}, parents: actionParents[a.id].map((p) => ({ type: p.type, id: p.id })) });
    }
    /* rare hazards in the entity data itself */
    if (!u.strict && out.length > 1 && rng.chance(0.01)) {
        /* the same uid twice: Cedar accepts an identical copy and
         * rejects a differing one */
        const dup = JSON.parse(JSON.stringify(rng.pick(out)));
        if (rng.chance(0.5)) dup.attrs.extra = 1;
        out.push(dup);
    }
    if (!u.strict && out.length > 1 && rng.chance(0.03)) {
        /* a cycle in the hierarchy */
        const a = rng.pick(out), b = rng.pick(out);
        a.parents.push({ type: b.uid.type, id: b.uid.id });
        b.parents.push({ type: a.uid.type, id: a.uid.id });
    }
    if (!u.strict && out.length > 0 && rng.chance(0.05)) {
        /* odd but legal attribute values: an entity reference without the
         * __entity escape (a record, without a schema), an __extn in the
         * "args" form, an empty record key, an explicit null-free nesting */
        const e = rng.pick(out);
        e.attrs[rng.pick(['owner', 'manager', 'info'])] = rng.pick([
            { type: u.T.user, id: 'u0' },
            { __entity: { type: u.T.user, id: 'u0' } },
            { __extn: { fn: 'decimal', args: ['1.5'] } },
            { '': 1, ' ': { '': [] } },
        ]);
    }
    if (!u.strict && out.length > 0 && rng.chance(0.01)) {
        /* invalid values: every request of the case must be rejected */
        const e = rng.pick(out);
        e.attrs.bad = rng.pick([
            9223372036854775808, 1.5, null, { __extn: { fn: 'nosuch', arg: 'x' } },
            { __extn: { fn: 'ip', arg: 'bad' } }, { __entity: { type: 'User' } },
        ]);
    }
    /* shuffle so order does not matter */
    for (let i = out.length - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
}

/* ---- expressions ----
 * gen(type, depth) returns { s: text, p: precedence } where p is
 * 0 if-then-else, 1 ||, 2 &&, 3 relation, 4 + -, 5 *, 6 unary, 7 member
 * or primary.  wrap(e, need) adds parentheses when e binds looser than the
 * context needs (and now and then adds needless ones or drops needed
 * ones, to test both engines' parsers against each other). */

const P_IF = 0, P_OR = 1, P_AND = 2, P_REL = 3, P_ADD = 4, P_MUL = 5, P_UN = 6, P_MEM = 7;

function mkExprGen(rng, u, opts) {
    const maxDepth = opts.maxDepth;

    function wrap(e, need) {
        if (e.p < need) {
            if (e.p > P_IF && rng.chance(opts.dropParens)) return e.s;
            return '(' + e.s + ')';
        }
        if (rng.chance(0.03)) return '(' + e.s + ')';
        return e.s;
    }
    const E = (s, p) => ({ s, p });
    const ws = u.ws, wt = u.wt;
    /* "a, b, c" with an occasional trailing comma (Cedar accepts one) */
    const list = (items) => items.join(',' + ws()) + (items.length > 0 && rng.chance(0.05) ? ',' : '');
    const bin = (l, op, r, p) => E(wrap(l, p) + ws() + op + ws() + wrap(r, p + 1), p);
    const rel = (l, op, r) => E(wrap(l, P_ADD) + ws() + op + ws() + wrap(r, P_ADD), P_REL);
    const call = (recv, m, args) => E(wrap(recv, P_MEM) + wt() + '.' + wt() + m + wt() + '(' + args.map((a) => a.s).join(',' + ws()) + ')', P_MEM);

    function strLit(s) {
        /* Cedar string literal; escapes chosen at random among the
         * equivalent spellings (\n, \u{..}, \x..), rarely invalid ones */
        let out = '"';
        for (const ch of s) {
            const c = ch.codePointAt(0);
            if (ch === '"') out += '\\"';
            else if (ch === '\\') out += '\\\\';
            else if (ch === '\n') out += rng.pick(['\\n', '\\u{a}', '\\x0a']);
            else if (ch === '\t') out += rng.pick(['\\t', '\\u{9}']);
            else if (c > 127 && rng.chance(0.4)) out += '\\u{' + c.toString(16) + '}';
            else if (c < 128 && /[a-z]/.test(ch) && rng.chance(0.05)) out += '\\x' + c.toString(16).padStart(2, '0');
            else out += ch;
        }
        if (rng.chance(0.05)) out += rng.pick(['\\0', '\\r', "\\'", '\\u{1F600}', '\\u{0}']);
        if (rng.chance(opts.badEscape)) out += rng.pick(['\\q', '\\x80', '\\u{110000}', '\\u{}', '\\u{d800}', '\\x4']);
        return out + '"';
    }
    function longLit() {
        const v = rng.chance(0.3) ? rng.int(-20, 20) : rng.pick(LONGS);
        const s = String(v);
        if (s.startsWith('-')) return E(s, P_UN);
        return E(s, P_MEM);
    }
    function entityLit() {
        return E(uidText(rng.chance(0.1) ? rng.pick(u.missing) : anyEntity(rng, u), u), P_MEM);
    }
    function varOf(kind) {
        /* kind: 'entity' picks principal/resource/action */
        return E(rng.pick(kind === 'any' ? ['principal', 'resource', 'action', 'context'] : ['principal', 'resource', 'principal', 'resource', 'action']), P_MEM);
    }
    function attrName(type) {
        const names = ATTR_NAMES.filter((n) => ATTR_TYPES[n] === type);
        if (names.length === 0 || rng.chance(0.1)) return rng.pick(ATTR_NAMES.concat(['missing', 'nope']));
        return rng.pick(names);
    }
    function access(recv, name) {
        /* .name or ["name"] */
        if (/^[a-z_][a-z0-9_]*$/i.test(name) && !rng.chance(0.15)) return E(wrap(recv, P_MEM) + wt() + '.' + wt() + name, P_MEM);
        return E(wrap(recv, P_MEM) + '[' + strLit(name) + ']', P_MEM);
    }
    function attrOf(type, d) {
        /* an attribute of an entity or of the context */
        const recv = rng.chance(0.25) ? E('context', P_MEM)
            : rng.chance(0.15) ? gen('entity', d + 1) : varOf('entity');
        return access(recv, attrName(type));
    }
    function extCtor(fn, good, bad) {
        const arg = rng.chance(opts.badExt) ? rng.pick(bad) : rng.pick(good);
        return E(fn + '(' + strLit(arg) + ')', P_MEM);
    }

    function genLeaf(type) {
        switch (type) {
        case 'bool': return E(rng.pick(['true', 'false']), P_MEM);
        case 'long': return longLit();
        case 'string': return E(strLit(randomString(rng)), P_MEM);
        case 'entity': return rng.chance(0.5) ? varOf('entity') : entityLit();
        case 'set': return E('[' + list(Array.from({ length: rng.int(0, 3) }, () => genLeaf(rng.pick(['long', 'string', 'entity'])).s)) + ']', P_MEM);
        case 'record': return E('{}', P_MEM);
        case 'ipaddr': return extCtor('ip', IP_GOOD, IP_BAD);
        case 'decimal': return extCtor('decimal', DEC_GOOD, DEC_BAD);
        case 'datetime': return extCtor('datetime', DT_GOOD, DT_BAD);
        case 'duration': return extCtor('duration', DUR_GOOD, DUR_BAD);
        default: return E('true', P_MEM);
        }
    }

    const ANY_TYPES = ['bool', 'long', 'string', 'entity', 'set', 'record', 'ipaddr', 'decimal', 'datetime', 'duration'];

    function gen(type, d) {
        if (d >= maxDepth) return genLeaf(type);
        /* deliberately ill-typed sub-expression now and then */
        if (rng.chance(opts.wrongType)) type = rng.pick(ANY_TYPES);
        const g = (t) => gen(t, d + 1);
        const common = [
            [2, () => genLeaf(type)],
            [1, () => E('if' + ws() + wrap(g('bool'), P_IF) + ws() + 'then' + ws() + wrap(g(type), P_IF) + ws() + 'else' + ws() + wrap(g(type), P_IF), P_IF)],
        ];
        let choices;
        switch (type) {
        case 'bool':
            choices = [
                [3, () => bin(g('bool'), '&&', g('bool'), P_AND)],
                [3, () => bin(g('bool'), '||', g('bool'), P_OR)],
                [2, () => E(rng.pick(['!', '!!']) + wrap(g('bool'), P_MEM), P_UN)],
                [4, () => rel(g('long'), rng.pick(['<', '<=', '>', '>=']), g('long'))],
                [1, () => { const t = rng.pick(['datetime', 'duration']); return rel(g(t), rng.pick(['<', '<=', '>', '>=']), g(t)); }],
                [4, () => { const t = rng.pick(ANY_TYPES); return rel(g(t), rng.pick(['==', '!=']), g(rng.chance(0.8) ? t : rng.pick(ANY_TYPES))); }],
                [4, () => genHas(d)],
                [2, () => genLike(d)],
                [3, () => genIs(d)],
                [4, () => genIn(d)],
                [3, () => { const m = rng.pick(['contains', 'containsAll', 'containsAny']); return call(g('set'), m, [m === 'contains' ? g(rng.pick(['long', 'string', 'entity'])) : g('set')]); }],
                [1, () => call(g('set'), 'isEmpty', [])],
                [2, () => call(g('entity'), 'hasTag', [tagKey(d)])],
                [3, () => call(g('ipaddr'), rng.pick(['isIpv4', 'isIpv6', 'isLoopback', 'isMulticast']), [])],
                [1, () => call(g('ipaddr'), 'isInRange', [g('ipaddr')])],
                [3, () => call(g('decimal'), rng.pick(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual']), [g('decimal')])],
                [3, () => attrOf('bool', d)],
                [1, () => call(g('entity'), 'getTag', [tagKey(d)])],
                [1, () => E('context.' + rng.pick(['flag', 'ok', 'n']), P_MEM)],
            ];
            break;
        case 'long':
            choices = [
                [3, () => bin(g('long'), rng.pick(['+', '-']), g('long'), P_ADD)],
                [2, () => bin(g('long'), '*', g('long'), P_MUL)],
                [2, () => E(rng.pick(['-', '- -', '--']) + wrap(g('long'), P_MEM), P_UN)],
                [4, () => attrOf('long', d)],
                [1, () => E('context.n', P_MEM)],
                [1, () => access(g('record'), 'a')],
                [1, () => call(g('entity'), 'getTag', [tagKey(d)])],
                [2, () => call(g('duration'), rng.pick(['toMilliseconds', 'toSeconds', 'toMinutes', 'toHours', 'toDays']), [])],
            ];
            break;
        case 'string':
            choices = [
                [4, () => attrOf('string', d)],
                [1, () => access(g('record'), 'b')],
                [1, () => call(g('entity'), 'getTag', [tagKey(d)])],
            ];
            break;
        case 'entity':
            choices = [
                [3, () => varOf('entity')],
                [3, () => entityLit()],
                [2, () => attrOf('entity', d)],
            ];
            break;
        case 'set':
            choices = [
                [3, () => { const et = rng.pick(['long', 'string', 'entity', 'bool', 'set', 'record']); return E('[' + list(Array.from({ length: rng.int(0, 3) }, () => g(rng.chance(0.9) ? et : rng.pick(ANY_TYPES)).s)) + ']', P_MEM); }],
                [3, () => attrOf(rng.pick(['set_string', 'set_long', 'set_entity']), d)],
                [1, () => call(g('entity'), 'getTag', [tagKey(d)])],
            ];
            break;
        case 'record':
            choices = [
                [3, () => { const keys = ['a', 'b', '"c d"', 'nested', 'x', '"if"', 'principal']; const parts = []; const used = new Set(); const n = rng.int(0, 3); for (let i = 0; i < n; i++) { const k = rng.pick(keys); if (used.has(k.replace(/"/g, ''))) continue; used.add(k.replace(/"/g, '')); parts.push(k + ': ' + g(k === 'a' ? 'long' : k === 'b' ? 'string' : rng.pick(ANY_TYPES)).s); } return E('{' + list(parts) + '}', P_MEM); }],
                [3, () => attrOf('record', d)],
                [1, () => E('context', P_MEM)],
                [1, () => access(g('record'), 'nested')],
            ];
            break;
        case 'ipaddr':
            choices = [[3, () => extCtor('ip', IP_GOOD, IP_BAD)], [2, () => attrOf('ipaddr', d)]];
            break;
        case 'decimal':
            choices = [[3, () => extCtor('decimal', DEC_GOOD, DEC_BAD)], [2, () => attrOf('decimal', d)]];
            break;
        case 'datetime':
            choices = [
                [3, () => extCtor('datetime', DT_GOOD, DT_BAD)],
                [2, () => attrOf('datetime', d)],
                [2, () => call(g('datetime'), 'offset', [g('duration')])],
                [1, () => call(g('datetime'), rng.pick(['toDate']), [])],
            ];
            break;
        case 'duration':
            choices = [
                [3, () => extCtor('duration', DUR_GOOD, DUR_BAD)],
                [2, () => attrOf('duration', d)],
                [1, () => call(g('datetime'), 'durationSince', [g('datetime')])],
                [1, () => call(g('datetime'), 'toTime', [])],
            ];
            break;
        default:
            choices = [];
        }
        return rng.weighted(common.concat(choices))();
    }

    function tagKey(d) {
        return rng.chance(0.85) ? E(strLit(rng.pick(TAG_KEYS)), P_MEM) : gen('string', d + 1);
    }
    function genHas(d) {
        const recv = rng.chance(0.3) ? E('context', P_MEM) : rng.chance(0.2) ? gen('record', d + 1) : varOf('entity');
        let path = rng.chance(0.8) ? rng.pick(ATTR_NAMES.concat(['missing'])) : rng.pick(['a', 'b', 'nested', 'flag', 'n']);
        const quoted = rng.chance(0.15) || !/^[a-z_]+$/i.test(path);
        let s = wrap(recv, P_ADD) + ws() + 'has' + ws() + (quoted ? strLit(path) : path);
        if (!quoted && rng.chance(0.15)) s += '.' + rng.pick(['a', 'b', 'nested', 'x']);
        if (rng.chance(0.3)) {
            /* guarded access, the idiomatic form */
            const acc = (recv.s === 'context' || recv.p === P_MEM) && !quoted
                ? E(wrap(recv, P_MEM) + '.' + path, P_MEM) : E('true', P_MEM);
            const cmp = ATTR_TYPES[path] === 'long' ? rel(acc, '>', longLit())
                : ATTR_TYPES[path] === 'bool' ? acc : rel(acc, '!=', genLeaf('string'));
            return bin(E(s, P_REL), '&&', cmp, P_AND);
        }
        return E(s, P_REL);
    }
    function genLike(d) {
        const pieces = [];
        const n = rng.int(0, 4);
        for (let i = 0; i < n; i++) {
            pieces.push(rng.weighted([[3, '*'], [1, '\\*'], [4, rng.pick(['a', 'b', 'li', 'ce', 'é', ' ', '\\"', '\\\\', '\\n', '\\u{1F600}', 'x'])]]));
        }
        if (rng.chance(0.02)) pieces.push('\\q');
        const subject = rng.chance(0.7) ? attrOf('string', d) : gen('string', d + 1);
        return E(wrap(subject, P_ADD) + ws() + 'like' + ws() + '"' + pieces.join('') + '"', P_REL);
    }
    function genIs(d) {
        const subject = rng.chance(0.7) ? varOf('entity') : gen('entity', d + 1);
        const t = rng.pick(Object.values(u.T).concat([u.T.user, u.T.doc, 'Other', 'App::User']));
        let s = wrap(subject, P_ADD) + ws() + 'is' + ws() + t.split('::').join(wt() + '::' + wt());
        if (rng.chance(0.3)) s += ws() + 'in' + ws() + wrap(rng.chance(0.7) ? entityLit() : gen(rng.chance(0.8) ? 'entity' : 'set', d + 1), P_ADD);
        return E(s, P_REL);
    }
    function genIn(d) {
        const lhs = rng.chance(0.7) ? varOf('entity') : gen('entity', d + 1);
        let rhs;
        if (rng.chance(0.3)) {
            rhs = E('[' + list(Array.from({ length: rng.int(0, 3) }, () => entityLit().s)) + ']', P_MEM);
        } else if (rng.chance(0.15)) {
            rhs = gen(rng.pick(['set', 'entity', 'string', 'long']), d + 1);
        } else {
            rhs = rng.chance(0.7) ? entityLit() : attrOf(rng.chance(0.5) ? 'entity' : 'set_entity', d);
        }
        return rel(lhs, 'in', rhs);
    }

    return { gen, strLit, entityLit };
}

/* ---- policies ---- */

function scopeEntity(rng, u, kind) {
    if (kind === 'principal') return rng.pick(rng.chance(0.5) ? u.users : rng.chance(0.5) ? u.teams : u.groups.concat(u.missing));
    return rng.pick(rng.chance(0.5) ? u.docs : u.folders.concat(u.missing));
}

function scopeClause(rng, u, kind) {
    const types = kind === 'principal' ? [u.T.user, u.T.team, u.T.group] : [u.T.doc, u.T.folder];
    return rng.weighted([
        [4, () => kind],
        [2, () => kind + u.ws() + '==' + u.ws() + uidText(scopeEntity(rng, u, kind), u)],
        [3, () => kind + u.ws() + 'in' + u.ws() + uidText(scopeEntity(rng, u, kind === 'principal' ? 'principal' : 'resource'), u)],
        [2, () => kind + u.ws() + 'is' + u.ws() + rng.pick(types)],
        [1, () => kind + u.ws() + 'is' + u.ws() + rng.pick(types) + u.ws() + 'in' + u.ws() + uidText(scopeEntity(rng, u, kind), u)],
    ])();
}

function actionClause(rng, u) {
    return rng.weighted([
        [4, () => 'action'],
        [3, () => 'action' + u.ws() + '==' + u.ws() + uidText(rng.pick(u.actions), u)],
        [2, () => 'action' + u.ws() + 'in' + u.ws() + uidText(rng.pick(u.actions), u)],
        [2, () => { const n = rng.int(0, 3); return 'action' + u.ws() + 'in' + u.ws() + '[' + Array.from({ length: n }, () => uidText(rng.pick(u.actions), u)).join(',' + u.ws()) + (n > 0 && rng.chance(0.1) ? ',' : '') + ']'; }],
    ])();
}

function mkPolicy(rng, u, eg) {
    let text = '';
    if (rng.chance(0.2)) text += '@' + rng.pick(['advice', 'note', 'label']) + '(' + eg.strLit(randomString(rng)) + ')\n';
    if (rng.chance(0.05)) text += '@flag\n';
    const effect = rng.chance(0.7) ? 'permit' : 'forbid';
    text += effect + ' (\n  ' + scopeClause(rng, u, 'principal') + ',\n  ' + actionClause(rng, u) + ',\n  ' + scopeClause(rng, u, 'resource') + '\n)';
    const n = rng.weighted([[2, 0], [5, 1], [2, 2], [1, 3]]);
    for (let i = 0; i < n; i++) {
        text += '\n' + (rng.chance(0.75) ? 'when' : 'unless') + ' { ' + eg.gen('bool', 0).s + ' }';
    }
    if (rng.chance(0.1)) text = '// comment ' + rng.int(0, 99) + '\n' + text;
    return text + ';';
}

/* ---- templates and their links ----
 * A template is a policy whose scope has a slot: `principal == ?principal`,
 * `principal in ?principal`, `principal is T in ?principal`, the same for
 * ?resource, one slot or both; its conditions are like any policy's (now
 * and then one names a slot, which Cedar rejects).  Links bind the slots
 * to uids of the case (some absent from the store). */

function slotClause(rng, u, kind) {
    const slot = '?' + kind;
    const types = kind === 'principal' ? [u.T.user, u.T.team, u.T.group] : [u.T.doc, u.T.folder];
    return rng.weighted([
        [3, () => kind + u.ws() + '==' + u.ws() + slot],
        [3, () => kind + u.ws() + 'in' + u.ws() + slot],
        [2, () => kind + u.ws() + 'is' + u.ws() + rng.pick(types) + u.ws() + 'in' + u.ws() + slot],
    ])();
}

function mkTemplate(rng, u, eg) {
    const slots = rng.weighted([[2, ['principal']], [2, ['resource']], [1, ['principal', 'resource']]]);
    let text = '';
    if (rng.chance(0.2)) text += '@' + rng.pick(['advice', 'note']) + '(' + eg.strLit(randomString(rng)) + ')\n';
    const effect = rng.chance(0.7) ? 'permit' : 'forbid';
    const clause = (kind) => (slots.includes(kind) ? slotClause(rng, u, kind) : scopeClause(rng, u, kind));
    text += effect + ' (\n  ' + clause('principal') + ',\n  ' + actionClause(rng, u) + ',\n  ' + clause('resource') + '\n)';
    const n = rng.weighted([[4, 0], [4, 1], [1, 2]]);
    for (let i = 0; i < n; i++) {
        const cond = rng.chance(0.02)
            ? rng.pick(['?principal', '?resource']) + ' == principal'
            : eg.gen('bool', 0).s;
        text += '\n' + (rng.chance(0.75) ? 'when' : 'unless') + ' { ' + cond + ' }';
    }
    return { text: text + ';', slots };
}

/* A link's slot value: {type, id}, or as text `Type::"id"`. */
function slotValue(rng, u, kind) {
    const e = rng.chance(0.1) ? rng.pick(u.actions.concat(u.missing, u.users, u.docs))
        : kind === 'principal'
        ? rng.pick(rng.chance(0.6) ? u.users : rng.chance(0.5) ? u.teams : u.groups.concat(u.missing))
        : rng.pick(rng.chance(0.6) ? u.docs : u.folders.concat(u.missing));
    return rng.chance(0.5) ? { type: e.type, id: e.id } : uidText(e);
}

/* Links in the Cedar CLI's format, 0-3 per template; in 1 case in 10 one
 * of them is bad (unknown template, a missing or an extra slot value, a
 * link id already taken), which must make both engines reject the case. */
function mkLinks(rng, u, templates, staticIds) {
    const links = [];
    let k = 0;
    for (const t of templates) {
        const n = rng.weighted([[1, 0], [3, 1], [2, 2], [1, 3]]);
        for (let i = 0; i < n; i++) {
            const args = {};
            for (const kind of t.slots) args['?' + kind] = slotValue(rng, u, kind);
            links.push({ template_id: t.id, link_id: 'link' + k++, args });
        }
    }
    if (rng.chance(0.1)) {
        const t = rng.pick(templates);
        const args = {};
        for (const kind of t.slots) args['?' + kind] = slotValue(rng, u, kind);
        const bad = { template_id: t.id, link_id: 'link' + k++, args };
        const what = rng.pick(['template', 'static', 'missing', 'extra', 'dup']);
        if (what === 'template') bad.template_id = 'nosuch';
        else if (what === 'static' && staticIds.length) bad.template_id = rng.pick(staticIds);
        else if (what === 'missing') delete args['?' + rng.pick(t.slots)];
        else if (what === 'extra' && t.slots.length < 2) {
            const other = t.slots[0] === 'principal' ? 'resource' : 'principal';
            args['?' + other] = slotValue(rng, u, other);
        } else {
            const taken = links.map((l) => l.link_id).concat(staticIds, templates.map((x) => x.id));
            bad.link_id = rng.pick(taken);
        }
        links.splice(rng.int(0, links.length), 0, bad);
    }
    return links;
}

/* ---- requests ---- */

function mkContext(rng, u) {
    const ctx = {};
    if (rng.chance(0.6)) ctx.flag = rng.chance(0.5);
    if (rng.chance(0.6)) ctx.n = rng.int(-5, 100);
    if (rng.chance(0.3)) ctx.ok = rng.chance(u.strict ? 0.05 : 0.2) ? 'yes' : rng.chance(0.5);
    for (const name of ATTR_NAMES) {
        if (rng.chance(0.15)) ctx[name] = jsonValue(rng, u, ATTR_TYPES[name]);
    }
    if (rng.chance(0.2)) ctx.a = rng.int(0, 9);
    if (rng.chance(0.2)) ctx.nested = { x: rng.int(0, 5), y: 'y' };
    return ctx;
}

function mkRequest(rng, u) {
    const principal = rng.chance(0.08) ? rng.pick(u.missing) : rng.chance(0.85) ? rng.pick(u.users) : rng.pick(u.teams.concat(u.groups));
    const resource = rng.chance(0.08) ? rng.pick(u.missing) : rng.chance(0.8) ? rng.pick(u.docs) : rng.pick(u.folders.concat(u.users));
    const action = rng.chance(0.03) ? { type: u.T.action, id: 'unknown' } : rng.pick(u.actions);
    return {
        principal: { type: principal.type, id: principal.id },
        action: { type: action.type, id: action.id },
        resource: { type: resource.type, id: resource.id },
        context: mkContext(rng, u),
    };
}

/* ---- a schema for the universe (some cases are checked with one) ----
 * Every attribute is optional, so any subset of them conforms; entity
 * references are Users; tags are Strings.  Every action applies to the
 * same principals and resources and has the same context type. */

const SCHEMA_TYPES = {
    string: 'String', long: 'Long', bool: 'Bool', set_string: 'Set<String>',
    set_long: 'Set<Long>', set_entity: 'Set<User>', entity: 'User', record: 'Info',
    ipaddr: 'ipaddr', decimal: 'decimal', datetime: 'datetime', duration: 'duration',
};

function schemaText(u) {
    const ns = u.T.user.includes('::') ? u.T.user.slice(0, u.T.user.lastIndexOf('::')) : '';
    const attrs = ATTR_NAMES.map((n) => n + '?: ' + SCHEMA_TYPES[ATTR_TYPES[n]]).join(', ');
    const lines = [
        'type Info = { a?: Long, b?: String, "c d"?: Bool, nested?: { x: Long, y: String } };',
        'type Ctx = { flag?: Bool, n?: Long, ok?: Bool, a?: Long, nested?: { x: Long, y: String }, ' + attrs + ' };',
        'entity Group { ' + attrs + ' };',
        'entity Team in [Group] { ' + attrs + ' };',
        'entity User in [Team, Group] { ' + attrs + ' } tags String;',
        'entity Folder in [Folder] { ' + attrs + ' } tags String;',
        'entity Doc in [Folder] { ' + attrs + ' } tags String;',
    ];
    const applies = ' appliesTo { principal: [User, Team, Group], resource: [Doc, Folder, User], context: Ctx }';
    lines.push('action all' + applies + ';');
    lines.push('action read, write in [all]' + applies + ';');
    lines.push('action view in [read]' + applies + ';');
    lines.push('action edit, "delete" in [write]' + applies + ';');
    const body = lines.join('\n');
    return ns ? 'namespace ' + ns + ' {\n' + body + '\n}\n' : body + '\n';
}

/* ---- a whole case ---- */

function generateCase(rng) {
    const u = mkUniverse(rng);
    /* a quarter of the cases come with a schema: entities and context are
     * parsed with it, requests validated, and the policies validated */
    u.strict = rng.chance(0.25);
    const opts = {
        maxDepth: rng.int(2, 5),
        dropParens: rng.chance(0.2) ? 0.2 : 0.0,
        wrongType: rng.chance(0.5) ? 0.05 : 0.01,
        badExt: 0.15,
        badEscape: rng.chance(0.05) ? 0.1 : 0.0,
    };
    const eg = mkExprGen(rng, u, opts);
    const n_policies = rng.int(1, 6);
    const policies = [];
    for (let i = 0; i < n_policies; i++) policies.push(mkPolicy(rng, u, eg));
    /* a quarter of the cases also have templates, placed among the static
     * policies (ids count both) */
    let parts = null, links = null;
    if (rng.chance(0.25)) {
        parts = policies.map((text) => ({ text, template: false }));
        const n_templates = rng.int(1, 2);
        for (let i = 0; i < n_templates; i++) {
            const t = mkTemplate(rng, u, eg);
            parts.splice(rng.int(0, parts.length), 0, { text: t.text, template: true, slots: t.slots });
        }
        parts.forEach((p, i) => { p.id = 'policy' + i; });
        policies.length = 0;
        for (const p of parts) policies.push(p.text);
        links = mkLinks(rng, u, parts.filter((p) => p.template),
            parts.filter((p) => !p.template).map((p) => p.id));
    }
    const requests = [];
    const n_requests = rng.int(2, 5);
    for (let i = 0; i < n_requests; i++) requests.push(mkRequest(rng, u));
    const c = { policies: policies.join('\n\n') + '\n', entities: mkEntities(rng, u), requests };
    if (u.strict) c.schema = schemaText(u);
    if (parts) {
        c.parts = parts.map((p) => ({ id: p.id, text: p.text, template: p.template }));
        c.links = links;
    }
    return c;
}

module.exports = { makeRng, generateCase };

if (require.main === module) {
    let seed = 1, count = 1;
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--seed') seed = Number(argv[++i]);
        else if (argv[i] === '--count') count = Number(argv[++i]);
        else { console.error('usage: node tests/diff/gen.js [--seed S] [--count N]'); process.exit(2); }
    }
    const rng = makeRng(seed);
    for (let i = 0; i < count; i++) console.log(JSON.stringify(generateCase(rng)));
}
