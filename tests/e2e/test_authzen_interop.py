"""AuthZEN interop: the OpenID AuthZEN interoperability cases
(../shared/testdata/authzen-interop) sent over HTTP to the real daemon, one
daemon per scenario, configured with the scenario's policies and entities
from examples/authzen-interop/.  Comparison as the reference runner does:
single evaluations by `decision`, batches by the whole `evaluations` array
of {"decision": bool}, searches by `results`.
"""
import json
import os

import pytest
import requests

from conftest import ROOT


def _data_dir():
    # ../shared/testdata beside the source tree (or two levels up, for a
    # git worktree); AUTHZEN_INTEROP_DIR overrides
    env = os.environ.get("AUTHZEN_INTEROP_DIR")
    if env:
        return env
    for up in (1, 2):
        base = ROOT
        for _ in range(up):
            base = os.path.dirname(base)
        d = os.path.join(base, "shared", "testdata", "authzen-interop")
        if os.path.isdir(d):
            return d
    raise AssertionError("authzen-interop test data not found")


DATA = _data_dir()
EXAMPLES = os.path.join(ROOT, "examples", "authzen-interop")

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform:
    - {ex}/policies.cedar
  entities:
    - {ex}/entities.json
api_auth:
  open_on_loopback: true
"""


def load(*path):
    with open(os.path.join(DATA, *path)) as f:
        return json.load(f)


def scenario(start_daemon, name):
    ex = os.path.join(EXAMPLES, name)
    return start_daemon(CONFIG.format(ex=ex))


def post(d, path, body):
    r = requests.post(d.url + path, json=body, timeout=10)
    assert r.status_code == 200, (path, body, r.status_code, r.text)
    return r.json()


def test_todo(start_daemon):
    d = scenario(start_daemon, "todo")
    cases = load("todo", "decisions-authorization-api-1_0-02.json")
    assert len(cases["evaluation"]) == 40 and len(cases["evaluations"]) == 3
    failed = []
    for c in cases["evaluation"]:
        got = post(d, "/access/v1/evaluation", c["request"])
        if got.get("decision") != c["expected"]:
            failed.append((c["request"], got))
    for c in cases["evaluations"]:
        got = post(d, "/access/v1/evaluations", c["request"])
        if got.get("evaluations") != c["expected"]:
            failed.append((c["request"], got))
    assert failed == []


def test_api_gateway(start_daemon):
    d = scenario(start_daemon, "api-gateway")
    cases = load("api-gateway", "decisions.json")["evaluation"]
    assert len(cases) == 25
    failed = []
    for c in cases:
        got = post(d, "/access/v1/evaluation", c["request"])
        if got.get("decision") != c["expected"]:
            failed.append((c["request"], got))
    assert failed == []


@pytest.mark.parametrize("kind,count", [("subject", 60), ("resource", 18),
                                        ("action", 120)])
def test_search(start_daemon, kind, count):
    d = scenario(start_daemon, "search")
    cases = load("search", kind + "-results.json")["evaluation"]
    assert len(cases) == count
    failed = []
    for c in cases:
        got = post(d, "/access/v1/search/" + kind, c["request"])
        if got.get("results") != c["expected"]["results"]:
            failed.append((c["request"], got, c["expected"]))
    assert failed == [], failed[:3]
