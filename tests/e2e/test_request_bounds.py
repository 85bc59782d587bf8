"""End to end: what one request may cost the daemon (CPU, memory).

Each test sends a request that is small for its size limits but used to
cost far more than its size: a batch of task-bound items that ran out of
the request's memory, a search that ran out of it before its own
candidate bound, an argument list checked against many intents'
constraints.  The daemon must answer each within bounded work: a full
answer, a page with a token to go on, or a deny that says why.
"""
import json

import requests

from test_agent_ctx import ASSISTANT, ctl, new_task, token  # noqa: F401
from test_flow import bearer


def test_batch_of_task_bound_items_is_answered(ctl):
    """256 items (the documented maximum) bound to one task: each read the
    task's session into the request's memory at its largest size (1000
    rows, 28 KB), so the batch ran out of it near item 255 and the
    connection closed without an answer."""
    d, iss = ctl
    task = new_task(d, iss, intents=[{"action": "read_file"}])
    m = {"token": token(d, iss, task)}
    r = requests.post(d.url + "/access/v1/evaluations", headers=bearer(iss.person()),
                      json={"subject": {"type": "Agent", "id": ASSISTANT},
                            "action": {"name": "write_file"},
                            "resource": {"type": "File", "id": "handbook"},
                            "context": {"mandate": m},
                            "evaluations": [{}] * 256}, timeout=30)
    assert r.status_code == 200, r.text
    ev = r.json()["evaluations"]
    assert len(ev) == 256
    assert not any(e["decision"] for e in ev)      # outside the intents


SEARCH_CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/p.cedar]
  entities: [@DIR@/entities.json]
api_auth:
  open_on_loopback: true
"""


def test_search_stops_before_its_memory_runs_out(start_daemon, tmp_path):
    """A search whose candidates are denied evaluates many of them in one
    request; each one's evaluation stays in the request's memory until the
    answer.  It ran out of that allowance before the candidate bound
    (AUTHZEN_MAX_SCAN, AUTHZEN_MAX_WORK) and the connection closed without
    an answer; the page now ends early with a token to go on."""
    n = 3000
    ents = [{"uid": {"type": "user", "id": "u%d" % i}, "attrs": {}, "parents": []}
            for i in range(n)]
    (tmp_path / "entities.json").write_text(json.dumps(ents))
    (tmp_path / "p.cedar").write_text(
        '@id("last") permit (principal == user::"u%d", action, resource);\n' % (n - 1))
    d = start_daemon(SEARCH_CONFIG)
    q = {"action": {"name": "view"}, "resource": {"type": "doc", "id": "d"},
         "subject": {"type": "user"}, "context": {"pad": ["x%d" % i for i in range(400)]},
         "page": {"limit": 1}}
    found, pages, token = [], 0, None
    while pages < 20:
        if token:
            q["page"]["token"] = token
        r = requests.post(d.url + "/access/v1/search/subject", json=q, timeout=30)
        assert r.status_code == 200, r.text[:200]
        pages += 1
        found += [x["id"] for x in r.json()["results"]]
        token = r.json()["page"]["next_token"]
        if not token:
            break
    assert found == ["u%d" % (n - 1)]
    assert pages > 1        # the first page could not hold every candidate
    assert not token


def test_constraint_check_is_bounded(ctl, tmp_path):
    """An argument sent as a list is checked element by element against
    each intent's constraints: 64 intents with a one_of of 256 values
    each and a list of 2,000 elements that fit all but the last made
    32 million comparisons (a 30 KB request took seconds of CPU).  The
    check now has a budget; past it the call is denied before the
    policies, and the decision record says why."""
    from test_agent_ctx import _audit, evaluate
    d, iss = ctl
    values = list(range(1000, 1255)) + [7]       # 7 last: a full scan
    task = new_task(d, iss, intents=[
        {"action": "read_file", "constraints": {"n": {"one_of": values}}}] * 64)
    m = {"token": token(d, iss, task)}
    # within the budget: a short list matches the first intent
    assert evaluate(d, iss, "read_file", "File", "handbook", m,
                    arguments={"n": [7] * 10})[0] is True
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m,
                       arguments={"n": [7] * 2000 + [8]})
    assert ok is False
    rec = [f for f in _audit(tmp_path, "decision", task["id"])
           if f.get("decision_id") == did]
    assert len(rec) == 1, rec
    assert "constraints" in rec[0].get("deny_reason", ""), rec[0]
