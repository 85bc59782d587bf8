"""End to end: agent-aware decisions through POST /access/v1/evaluation.

A configured daemon (people issuer for the delegator "alice", a SPIFFE
trust domain for the agents, as in test_flow.py) runs the control examples
(examples/policies/controls/controls.cedar) with entity data for the test's
agents.  Each test creates a real task, exchanges a real JWT-SVID for a
Mandate access token and asks for decisions as an enforcement point would,
checking: forged task/session fields are ignored; the confidential-read ->
external-send chain is denied (outcome labels and configured tool output
labels); budget and expiry deny; an ended task, a revoked token and the kill
switch deny; another agent's token is denied; outcome reporting's errors.
"""
import json
import os
import shutil
import sqlite3
import time

import pytest
import requests

from test_flow import Issuers, bearer, exchange

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTROLS = os.path.join(ROOT, "examples", "policies", "controls")
ASSISTANT = "spiffe://acme.test/agents/assistant"
OTHER = "spiffe://acme.test/agents/other"

DELEGATION = """
@id("alice-delegates")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent"],
        resource)
when { context.agent.trust_domain == "acme.test" };

@id("operators-report-outcomes")
permit (principal == Delegator::"operator", action == Action::"mandate:report_outcome",
        resource is Decision);

@id("gateway-names-tasks")
permit (principal == Delegator::"gateway", action == Action::"mandate:use_task",
        resource is Task);
"""

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
  entities: [@DIR@/entities.json]
identity:
  issuers:
    - name: people
      kind: oidc
      issuer: https://people.test
      jwks_file: @DIR@/people.jwks
      audiences: [mandate]
      algorithms: [ES256]
    - name: agents
      kind: spiffe
      trust_domain: acme.test
      bundle_file: @DIR@/acme.bundle
      audiences: [mandate]
tokens:
  audience: tools
tools:
  output_labels:
    fetch_web_page: [untrusted]
api_auth:
  bearer_issuers: [people]
  open_on_loopback: false
"""

INTENTS = [
    {"action": "read_file", "constraints": {"path": {"prefix": "/docs/"}}},
    {"action": "fetch_web_page"},
    {"action": "send_email", "constraints": {"to": {"suffix": "@partner.example"}}},
]


def start_controls(start_daemon, tmp_path, config=CONFIG):
    """The issuers, the delegation and control policies, the controls'
    entities for the test's agents; a daemon started on them."""
    iss = Issuers(tmp_path)
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "delegation.cedar").write_text(DELEGATION)
    shutil.copy(os.path.join(CONTROLS, "controls.cedar"), pol / "controls.cedar")
    ents = json.load(open(os.path.join(CONTROLS, "entities.json")))
    for e in ents:
        if e["uid"]["type"] == "Agent":
            e["uid"]["id"] = e["uid"]["id"].replace(
                "spiffe://dev.local/agent/assistant", ASSISTANT).replace(
                "spiffe://dev.local/agent/retriever", OTHER)
    (tmp_path / "entities.json").write_text(json.dumps(ents))
    return start_daemon(config), iss


@pytest.fixture
def ctl(start_daemon, tmp_path):
    return start_controls(start_daemon, tmp_path)


def new_task(d, iss, agent=ASSISTANT, intents=INTENTS, **kw):
    body = {"agent": agent, "objective": "summarise the roadmap for a partner",
            "intents": intents, "sensitivity": "confidential"}
    body.update(kw)
    r = requests.post(d.url + "/v1/tasks", headers=bearer(iss.person()), json=body,
                      timeout=5)
    assert r.status_code == 201, r.text
    return r.json()


def token(d, iss, task, agent=ASSISTANT, actions=None):
    r = exchange(d, iss.svid(sub=agent), task["id"], actions, audience="tools")
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def evaluate(d, iss, action, rtype, rid, mandate, subject=ASSISTANT, **ctx):
    context = dict(ctx)
    if mandate is not None:
        context["mandate"] = mandate
    r = requests.post(d.url + "/access/v1/evaluation", headers=bearer(iss.person()),
                      json={"subject": {"type": "Agent", "id": subject},
                            "action": {"name": action},
                            "resource": {"type": rtype, "id": rid},
                            "context": context}, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["decision"], body.get("context", {}).get("id")


def outcome(d, iss, did, body, who=None):
    return requests.post(d.url + "/v1/decisions/%s/outcome" % did,
                         headers=bearer(who or iss.person()), json=body, timeout=5)


def test_forged_task_and_session_are_ignored(ctl):
    d, iss = ctl
    tok = token(d, iss, new_task(d, iss))
    m = {"token": tok}
    # a forged task that claims the intent matches: the server's own says no
    forged_task = {"id": "x", "intent_match": True, "sensitivity": 3, "intents": ["read_file"]}
    ok, _ = evaluate(d, iss, "read_file", "File", "handbook", m, task=forged_task,
                     arguments={"path": "/etc/passwd"})
    assert ok is False
    ok, _ = evaluate(d, iss, "read_file", "File", "handbook", m, task=forged_task,
                     arguments={"path": "/docs/handbook.md"})
    assert ok is True
    # a forged session that claims a confidential read does not deny either
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "outside", m,
                     session={"labels": ["confidential"]}, approval={"state": "granted"},
                     arguments={"to": ["bob@partner.example"]})
    assert ok is True
    # and no task at all (a forged one only) is no task
    ok, _ = evaluate(d, iss, "read_file", "File", "handbook", None, task=forged_task,
                     arguments={"path": "/docs/a"})
    assert ok is False


def test_confidential_read_then_external_send_is_denied(ctl):
    d, iss = ctl
    tok = token(d, iss, new_task(d, iss))
    m = {"token": tok}
    send = dict(arguments={"to": ["bob@partner.example"]})
    ok, did = evaluate(d, iss, "read_file", "File", "roadmap", m,
                       arguments={"path": "/docs/roadmap.md"})
    assert ok is True and did
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "outside", m, **send)
    assert ok is True            # nothing confidential reported yet
    r = outcome(d, iss, did, {"status": "success", "labels": ["confidential"]})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == ["confidential"]
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "outside", m, **send)
    assert ok is False           # the chain is stopped
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "team", m, **send)
    assert ok is True            # internal mail is still fine
    # outcome errors: twice, unknown id, bad bodies, another caller
    assert outcome(d, iss, did, {"status": "success"}).status_code == 409
    assert outcome(d, iss, "0" * 32, {"status": "success"}).status_code == 404
    assert outcome(d, iss, "nothex", {"status": "success"}).status_code == 404
    ok, did2 = evaluate(d, iss, "read_file", "File", "handbook", m,
                        arguments={"path": "/docs/a"})
    assert ok is True
    for bad in ({"status": "done"}, {}, {"status": "success", "labels": "x"},
                {"status": "success", "labels": ["a b"]}, {"status": "success", "x": 1}):
        assert outcome(d, iss, did2, bad).status_code == 400, bad
    assert outcome(d, iss, did2, {"status": "success"},
                   who=iss.person(sub="mallory")).status_code == 404
    r = outcome(d, iss, did2, {"status": "failure", "labels": []},
                who=iss.person(sub="operator"))
    assert r.status_code == 200, r.text     # an operator the policies allow
    assert r.json()["status"] == "failure"
    # a denied call has no outcome
    ok, did3 = evaluate(d, iss, "read_file", "File", "handbook", m,
                        arguments={"path": "/etc/passwd"})
    assert ok is False
    assert outcome(d, iss, did3, {"status": "success"}).status_code == 409


def test_tool_output_labels_untrusted_input(ctl):
    d, iss = ctl
    tok = token(d, iss, new_task(d, iss))
    m = {"token": tok}
    send = dict(arguments={"to": ["bob@partner.example"]})
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "team", m, **send)
    assert ok is True
    ok, _ = evaluate(d, iss, "fetch_web_page", "WebPage", "https://news.example/", m)
    assert ok is True            # configured: its output is untrusted
    ok, _ = evaluate(d, iss, "send_email", "Mailbox", "team", m, **send)
    assert ok is False


def test_no_new_token_once_the_budget_is_spent(ctl):
    """A task whose call budget is spent can make no more calls: a new
    token exchange for it is refused, and the token it has gets denies."""
    d, iss = ctl
    task = new_task(d, iss, call_budget=1)
    m = {"token": token(d, iss, task)}
    args = dict(arguments={"path": "/docs/a"})
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is False
    r = exchange(d, iss.svid(sub=ASSISTANT), task["id"], None, audience="tools")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_grant"


def test_naming_a_task_needs_its_delegator_or_a_grant(ctl, tmp_path):
    """Naming a task by its id (context.mandate.task) instead of presenting
    the agent's credential is for the task's delegator and for callers the
    policies permit mandate:use_task (a gateway): any other authenticated
    caller gets "unknown task", spends nothing and adds no label."""
    d, iss = ctl
    task = new_task(d, iss, call_budget=2)          # delegated by alice
    args = dict(arguments={"path": "/docs/a"})

    def by_id(who, agent=ASSISTANT, tid=None):
        r = requests.post(d.url + "/access/v1/evaluation", headers=bearer(iss.person(who)),
                          json={"subject": {"type": "Agent", "id": agent},
                                "action": {"name": "fetch_web_page"},
                                "resource": {"type": "WebPage", "id": "https://news.example/"},
                                "context": {"mandate": {"task": tid or task["id"]},
                                            "prompt": "planted by " + who}}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()["decision"], r.json()["context"]["id"]

    ok, did = by_id("mallory")
    assert ok is False
    rec = [x for x in _audit(tmp_path, "decision", "") if x["decision_id"] == did]
    assert rec and rec[0]["deny_reason"] == "unknown task", rec
    # whatever subject such a caller sends, the task is never compared
    # with it: the same answer as for an id that does not exist, and
    # nothing in the task's trail (no record, no decision to report on)
    dids = [by_id("mallory")[1], by_id("mallory", agent="guess")[1],
            by_id("mallory", agent="guess", tid="0" * 32)[1]]
    recs = {x["decision_id"]: x for x in _audit(tmp_path, "decision", "")}
    for x in dids:
        assert recs[x]["deny_reason"] == "unknown task", recs[x]
        assert not recs[x].get("task_id") and not recs[x].get("task"), recs[x]
        assert outcome(d, iss, x, {"status": "success"},
                       who=iss.person(sub="mallory")).status_code == 404
    # nothing spent, no label: the task's own calls still have their budget
    m = {"token": token(d, iss, task)}
    send = dict(arguments={"to": ["bob@partner.example"]})
    assert evaluate(d, iss, "send_email", "Mailbox", "team", m, **send)[0] is True
    # the gateway the policies name may; so may the delegator
    assert by_id("gateway")[0] is True
    assert by_id("alice")[0] is False                # budget of 2 spent now
    t2 = new_task(d, iss)
    r = requests.post(d.url + "/access/v1/evaluation", headers=bearer(iss.person("alice")),
                      json={"subject": {"type": "Agent", "id": ASSISTANT},
                            "action": {"name": "read_file"},
                            "resource": {"type": "File", "id": "handbook"},
                            "context": {"mandate": {"task": t2["id"]}, **args}}, timeout=5)
    assert r.json()["decision"] is True, r.text


def test_concurrent_fetch_and_send_keep_the_chain_rule(ctl, tmp_path):
    """A send decided before a concurrent fetch added its untrusted label
    must not commit after it: the permit stands only if the session's
    labels at commit are those the policies saw.  So across many races,
    whatever the order, the audit never shows a permitted send recorded
    after a permitted fetch of the same task."""
    import threading
    d, iss = ctl
    send = dict(arguments={"to": ["bob@partner.example"]})
    stale = 0
    for _ in range(16):
        task = new_task(d, iss, call_budget=10)
        m = {"token": token(d, iss, task)}
        go = threading.Barrier(2)
        got = {}

        def call(name, *a, **kw):
            go.wait()
            got[name] = evaluate(d, iss, *a, **kw)

        ts = [threading.Thread(target=call, args=("fetch", "fetch_web_page", "WebPage",
                                                   "https://news.example/", m)),
              threading.Thread(target=call, args=("send", "send_email", "Mailbox",
                                                  "team", m), kwargs=send)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert got["fetch"][0] is True
        recs = {x["decision_id"]: x for x in _audit(tmp_path, "decision", task["id"])}
        fetch, snd = recs[got["fetch"][1]], recs[got["send"][1]]
        assert snd["decision"] is got["send"][0]
        if snd["decision"]:
            # the send committed first: before the untrusted input
            assert snd["calls_used"] < fetch["calls_used"], (snd, fetch)
        elif "changed while" in snd.get("deny_reason", ""):
            stale += 1
    # (how often the race hit the check depends on timing; never wrong)
    print("sends denied as decided on stale labels:", stale)


def test_budget_and_expiry(ctl):
    d, iss = ctl
    task = new_task(d, iss, call_budget=2)
    m = {"token": token(d, iss, task)}
    args = dict(arguments={"path": "/docs/a"})
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is False
    task = new_task(d, iss, ttl=2)
    m = {"token": token(d, iss, task)}
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    # (a task lives at least its ttl: past the expiry its answer names)
    time.sleep(max(0.0, task["expires_at"] - time.time()) + 0.2)
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is False


def test_ended_revoked_killed_and_other_agent(ctl):
    d, iss = ctl
    args = dict(arguments={"path": "/docs/a"})
    # an ended task
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    r = requests.post(d.url + "/v1/tasks/%s/end" % task["id"], headers=bearer(iss.person()),
                      timeout=5)
    assert r.status_code == 200
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is False
    # a revoked token (the task lives on: a new token works)
    task = new_task(d, iss)
    tok = token(d, iss, task)
    r = requests.post(d.url + "/oauth2/revoke", headers=bearer(iss.person()),
                      data={"token": tok}, timeout=5)
    assert r.status_code == 200
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": tok}, **args)[0] is False
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": token(d, iss, task)},
                    **args)[0] is True
    # the task by id, from an authenticated caller
    assert evaluate(d, iss, "read_file", "File", "handbook", {"task": task["id"]},
                    **args)[0] is True
    # another agent's token, for our agent's call
    other = new_task(d, iss, agent=OTHER, intents=[{"action": "read_file"}])
    otok = token(d, iss, other, agent=OTHER)
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": otok}, **args)[0] is False
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": otok},
                    subject=OTHER, **args)[0] is True
    # the kill switch
    r = requests.post(d.url + "/v1/agents/%s/revoke" % requests.utils.quote(OTHER, safe=""),
                      headers=bearer(iss.person()), json={"reason": "test"}, timeout=5)
    assert r.status_code == 200, r.text
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": otok},
                    subject=OTHER, **args)[0] is False
    assert evaluate(d, iss, "read_file", "File", "handbook", {"task": other["id"]},
                    subject=OTHER, **args)[0] is False
    # a new task of that agent right after: refused while the kill
    # switch's second lasts (the switch ends every task created up to it,
    # and times are whole seconds: a creation that raced it would live
    # on), then created; its token is refused while that second lasts,
    # and is never answered as a token that cannot be used
    r = requests.post(d.url + "/v1/tasks", headers=bearer(iss.person()), timeout=5,
                      json={"agent": OTHER, "objective": "again",
                            "intents": [{"action": "read_file"}]})
    if r.status_code == 409:
        assert r.json()["error"] == "conflict" and "kill switch" in r.text, r.text
        time.sleep(1.05)
    else:
        assert r.status_code == 201, r.text
    again = new_task(d, iss, agent=OTHER, intents=[{"action": "read_file"}])
    r = exchange(d, iss.svid(sub=OTHER), again["id"], None, audience="tools")
    if r.status_code == 200:
        assert evaluate(d, iss, "read_file", "File", "handbook",
                        {"token": r.json()["access_token"]}, subject=OTHER,
                        **args)[0] is True
    else:
        assert r.status_code == 400 and "revoked" in r.text, r.text
        time.sleep(1.05)
        assert evaluate(d, iss, "read_file", "File", "handbook",
                        {"token": token(d, iss, again, agent=OTHER)},
                        subject=OTHER, **args)[0] is True
    # a token restricted to read_file cannot match the send intent
    tok = token(d, iss, new_task(d, iss), actions=["read_file"])
    assert evaluate(d, iss, "send_email", "Mailbox", "team", {"token": tok},
                    arguments={"to": "bob@partner.example"})[0] is False
    assert evaluate(d, iss, "read_file", "File", "handbook", {"token": tok}, **args)[0] is True


def test_decisions_are_audited(ctl, tmp_path):
    import sqlite3
    d, iss = ctl
    task = new_task(d, iss)
    tok = token(d, iss, task)
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", {"token": tok},
                       arguments={"path": "/docs/a"})
    assert ok is True and len(did) == 32
    ok, did2 = evaluate(d, iss, "read_file", "File", "salaries", {"token": tok},
                        arguments={"path": "/docs/salaries"})
    assert ok is False           # above the task's sensitivity ceiling
    assert did2 != did
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    rows = db.execute("SELECT task_id, fields_json FROM audit_events WHERE type = 'decision'"
                      ).fetchall()
    db.close()
    recs = {json.loads(f)["decision_id"]: (t, json.loads(f)) for t, f in rows}
    assert recs[did][0] == task["id"]
    assert recs[did][1]["decision"] is True and recs[did][1]["intent_match"] is True
    assert recs[did2][1]["decision"] is False
    assert "file-sensitivity-ceiling" in json.dumps(recs[did2][1])


def test_async_mode_counts_and_records_in_one_commit(start_daemon, tmp_path):
    """logging.audit: async: a task-bound permit is still counted against
    its task before its answer, and its decision record is committed with
    the count (not queued behind it): found at once, and the budget holds
    under concurrent calls.  (Async mode used to make the count's commit
    in the request's worker thread, holding it, and to queue the record.)"""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor
    d, iss = start_controls(start_daemon, tmp_path,
                            CONFIG + "logging:\n  audit: async\n")
    task = new_task(d, iss, call_budget=12)
    m = {"token": token(d, iss, task)}
    args = dict(arguments={"path": "/docs/a"})
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    for _ in range(4):
        ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
        assert ok is True
        row = db.execute("SELECT fields_json FROM audit_events WHERE type = 'decision'"
                         " AND json_extract(fields_json, '$.decision_id') = ?",
                         (did,)).fetchone()
        assert row is not None and json.loads(row[0])["decision"] is True, did
    with ThreadPoolExecutor(16) as ex:
        got = list(ex.map(lambda _: evaluate(d, iss, "read_file", "File", "handbook",
                                             m, **args)[0], range(24)))
    assert got.count(True) == 8, got
    used = db.execute("SELECT calls_used FROM tasks WHERE id = ?", (task["id"],)).fetchone()
    db.close()
    assert used == (12,), used


def _audit(tmp_path, type_, task_id):
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    rows = db.execute("SELECT fields_json FROM audit_events WHERE type = ? AND task_id = ?"
                      " ORDER BY id", (type_, task_id)).fetchall()
    db.close()
    return [json.loads(f) for f, in rows]


def test_session_limit(ctl, tmp_path):
    """A task's session holds at most 1000 labels and actions, read whole
    for each decision.  A report that takes it past that is kept (its
    labels must count: fail closed), and from then on the task's decisions
    are denies recorded like any other, with the reason; a later report can
    change nothing and is refused (409), audited with its labels."""
    d, iss = ctl
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    args = dict(arguments={"path": "/docs/a"})
    dids = []
    for i in range(15):          # 1 action + 15 * 64 labels = 961 rows
        ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
        assert ok is True
        r = outcome(d, iss, did, {"status": "success",
                                  "labels": ["l%03d_%02d" % (i, j) for j in range(64)]})
        assert r.status_code == 200, r.text
    ok, late = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True            # reported below, after the session is full
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True
    # 961 + 64: past the limit, and kept, confidential among them
    big = ["m%02d" % j for j in range(63)] + ["confidential"]
    r = outcome(d, iss, did, {"status": "success", "labels": big})
    assert r.status_code == 200, r.text
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is False and did, did
    recs = [x for x in _audit(tmp_path, "decision", task["id"]) if x["decision_id"] == did]
    assert len(recs) == 1, recs
    assert recs[0]["decision"] is False
    assert "session" in recs[0]["deny_reason"] and "1000" in recs[0]["deny_reason"]
    # a report now changes nothing: refused, audited, the decision unreported
    r = outcome(d, iss, late, {"status": "success", "labels": ["x1", "x2"]})
    assert r.status_code == 409, r.text
    assert "1000" in r.json()["error_description"]
    refused = _audit(tmp_path, "decision.outcome_refused", task["id"])
    assert [x["decision_id"] for x in refused] == [late]
    assert refused[0]["labels"] == ["x1", "x2"]
    # the same with the session filled by configured output labels
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    for i in range(15):
        ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
        assert ok is True
        r = outcome(d, iss, did, {"status": "success",
                                  "labels": ["l%03d_%02d" % (i, j) for j in range(64)]})
        assert r.status_code == 200, r.text
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    r = outcome(d, iss, did, {"status": "success",
                              "labels": ["n%02d" % j for j in range(38)]})
    assert r.status_code == 200, r.text      # 999: still read
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is True
    # a permitted fetch adds its action and its configured label: 1001
    ok, _ = evaluate(d, iss, "fetch_web_page", "WebPage", "https://news.example/", m)
    assert ok is True
    assert evaluate(d, iss, "read_file", "File", "handbook", m, **args)[0] is False


def test_outcome_after_the_task_is_over(ctl, tmp_path):
    """A call permitted while its task was active may finish after the task
    ended or was revoked: its outcome is still taken, as the record of what
    the call did (on the decision and in the audit log), but the task's
    session is left as it was (task_active: false)."""
    d, iss = ctl
    args = dict(arguments={"path": "/docs/a"})
    # an active task's report says so
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True
    r = outcome(d, iss, did, {"status": "success", "labels": ["confidential"]})
    assert r.status_code == 200 and r.json()["task_active"] is True
    for how in ("end", "revoke"):
        task = new_task(d, iss)
        m = {"token": token(d, iss, task)}
        ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
        assert ok is True
        if how == "end":
            url = d.url + "/v1/tasks/%s/end" % task["id"]
        else:
            url = d.url + "/v1/agents/%s/revoke" % requests.utils.quote(ASSISTANT, safe="")
        r = requests.post(url, headers=bearer(iss.person()), timeout=5)
        assert r.status_code == 200, r.text
        r = outcome(d, iss, did, {"status": "success", "labels": ["confidential"]})
        assert r.status_code == 200, r.text
        assert r.json()["task_active"] is False
        assert r.json()["labels"] == ["confidential"]
        recs = _audit(tmp_path, "decision.outcome", task["id"])
        assert [(x["decision_id"], x["labels"], x["task_active"]) for x in recs] == \
            [(did, ["confidential"], False)]
        # once only, as for an active task
        assert outcome(d, iss, did, {"status": "success"}).status_code == 409


def test_secret_labels_are_kept_as_their_hmac(ctl, tmp_path):
    """A label that looks like a secret (a key sent as a label, by mistake
    or to plant it) is kept as its HMAC: in the decision's row, the
    task's session, the record and the answer, as the audit log shows it;
    ordinary labels stay as they are, and the session still steers the
    task's next decisions with them."""
    d, iss = ctl
    secret = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    embedded = "doc/" + secret
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m,
                       arguments={"path": "/docs/a"})
    assert ok is True
    r = outcome(d, iss, did, {"status": "success",
                              "labels": ["confidential", secret, embedded]})
    assert r.status_code == 200, r.text
    kept = r.json()["labels"]
    assert kept[0] == "confidential"
    for k in kept[1:]:
        assert k.startswith("hmac:") and len(k) == 69, kept
    assert kept[1] != kept[2]
    recs = _audit(tmp_path, "decision.outcome", task["id"])
    assert [x["labels"] for x in recs] == [kept]
    # and nothing in the database holds the secret in clear
    requests.post(d.url + "/v1/tasks/%s/end" % task["id"],
                  headers=bearer(iss.person()), timeout=5)
    for name in ("mandate.db", "mandate.db-wal"):
        path = tmp_path / "data" / name
        if path.exists():
            assert secret.encode() not in path.read_bytes(), name
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    names = [n for n, in db.execute(
        "SELECT name FROM task_sessions WHERE task_id = ? AND kind = 0",
        (task["id"],))]
    db.close()
    # the session holds what the answer said
    assert sorted(names) == sorted(kept)


def test_refused_reports_are_audited(ctl, tmp_path):
    """Every refused report on a stored decision is audited as
    decision.outcome_refused with why; the answers are unchanged, and a
    caller who may not report gets exactly what an unknown id gets."""
    d, iss = ctl
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    args = dict(arguments={"path": "/docs/a"})

    def refused():
        return _audit(tmp_path, "decision.outcome_refused", task["id"])

    # a second report
    ok, did = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True
    assert outcome(d, iss, did, {"status": "success"}).status_code == 200
    r = outcome(d, iss, did, {"status": "failure", "labels": ["again"]})
    assert r.status_code == 409, r.text
    recs = refused()
    assert len(recs) == 1, recs
    assert (recs[0]["decision_id"], recs[0]["by"], recs[0]["status"],
            recs[0]["labels"]) == (did, "alice", "failure", ["again"])
    assert "already reported" in recs[0]["reason"]
    # a report on a deny
    ok, deny = evaluate(d, iss, "read_file", "File", "handbook", m,
                        arguments={"path": "/etc/passwd"})
    assert ok is False
    r = outcome(d, iss, deny, {"status": "success", "labels": ["secret"]})
    assert r.status_code == 409, r.text
    recs = refused()
    assert len(recs) == 2 and recs[1]["decision_id"] == deny, recs
    assert "denied" in recs[1]["reason"] and recs[1]["labels"] == ["secret"]
    # a caller who may not report: the same answer as for an id that does
    # not exist (the ids are a counter: the next one is easy to name);
    # recorded (with whose decision it is, without what the caller sent),
    # the unknown id not at all
    ok, did2 = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True
    mallory = iss.person(sub="mallory")
    theirs = outcome(d, iss, did2, {"status": "success", "labels": ["planted"]},
                     who=mallory)
    nearby = did2[:16] + "%016x" % (int(did2[16:], 16) + 1000)
    unknown = outcome(d, iss, nearby, {"status": "success", "labels": ["planted"]},
                      who=mallory)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.content == unknown.content
    assert {k: v for k, v in theirs.headers.items() if k.lower() not in
            ("x-request-id", "date")} == \
        {k: v for k, v in unknown.headers.items() if k.lower() not in
         ("x-request-id", "date")}
    # (that record is not waited for, lest the 404 take longer than the
    # other: it is written just after the answer)
    deadline = time.monotonic() + 10
    while len(refused()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    recs = refused()
    assert len(recs) == 3 and recs[2]["decision_id"] == did2, recs
    assert (recs[2]["by"], recs[2]["asked_by"]) == ("mallory", "alice")
    assert "labels" not in recs[2] and "planted" not in json.dumps(recs)
    assert not [x for x in _audit(tmp_path, "decision.outcome_refused", "")]
    # nothing changed: the decision is still there to report on
    assert outcome(d, iss, did2, {"status": "success"}).status_code == 200
    # concurrent reports: one is taken, each of the others is recorded
    from concurrent.futures import ThreadPoolExecutor
    ok, did3 = evaluate(d, iss, "read_file", "File", "handbook", m, **args)
    assert ok is True
    with ThreadPoolExecutor(max_workers=4) as ex:
        codes = sorted(ex.map(lambda i: outcome(d, iss, did3, {
            "status": "success", "labels": ["l%d" % i]}).status_code, range(4)))
    assert codes == [200, 409, 409, 409]
    assert len([x for x in refused() if x["decision_id"] == did3]) == 3
    assert len(_audit(tmp_path, "decision.outcome", task["id"])) == 3


def test_search_is_a_question_not_a_call(ctl):
    """A resource search naming a task decides per candidate with the task's
    context (sensitivity ceiling) but consumes no budget and records nothing."""
    d, iss = ctl
    task = new_task(d, iss, call_budget=1, intents=[{"action": "read_file"}])
    m = {"token": token(d, iss, task)}
    r = requests.post(d.url + "/access/v1/search/resource", headers=bearer(iss.person()),
                      json={"subject": {"type": "Agent", "id": ASSISTANT},
                            "action": {"name": "read_file"},
                            "resource": {"type": "File"},
                            "context": {"mandate": m}}, timeout=5)
    assert r.status_code == 200, r.text
    ids = sorted(x["id"] for x in r.json()["results"])
    assert ids == ["handbook", "roadmap"]          # salaries is above the ceiling
    # the one call of the budget is still there, and only once
    assert evaluate(d, iss, "read_file", "File", "handbook", m)[0] is True
    assert evaluate(d, iss, "read_file", "File", "handbook", m)[0] is False


def test_concurrent_calls_share_the_budget(ctl, tmp_path):
    """Twelve calls at once against a budget of 5: exactly 5 are permitted,
    and the audit says so: each record tells the answer its call got."""
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor
    d, iss = ctl
    task = new_task(d, iss, call_budget=5)
    m = {"token": token(d, iss, task)}
    with ThreadPoolExecutor(max_workers=6) as ex:
        got = list(ex.map(lambda _: evaluate(d, iss, "read_file", "File", "handbook", m,
                                             arguments={"path": "/docs/a"}), range(12)))
    assert [ok for ok, _ in got].count(True) == 5, got
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    rows = db.execute("SELECT fields_json FROM audit_events WHERE type = 'decision'"
                      " AND task_id = ?", (task["id"],)).fetchall()
    db.close()
    recs = {r["decision_id"]: r for r in (json.loads(f) for f, in rows)}
    assert len(recs) == 12
    # every answer names its record, also a permit turned into a deny
    # because the budget was gone when it was recorded
    for ok, did in got:
        assert did, got
        assert recs[did]["decision"] is ok, recs[did]
    permits = [r for r in recs.values() if r["decision"]]
    assert sorted(r["calls_used"] for r in permits) == [1, 2, 3, 4, 5]
    assert all(r.get("deny_reason") for r in recs.values() if not r["decision"])


DEV_CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [%s, @DIR@/tools.cedar]
dev:
  enabled: true
api_auth:
  open_on_loopback: true
""" % os.path.join(ROOT, "examples", "policies", "mandate.cedar")


def test_open_loopback(start_daemon, tmp_path):
    """Over the open development loopback: a token names the task, a bare
    task id does not (the caller is not authenticated), and the loopback
    may report the outcome of the decisions it asked for."""
    from test_dev import dev_token
    (tmp_path / "tools.cedar").write_text(
        'permit (principal, action == Action::"read_ticket", resource)\n'
        'when { context has task && context.task.intent_match };\n'
        'forbid (principal, action == Action::"send_email", resource)\n'
        'when { context has session && context.session.labels.contains("pii") };\n'
        'permit (principal, action == Action::"send_email", resource)\n'
        'when { context has task };\n')
    d = start_daemon(DEV_CONFIG)
    agent = "spiffe://dev.local/agents/demo"
    r = requests.post(d.url + "/v1/tasks", json={
        "agent": agent, "objective": "triage",
        "intents": [{"action": "read_ticket"}, {"action": "send_email"}]}, timeout=10)
    assert r.status_code == 201, r.text
    task = r.json()
    r = exchange(d, dev_token(d, "svid", "demo", "--data-dir", str(tmp_path / "data")),
                 task["id"])
    assert r.status_code == 200, r.text
    tok = r.json()["access_token"]

    def ask(action, mandate):
        r = requests.post(d.url + "/access/v1/evaluation", json={
            "subject": {"type": "Agent", "id": agent}, "action": {"name": action},
            "resource": {"type": "Tool", "id": "t"},
            "context": {"mandate": mandate}}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["decision"], r.json()["context"]["id"]

    ok, did = ask("read_ticket", {"token": tok})
    assert ok is True
    assert ask("read_ticket", {"task": task["id"]})[0] is False
    assert ask("send_email", {"token": tok})[0] is True
    r = requests.post(d.url + "/v1/decisions/%s/outcome" % did,
                      json={"status": "success", "labels": ["pii"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert ask("send_email", {"token": tok})[0] is False
    r = requests.post(d.url + "/v1/decisions/%s/outcome" % did, data="x",
                      headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415


def test_batch_items_keep_the_top_level_task_credential(ctl):
    """A batch item's context replaces the top-level one (AuthZEN), but
    the task credential (context.mandate) given once at the top level
    still binds an item with a context of its own, unless the item names
    its own: binding only narrows what an item may do."""
    d, iss = ctl
    task = new_task(d, iss, call_budget=2, intents=[{"action": "read_file"}])
    m = {"token": token(d, iss, task)}
    item = {"resource": {"type": "File", "id": "handbook"}}
    r = requests.post(d.url + "/access/v1/evaluations", headers=bearer(iss.person()),
                      json={"subject": {"type": "Agent", "id": ASSISTANT},
                            "action": {"name": "read_file"},
                            "context": {"mandate": m},
                            "options": {"include_context": True},
                            "evaluations": [dict(item, context={"note": "x"}),
                                            dict(item, context={}),
                                            dict(item)]}, timeout=10)
    assert r.status_code == 200, r.text
    ev = r.json()["evaluations"]
    # the budget of 2 bound all three: the third is over it
    assert [e["decision"] for e in ev] == [True, True, False], ev
    # an item naming its own (unknown) task is not rescued by the default
    r = requests.post(d.url + "/access/v1/evaluations", headers=bearer(iss.person()),
                      json={"subject": {"type": "Agent", "id": ASSISTANT},
                            "action": {"name": "read_file"},
                            "context": {"mandate": m},
                            "evaluations": [dict(item, context={
                                "mandate": {"task": "no-such-task"}})]}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["evaluations"][0]["decision"] is False


def refuse_records(d, *types):
    """A trigger that makes the store refuse audit records of these types
    (the audit log failing for them); returns the connection holding it."""
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    db.execute("CREATE TRIGGER test_refuse_records BEFORE INSERT ON audit_events "
               "WHEN NEW.type IN (%s) BEGIN SELECT RAISE(ABORT, 'test'); END"
               % ",".join("'%s'" % t for t in types))
    db.commit()
    return db


def allow_records(db):
    db.execute("DROP TRIGGER test_refuse_records")
    db.commit()
    db.close()


def recorded(d, *types):
    """The task ids of the audit records of these types, from the file."""
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    try:
        return [row[0] for row in db.execute(
            "SELECT task_id FROM audit_events WHERE type IN (%s) ORDER BY id"
            % ",".join("'%s'" % t for t in types))]
    finally:
        db.close()


def test_restrictions_stand_when_their_record_fails(ctl):
    """A task's end, the kill switch and an outcome's labels are written in
    one commit with their record; when that record cannot be written, the
    change is still made on its own (taking access away must not wait for
    the audit log: an operator must be able to stop an agent while the log
    is down) and the answer is 500 server_error, with no record written."""
    d, iss = ctl
    args = dict(arguments={"path": "/docs/a"})
    send = dict(arguments={"to": ["bob@partner.example"]})
    ended = new_task(d, iss)
    m_ended = {"token": token(d, iss, ended)}
    labelled = new_task(d, iss)
    m_labelled = {"token": token(d, iss, labelled)}
    ok, did = evaluate(d, iss, "read_file", "File", "roadmap", m_labelled,
                       arguments={"path": "/docs/roadmap.md"})
    assert ok is True
    killed = new_task(d, iss, agent=OTHER, intents=[{"action": "read_file"}])
    m_killed = {"token": token(d, iss, killed, agent=OTHER)}
    assert evaluate(d, iss, "read_file", "File", "handbook", m_killed, subject=OTHER,
                    **args)[0] is True

    db = refuse_records(d, "task.ended", "agent.revoked", "decision.outcome")
    try:
        r = requests.post(d.url + "/v1/tasks/%s/end" % ended["id"],
                          headers=bearer(iss.person()), timeout=30)
        assert r.status_code == 500 and r.json()["error"] == "server_error", r.text
        r = outcome(d, iss, did, {"status": "success", "labels": ["confidential"]})
        assert r.status_code == 500 and r.json()["error"] == "server_error", r.text
        r = requests.post(d.url + "/v1/agents/%s/revoke"
                          % requests.utils.quote(OTHER, safe=""),
                          headers=bearer(iss.person()), json={"reason": "test"},
                          timeout=30)
        assert r.status_code == 500 and r.json()["error"] == "server_error", r.text
    finally:
        allow_records(db)
    # each change stands
    assert evaluate(d, iss, "read_file", "File", "handbook", m_ended, **args)[0] is False
    r = requests.get(d.url + "/v1/tasks/%s" % ended["id"], headers=bearer(iss.person()),
                     timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "ended", r.text
    assert evaluate(d, iss, "send_email", "Mailbox", "outside", m_labelled, **send)[0] is False
    assert outcome(d, iss, did, {"status": "success"}).status_code == 409
    assert evaluate(d, iss, "read_file", "File", "handbook", m_killed, subject=OTHER,
                    **args)[0] is False
    # and none has a record; the log said why
    assert recorded(d, "task.ended", "agent.revoked", "decision.outcome") == []
    log = d.log_text()
    for what in ("its end and its record could not be written together",
                 "the revocation and its record could not be written together",
                 "the report and its record could not be written together"):
        assert what in log, what
    # with the log back, the same changes are made with their records
    task = new_task(d, iss)
    r = requests.post(d.url + "/v1/tasks/%s/end" % task["id"],
                      headers=bearer(iss.person()), timeout=30)
    assert r.status_code == 200, r.text
    assert recorded(d, "task.ended") == [task["id"]]


def test_task_records_keep_the_whole_mandate(ctl):
    """task.created keeps what the task allows in full: each intent with its
    constraints, and the call budget, so that the log still says what the
    agent was allowed once retention has deleted the task itself."""
    d, iss = ctl
    task = new_task(d, iss, call_budget=7)
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    try:
        (fields,) = db.execute("SELECT fields_json FROM audit_events WHERE type ="
                               " 'task.created' AND task_id = ?", (task["id"],)).fetchone()
    finally:
        db.close()
    f = json.loads(fields)
    assert f["intents"] == [i["action"] for i in INTENTS]
    assert f["intent_details"] == task["intents"]
    assert [i.get("constraints") for i in f["intent_details"]] == \
        [i.get("constraints") for i in INTENTS]
    assert f["call_budget"] == 7


def test_labels_are_case_insensitive(start_daemon, tmp_path):
    """A label is a word of a classification, whatever its case: a
    reported `Confidential` (as many classifiers spell it) or a configured
    `Untrusted` is kept in lowercase, so that a policy's
    `labels.contains("confidential")` sees it and the chain holds.  Kept
    so in the answer, the record and the session alike; a label that looks
    like a secret is still kept as the HMAC of what was sent."""
    d, iss = start_controls(start_daemon, tmp_path, CONFIG.replace(
        "fetch_web_page: [untrusted]", "fetch_web_page: [Untrusted]"))
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    send = dict(arguments={"to": ["bob@partner.example"]})
    ok, did = evaluate(d, iss, "read_file", "File", "roadmap", m,
                       arguments={"path": "/docs/roadmap.md"})
    assert ok is True
    secret = "AKIA" + "Q7RD2LX4N5P6Z3KWT8YB"
    r = outcome(d, iss, did, {"status": "success",
                              "labels": ["Confidential", "PII/SSN", secret]})
    assert r.status_code == 200, r.text
    kept = r.json()["labels"]
    assert kept[:2] == ["confidential", "pii/ssn"], kept
    assert kept[2].startswith("hmac:") and len(kept[2]) == 69, kept
    assert [x["labels"] for x in _audit(tmp_path, "decision.outcome",
                                         task["id"])] == [kept]
    assert evaluate(d, iss, "send_email", "Mailbox", "outside", m, **send)[0] is False
    # the configured label, spelt with a capital, stops any send too
    t2 = new_task(d, iss)
    m2 = {"token": token(d, iss, t2)}
    assert evaluate(d, iss, "send_email", "Mailbox", "team", m2, **send)[0] is True
    assert evaluate(d, iss, "fetch_web_page", "WebPage", "https://news.example/",
                    m2)[0] is True
    assert evaluate(d, iss, "send_email", "Mailbox", "team", m2, **send)[0] is False
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"), uri=True)
    names = sorted(n for n, in db.execute(
        "SELECT name FROM task_sessions WHERE kind = 0"))
    db.close()
    assert names == sorted(kept + ["untrusted"]), names


def test_outcome_records_name_the_agent(ctl, tmp_path):
    """decision.outcome and decision.outcome_refused are about the task's
    agent, as its decisions are: they name it, so that the log read for an
    agent (GET /v1/audit?agent=) has the reports that steered its
    session, and the refused ones, with its decisions."""
    from conftest import wait_for
    d, iss = ctl
    task = new_task(d, iss)
    m = {"token": token(d, iss, task)}
    ok, did = evaluate(d, iss, "read_file", "File", "roadmap", m,
                       arguments={"path": "/docs/roadmap.md"})
    assert ok is True
    assert outcome(d, iss, did, {"status": "success",
                                 "labels": ["confidential"]}).status_code == 200
    assert outcome(d, iss, did, {"status": "success"}).status_code == 409
    assert outcome(d, iss, did, {"status": "success"},
                   who=iss.person(sub="mallory")).status_code == 404

    def rows():
        db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"),
                             uri=True)
        got = db.execute("SELECT type, agent FROM audit_events WHERE task_id = ?"
                         " AND type LIKE 'decision%' ORDER BY id",
                         (task["id"],)).fetchall()
        db.close()
        return got
    assert wait_for(lambda: len(rows()) == 4), rows()
    assert [t for t, _ in rows()] == ["decision", "decision.outcome",
                                      "decision.outcome_refused",
                                      "decision.outcome_refused"]
    assert {a for _, a in rows()} == {ASSISTANT}, rows()


def test_chain_holds_for_any_resource_of_a_send(ctl):
    """After a confidential read, a send_email is denied unless its resource
    is a mailbox known to be internal: an enforcement point that names the
    recipient as another type of resource (Contact::"bob@..."), or a
    mailbox the entities do not describe, is not a way around the chain.
    These policies run without a schema (README), so nothing else ties
    send_email to Mailbox resources."""
    d, iss = ctl
    m = {"token": token(d, iss, new_task(d, iss))}
    send = dict(arguments={"to": ["bob@partner.example"]})
    ok, did = evaluate(d, iss, "read_file", "File", "roadmap", m,
                       arguments={"path": "/docs/roadmap.md"})
    assert ok is True
    # before the report, any of them may be sent to
    assert evaluate(d, iss, "send_email", "Contact", "bob@partner.example", m,
                    **send)[0] is True
    assert outcome(d, iss, did, {"status": "success",
                                 "labels": ["confidential"]}).status_code == 200
    for rtype, rid in (("Mailbox", "outside"), ("Mailbox", "unknown"),
                       ("Contact", "bob@partner.example"), ("User", "bob")):
        assert evaluate(d, iss, "send_email", rtype, rid, m, **send)[0] is False, rtype
    assert evaluate(d, iss, "send_email", "Mailbox", "team", m, **send)[0] is True
