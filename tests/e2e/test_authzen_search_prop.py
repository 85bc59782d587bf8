"""A property test of the AuthZEN search and batch endpoints against the
single evaluation, on random worlds: small Cedar policy sets (permit and
forbid, `in` hierarchies, `is`, when/unless on principal, resource and
context attributes, policies that error) and random entity files (ids that
need escaping, an identical entity given twice).

For every search: the results are exactly the candidates (the entities of
the type in file order, each once; for actions, the Action entities and
then the actions permit policies name) for which /access/v1/evaluation of
the same request permits, and paging with every limit from 1 up returns
them exactly once, in that order; changed or forged tokens are 400.  For
every batch: each item is the single evaluation of its request after the
defaults (whole objects replaced), an item that cannot be evaluated is
false, and the semantics cut the answer where docs/api.md says.

Seeded (MANDATE_PROP_SEED, default 1; MANDATE_PROP_WORLDS, default 16) and
bounded: a daemon per world (whose policies also name an action of the
daemon's own, mandate:reload_policies, which the action search finds).  A
failure prints the seed, the world's files and the request.
"""
import json
import os
import random

import pytest
import requests

SEED = int(os.environ.get("MANDATE_PROP_SEED", "1"))
WORLDS = int(os.environ.get("MANDATE_PROP_WORLDS", "16"))

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
  entities: [@DIR@/entities.json]
api_auth:
  open_on_loopback: true
logging:
  audit: async
"""

RELOAD_RULE = ('@id("loopback-reloads")\npermit (principal == '
               'Delegator::"dev:loopback", action == '
               'Action::"mandate:reload_policies", resource == '
               'Policies::"default");\n')

EVAL = "/access/v1/evaluation"
EVALS = "/access/v1/evaluations"
SEARCH = "/access/v1/search/"

USER_IDS = ["alice", "bob", 'q"uote', "back\\slash", "\u00fcn\u00efc\u00f6de",
            "sp ace", "nl\nx", "tab\tx", "ctl\x01x", "\U0001f600", "carol",
            "dave", "", "nul\x00x"]
ACTIONS = ["read", "write", "delete", "share", "list"]
CONTEXTS = [{}, {"flag": True}, {"flag": False, "n": 3}, {"n": "x"},
            {"n": 1, "flag": True}]


def cedar_str(s):
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20:
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def uid(t, i):
    return "%s::%s" % (t, cedar_str(i))


class World:
    """One random policy set and entity file, and what a search over it
    must answer (its candidates, in order)."""

    def __init__(self, rnd):
        self.rnd = rnd
        r = rnd
        self.groups = ["g%d" % i for i in range(r.randint(1, 3))]
        self.folders = ["f%d" % i for i in range(r.randint(1, 3))]
        self.users = r.sample(USER_IDS, r.randint(0, 7))
        self.docs = ["d%d" % i for i in range(r.randint(0, 5))]
        self.action_ents = r.sample(ACTIONS, r.randint(0, 3))
        self.has_rw = r.random() < 0.5
        ents = []
        for i, g in enumerate(self.groups):
            ps = [{"type": "Group", "id": p} for p in self.groups[:i]
                  if r.random() < 0.4]
            ents.append({"uid": {"type": "Group", "id": g}, "attrs": {},
                         "parents": ps})
        for f in self.folders:
            ents.append({"uid": {"type": "Folder", "id": f}, "attrs": {},
                         "parents": []})
        for u in self.users:
            attrs = {}
            if r.random() < 0.8:
                attrs["level"] = r.randint(0, 5)
            elif r.random() < 0.5:
                attrs["level"] = "high"      # the wrong type: errors
            if r.random() < 0.8:
                attrs["dept"] = r.choice(["eng", "ops", "eng2"])
            ents.append({"uid": {"type": "User", "id": u}, "attrs": attrs,
                         "parents": [{"type": "Group", "id": g}
                                     for g in self.groups
                                     if r.random() < 0.4]})
        for d in self.docs:
            attrs = {}
            if r.random() < 0.8:
                attrs["level"] = r.randint(0, 5)
            if r.random() < 0.7:
                attrs["owner"] = r.choice(self.users + ["eng", "ops"])
            if r.random() < 0.5:
                attrs["public"] = r.random() < 0.5
            ents.append({"uid": {"type": "Doc", "id": d}, "attrs": attrs,
                         "parents": [{"type": "Folder", "id": f}
                                     for f in self.folders
                                     if r.random() < 0.5]})
        if self.has_rw:
            ents.append({"uid": {"type": "Action", "id": "rw"}, "attrs": {},
                         "parents": []})
        for a in self.action_ents:
            ps = []
            if self.has_rw and a in ("read", "write"):
                ps = [{"type": "Action", "id": "rw"}]
            ents.append({"uid": {"type": "Action", "id": a}, "attrs": {},
                         "parents": ps})
        r.shuffle(ents)
        # an identical entity given twice is accepted (as Cedar does)
        if ents and r.random() < 0.5:
            ents.insert(r.randint(0, len(ents)), json.loads(json.dumps(
                r.choice(ents))))
        self.entities = ents
        self.policies = [self.policy(k) for k in range(r.randint(1, 6))]

    def cond(self):
        r = self.rnd
        return r.choice([
            "principal.level >= resource.level",
            "principal has level && principal.level > 2",
            "resource.owner == principal.dept",
            "resource has owner && resource.owner like \"*e*\"",
            "resource has public && resource.public",
            "context.flag == true",
            "context has n && context.n < principal.level",
            "resource is Doc",
            "principal is User && principal in Group::\"g0\"",
            "resource in Folder::\"f0\"",
            "principal.dept == \"eng\"",
        ])

    def policy(self, k):
        r = self.rnd
        eff = "permit" if r.random() < 0.65 else "forbid"
        ps = r.choice(["principal", "principal is User",
                       "principal in Group::%s" % cedar_str(r.choice(self.groups)),
                       "principal is User in Group::%s" % cedar_str(r.choice(self.groups)),
                       "principal == %s" % uid("User", r.choice(USER_IDS))])
        acts = r.sample(ACTIONS, r.randint(1, 3))
        as_ = r.choice(["action",
                        "action == Action::%s" % cedar_str(acts[0]),
                        "action in [%s]" % ", ".join(
                            "Action::%s" % cedar_str(a) for a in acts)]
                       + (["action in Action::\"rw\""] if self.has_rw else []))
        rs = r.choice(["resource", "resource is Doc",
                       "resource in Folder::%s" % cedar_str(r.choice(self.folders)),
                       "resource is Doc in Folder::%s" % cedar_str(r.choice(self.folders))])
        text = '@id("p%d")\n%s (%s, %s, %s)' % (k, eff, ps, as_, rs)
        for _ in range(r.randint(0, 2)):
            text += "\n%s { %s }" % (r.choice(["when", "unless"]), self.cond())
        return text + ";\n"

    def policy_text(self):
        return "".join(self.policies) + RELOAD_RULE

    def candidates(self, kind, typ):
        seen, out = set(), []
        if kind == "action":
            typ = "Action"
        for e in self.entities:
            if e["uid"]["type"] == typ and e["uid"]["id"] not in seen:
                seen.add(e["uid"]["id"])
                out.append(e["uid"]["id"])
        if kind == "action":
            # the actions permit policies name in their scope, in load order
            import re
            for p in self.policies + [RELOAD_RULE]:
                if not p.split("\n")[1].startswith("permit"):
                    continue
                scope = p.split("\n")[1]
                m = re.search(r"action (==|in) (\[[^\]]*\]|Action::\"[^\"]*\")",
                              scope)
                if m is None or (m.group(1) == "in" and
                                 not m.group(2).startswith("[")):
                    continue
                for a in re.findall(r'Action::"([^"]*)"', m.group(2)):
                    if a not in seen:
                        seen.add(a)
                        out.append(a)
        return out

    def entity(self, t):
        """A subject or resource for a request: known or not (then with
        properties)."""
        r = self.rnd
        known = {"User": self.users, "Doc": self.docs, "Folder": self.folders,
                 "Group": self.groups}[t]
        # (ids no request can carry are for the searches to skip)
        known = [i for i in known if i and "\x00" not in i]
        if known and r.random() < 0.75:
            return {"type": t, "id": r.choice(known)}
        e = {"type": t, "id": "new-%d" % r.randint(0, 3)}
        if r.random() < 0.7:
            props = {}
            if r.random() < 0.7:
                props["level"] = r.randint(0, 5)
            if r.random() < 0.5:
                props["owner"] = r.choice(self.users + ["eng"])
            if r.random() < 0.5:
                props["dept"] = r.choice(["eng", "ops"])
            e["properties"] = props
        return e


class Oracle:
    """Single evaluations through the daemon, remembered."""

    def __init__(self, d):
        self.d = d
        self.s = requests.Session()
        self.memo = {}

    def post(self, path, body):
        return self.s.post(self.d.url + path, json=body, timeout=30)

    def answer(self, body):
        """(decision, determining policies) of one evaluation."""
        key = json.dumps(body, sort_keys=True)
        if key not in self.memo:
            r = self.post(EVAL, body)
            if r.status_code == 400:
                self.memo[key] = (False, [])   # refused: never a permit
            else:
                assert r.status_code == 200, (body, r.text)
                j = r.json()
                self.memo[key] = (j["decision"], sorted(
                    j["context"]["reason_admin"]["policies"]))
        return self.memo[key]

    def decide(self, body):
        return self.answer(body)[0]


def expected(o, w, kind, q):
    typ = q[kind]["type"] if kind != "action" else "Action"
    want = []
    for c in w.candidates(kind, typ):
        b = json.loads(json.dumps(q))
        if kind == "action":
            b["action"] = {"name": c}
        else:
            b[kind] = dict(b[kind], id=c)
        if o.decide(b):
            want.append(c)
    return want


def ids_of(kind, results):
    if kind == "action":
        return [x["name"] for x in results]
    return [x["id"] for x in results]


def page_all(o, kind, q, limit, ctx):
    got, tok, pages = [], None, 0
    while True:
        page = {"limit": limit}
        if tok:
            page["token"] = tok
        r = o.post(SEARCH + kind, dict(q, page=page))
        assert r.status_code == 200, (ctx, limit, r.text)
        j = r.json()
        assert list(j) == ["page", "results"], (ctx, j)
        assert j["page"]["count"] == len(j["results"]) <= limit, (ctx, j)
        if kind != "action":
            assert all(x["type"] == q[kind]["type"] for x in j["results"])
        got += ids_of(kind, j["results"])
        tok = j["page"]["next_token"]
        pages += 1
        if not tok:
            return got, pages
        assert j["results"], (ctx, "a page announced with no result", j)
        assert pages < 200, ctx


def forged(tok):
    """Tokens this server did not issue, made from one it did: each part
    changed, cut, padded, or the token re-cased."""
    off, lim, q, c = tok[1:].split(".")
    flip = "0" if c[-1] != "0" else "1"
    return [tok[:-1] + flip, tok + "0", tok[:-1], tok.upper(),
            "p%s.%d.%s.%s" % (off, int(lim) + 1, q, c),
            "p%d.%s.%s.%s" % (int(off) + 1, lim, q, c),
            "p%d.%s.%s.%s" % (int(off) - 1, lim, q, c),
            "p0%s.%s.%s.%s" % (off, lim, q, c), "q" + tok[1:],
            "p%s.%s.%s" % (off, lim, q), "p%s.%s.%s" % (off, q, c),
            "p-1.%s.%s.%s" % (lim, q, c), tok + " ",
            "p%s.%s.%s.%s" % (off, lim, q[:-1] + ("0" if q[-1] != "0" else "1"), c),
            "p%s.%s.%s.%s" % (off, lim, "g" + q[1:], c)]


def check_search(o, w, kind, q, ctx):
    want = expected(o, w, kind, q)
    r = o.post(SEARCH + kind, q)
    assert r.status_code == 200, (ctx, r.text)
    got = ids_of(kind, r.json()["results"])
    assert got == want, (ctx, "search != evaluations", got, want)
    assert r.json()["page"]["next_token"] == "", ctx
    for limit in range(1, len(want) + 2):
        got, pages = page_all(o, kind, q, limit, ctx)
        assert got == want, (ctx, "paged with limit %d" % limit, got, want)
        assert pages == max(1, -(-len(want) // limit)), (ctx, limit, pages)
    if len(want) >= 2:
        j = o.post(SEARCH + kind, dict(q, page={"limit": 1})).json()
        tok = j["page"]["next_token"]
        for bad in forged(tok):
            r = o.post(SEARCH + kind, dict(q, page={"token": bad}))
            assert r.status_code == 400, (bad, r.text, ctx)
            assert r.json()["error"] == "invalid_request", (ctx, bad)
        other = dict(q, context=dict(q.get("context") or {}, zz=1))
        r = o.post(SEARCH + kind, dict(other, page={"token": tok}))
        assert r.status_code == 400 and "another query" in r.text, ctx


def batch_case(o, w, rnd):
    """A random batch with defaults and partial overrides, and what each
    item must answer."""
    def full():
        return {"subject": w.entity(rnd.choice(["User", "Group"])),
                "action": {"name": rnd.choice(ACTIONS)},
                "resource": w.entity(rnd.choice(["Doc", "Folder"])),
                "context": rnd.choice(CONTEXTS)}
    top = full()
    for k in ("subject", "action", "resource", "context"):
        if rnd.random() < 0.25:
            del top[k]
    items, want = [], []
    for _ in range(rnd.randint(1, 8)):
        f = full()
        it = {}
        for k in ("subject", "action", "resource", "context"):
            if k not in top or rnd.random() < 0.4:
                it[k] = f[k]
        bad = rnd.random()
        if bad < 0.08:
            it["subject"] = {"id": "alice"}           # no type: false
        elif bad < 0.12:
            it["action"] = "read"                     # wrong type: false
        elif bad < 0.16:
            it["context"] = {"x": 1.5}                # not Cedar: false
        elif bad < 0.2:
            it.pop("resource", None)
            top_res = top.get("resource")
            if top_res is None:
                pass                                  # missing: false
        items.append(it)
        eff = {k: it.get(k, top.get(k)) for k in
               ("subject", "action", "resource", "context")}
        if eff["context"] is None:
            del eff["context"]
        ok = (all(eff.get(k) is not None for k in
                  ("subject", "action", "resource")) and
              isinstance(eff["action"], dict) and
              "type" in eff["subject"] and
              "x" not in eff.get("context", {}))
        want.append(o.answer(eff) if ok else (False, []))
    return dict(top, evaluations=items), want


def cut(want, semantic):
    decisions = [w[0] for w in want]
    if semantic == "deny_on_first_deny" and False in decisions:
        return want[:decisions.index(False) + 1]
    if semantic == "permit_on_first_permit" and True in decisions:
        return want[:decisions.index(True) + 1]
    return want


def write_world(tmp_path, w):
    (tmp_path / "policies" / "p.cedar").write_text(w.policy_text())
    (tmp_path / "entities.json").write_text(json.dumps(w.entities))


def test_search_and_batch_agree_with_evaluation(start_daemon, tmp_path):
    rnd = random.Random(SEED)
    (tmp_path / "policies").mkdir()
    worlds = [World(rnd) for _ in range(WORLDS)]
    for n, w in enumerate(worlds):
        # a daemon per world: a random forbid may forbid a reload
        write_world(tmp_path, w)
        d = start_daemon(CONFIG)
        o = Oracle(d)
        info = "seed %d world %d\n%s\n%s" % (SEED, n, w.policy_text(),
                                            json.dumps(w.entities))
        for k in range(12):
            ctx = rnd.choice(CONTEXTS)
            kind = ("subject", "resource", "action")[k % 3]
            q = {"subject": w.entity("User"), "action": {"name": rnd.choice(ACTIONS)},
                 "resource": w.entity(rnd.choice(["Doc", "Folder"]))}
            if ctx or rnd.random() < 0.5:
                q["context"] = ctx
            if kind == "subject":
                q["subject"] = {"type": rnd.choice(["User", "User", "Group",
                                                    "Ghost"])}
            elif kind == "resource":
                q["resource"] = {"type": rnd.choice(["Doc", "Doc", "Folder",
                                                     "Ghost"])}
            else:
                del q["action"]
            check_search(o, w, kind, q, (info, q))
        for _ in range(6):
            body, want = batch_case(o, w, rnd)
            for sem in ("execute_all", "deny_on_first_deny",
                        "permit_on_first_permit"):
                r = o.post(EVALS, dict(body, options={
                    "evaluations_semantic": sem, "include_context": True}))
                assert r.status_code == 200, (info, body, r.text)
                ev = r.json()["evaluations"]
                got = [(e["decision"], sorted(
                    e["context"]["reason_admin"]["policies"])) for e in ev]
                assert got == cut(want, sem), (info, body, sem, got, want)
                ids = [e["context"]["id"] for e in ev]
                assert len(set(ids)) == len(ids) and all(ids), ev
                r = o.post(EVALS, dict(body, options={
                    "evaluations_semantic": sem}))
                assert [e for e in r.json()["evaluations"]] == [
                    {"decision": g[0]} for g in got], (info, body, sem)
        assert d.stop() == 0, d.log_text()
