"""Attacks on the argument-constraint matcher and the example policies
(agentdojo_matcher_attacks.json), through the real daemon with
examples/agentdojo: per case, a fresh task with a benign user task's
intents, the case's 'before' calls, then the attacker's call, sent as the
enforcement point would (arguments as given, or as raw JSON text for
duplicate keys, null and floats).

A call is blocked when the answer is a deny or a 4xx (the enforcement
point does not run a tool the daemon did not permit).  The cases that
expect a permit are controls (the benign spelling of the same call, so a
deny is not the harness's doing) and one documented gap."""
import json
import os

import pytest
import requests

import agentdojo_replay as ar
from conftest import BIN

CASES = os.path.join(ar.HERE, "agentdojo_matcher_attacks.json")


def load():
    with open(CASES) as f:
        return json.load(f)["cases"]


def test_cases_cover_every_suite():
    cases = load()
    model = ar.Model()
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    for suite in ar.SUITES:
        mine = [c for c in cases if c["suite"] == suite]
        assert sum(c["expect"] == "deny" for c in mine) >= 10, suite
        assert any(c["expect"] == "permit" for c in mine), suite
        for c in mine:
            assert c["user_task"] in model.intents[suite], c["id"]
            assert c["expect"] in ("deny", "permit"), c["id"]


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("matcher"))
    iss = ar.Issuers(work)
    d = ar.Daemon(BIN, work)
    try:
        d.wait_ready()
        yield d, ar.Replay(d.url, iss, ar.Model())
    finally:
        d.stop()


def ask(d, rp, c):
    tok = rp.start_task(c["suite"], {"id": c["user_task"], "prompt": c["why"]})
    for b in c.get("before", []):
        permit, _ = rp.call(tok, c["suite"], b)
        assert permit, (c["id"], b)
    args = c["raw_args"] if "raw_args" in c else json.dumps(c["args"])
    body = ('{"subject":{"type":"Agent","id":%s},"action":{"name":%s},'
            '"resource":{"type":"Tool","id":%s},"context":{"arguments":%s,'
            '"mandate":{"token":%s}}}') % (
        json.dumps(ar.AGENT), json.dumps(c["function"]),
        json.dumps("%s:%s" % (c["suite"], c["function"])), args,
        json.dumps(tok))
    headers = dict(rp._gateway_auth())
    headers["Content-Type"] = "application/json"
    r = requests.post(d.url + "/access/v1/evaluation", data=body.encode(),
                      headers=headers, timeout=ar.TIMEOUT)
    assert r.status_code < 500, (c["id"], r.status_code, r.text[:300])
    if r.status_code != 200:
        return False, "HTTP %d" % r.status_code
    ans = r.json()
    ctx = ans.get("context") or {}
    return ans["decision"] is True, (ctx.get("reason_admin") or {})


def test_matcher_attacks(replay):
    d, rp = replay
    wrong = []
    for c in load():
        permit, why = ask(d, rp, c)
        if permit != (c["expect"] == "permit"):
            wrong.append("%s (%s %s %s): %s, expected %s; %s" % (
                c["id"], c["suite"], c["user_task"], c["function"],
                "permitted" if permit else "denied", c["expect"], why))
    assert not wrong, "\n".join(wrong)
