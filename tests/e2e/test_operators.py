"""End to end: operators and other delegators' tasks, decided by Cedar.

alice gives a task to an agent.  olivia is in Role::"operator" (an entity
file) and a policy lets operators read and end tasks of the acme.test
trust domain (actions mandate:read_task and mandate:end_task, the task as
resource, its delegator and agent in context.task); audrey's role may only
read; bob is a stranger.  The stranger sees 404 (ids cannot be probed),
the reader reads but may not end (403), the operator ends the task and
its credential dies, and the audit table names who did what.
"""
import json
import sqlite3

import pytest
import requests

from test_flow import AGENT, CONFIG, Issuers, bearer, exchange, introspect, new_task

POLICY = """
@id("alice-delegates")
permit (principal == Delegator::"alice",
        action == Action::"mandate:create_task", resource)
when { context.agent.trust_domain == "acme.test" };

@id("operators-read-and-end-tasks")
permit (principal in Role::"operator",
        action in [Action::"mandate:read_task", Action::"mandate:end_task"],
        resource)
when { context.task.agent.trust_domain == "acme.test" &&
       context.caller.kind == "oidc" };

@id("auditors-read-tasks")
permit (principal in Role::"auditor",
        action == Action::"mandate:read_task", resource);
"""

ENTITIES = [
    {"uid": {"type": "Delegator", "id": "olivia"}, "attrs": {},
     "parents": [{"type": "Role", "id": "operator"}]},
    {"uid": {"type": "Delegator", "id": "audrey"}, "attrs": {},
     "parents": [{"type": "Role", "id": "auditor"}]},
]


@pytest.fixture
def ops(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    cfg = CONFIG.replace("  platform: [@DIR@/policies]\n",
                         "  platform: [@DIR@/policies]\n"
                         "  entities: [@DIR@/entities.json]\n")
    assert cfg != CONFIG
    return start_daemon(cfg), iss, tmp_path


def audit_rows(tmp_path, type_):
    db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"), timeout=5)
    try:
        return [json.loads(f) for (f,) in db.execute(
            "SELECT fields_json FROM audit_events WHERE type = ? ORDER BY id",
            (type_,))]
    finally:
        db.close()


def test_operator_reads_and_ends_others_tasks(ops):
    d, iss, tmp_path = ops
    task = new_task(d, iss)
    url = d.url + "/v1/tasks/" + task["id"]
    r = exchange(d, iss.svid(), task["id"])
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]

    # a stranger: as if there were no such task, for reading and ending
    stranger = bearer(iss.person(sub="bob"))
    assert requests.get(url, headers=stranger, timeout=5).status_code == 404
    r = requests.post(url + "/end", headers=stranger, timeout=5)
    assert r.status_code == 404
    assert requests.get(url + "x", headers=stranger, timeout=5).status_code == 404

    # a reader: reads, may not end (403: it knows the task exists)
    reader = bearer(iss.person(sub="audrey"))
    r = requests.get(url, headers=reader, timeout=5)
    assert r.status_code == 200 and r.json()["id"] == task["id"]
    r = requests.post(url + "/end", headers=reader, timeout=5)
    assert r.status_code == 403 and r.json()["error"] == "access_denied"
    assert introspect(d, iss, at)["active"] is True

    # the operator reads and ends it; the credential dies with it
    op = bearer(iss.person(sub="olivia"))
    r = requests.get(url, headers=op, timeout=5)
    assert r.status_code == 200 and r.json()["delegator"] == "alice"
    r = requests.post(url + "/end", headers=op, json={"reason": "incident 42"},
                      timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "ended" and r.json()["reason"] == "incident 42"
    assert introspect(d, iss, at) == {"active": False}
    # ending again is idempotent, and the delegator still sees the task
    assert requests.post(url + "/end", headers=op, timeout=5).status_code == 200
    r = requests.get(url, headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200 and r.json()["reason"] == "incident 42"

    # the audit table says who read and ended whose task, and who was refused
    ended = audit_rows(tmp_path, "task.ended")
    assert len(ended) == 1
    assert ended[0]["by"] == "olivia" and ended[0]["delegator"] == "alice"
    assert ended[0]["policies"] == ["operators-read-and-end-tasks"]
    reads = audit_rows(tmp_path, "task.read")
    assert [e["by"] for e in reads] == ["audrey", "olivia"]
    denied = audit_rows(tmp_path, "task.end_denied")
    assert sorted(e["by"] for e in denied) == ["audrey", "bob"]
    # a refused read too (an unknown id is no task: nothing to record)
    denied = audit_rows(tmp_path, "task.read_denied")
    assert [(e["by"], e["delegator"]) for e in denied] == [("bob", "alice")]


def test_operator_policy_is_bounded_by_its_conditions(ops):
    d, iss, tmp_path = ops
    task = new_task(d, iss)
    url = d.url + "/v1/tasks/" + task["id"]
    # the operator's policy asks for a person (caller kind "oidc"): the
    # agent's own SVID is not even a caller of the tasks API
    r = requests.get(url, headers=bearer(iss.svid()), timeout=5)
    assert r.status_code == 401
    # the delegator needs no policy for its own task
    r = requests.post(url + "/end", headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200 and r.json()["reason"] == "ended by the delegator"


def test_dev_instance_operator(dev):
    """The example policies: the dev person "operator" operates dev.local."""
    from test_dev import bearer as dev_bearer, create_task, dev_token
    alice = dev_token(dev, "login", "alice")
    r = create_task(dev, alice)
    assert r.status_code == 201, r.text
    url = dev.url + "/v1/tasks/" + r.json()["id"]
    bob = dev_bearer(dev_token(dev, "login", "bob"))
    assert requests.get(url, headers=bob, timeout=10).status_code == 404
    assert requests.post(url + "/end", headers=bob, json={},
                         timeout=10).status_code == 404
    op = dev_bearer(dev_token(dev, "login", "operator"))
    r = requests.get(url, headers=op, timeout=10)
    assert r.status_code == 200 and r.json()["delegator"] == "dev-user:alice"
    r = requests.post(url + "/end", headers=op, json={}, timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "ended"
    assert r.json()["reason"] == "ended by an operator"
