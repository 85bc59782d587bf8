"""The control examples (examples/policies/controls): they validate against
their schema, and each control permits and denies what its README says,
checked offline with `mandate check` on contexts shaped exactly as the
daemon sets them (task, session, approval).  tests/e2e/test_agent_ctx.py
runs the same policies in the daemon.
"""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("MANDATE_BIN", "build/src/mandate")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = os.path.join(ROOT, "examples", "policies", "controls")
ASSISTANT = "spiffe://dev.local/agent/assistant"
RETRIEVER = "spiffe://dev.local/agent/retriever"


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=60)


def test_validates():
    r = run("policy", "validate", "--schema", os.path.join(EX, "controls.cedarschema"),
            os.path.join(EX, "controls.cedar"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "9 policies valid" in r.stdout


def ctx(match=True, sens=2, labels=(), approval="none", task=True):
    if not task:
        return {}
    return {
        "task": {"id": "t", "objective": "o", "agent": "a", "delegator": "d",
                 "intents": ["read_file"], "intent_match": match, "sensitivity": sens,
                 "sensitivity_name": "confidential", "expires_at": 1, "call_budget": 5,
                 "calls_used": 0},
        "session": {"labels": list(labels), "actions": [], "calls": 0},
        "approval": {"state": approval},
    }


CASES = [
    # least privilege per tool
    (ASSISTANT, "read_file", "File", "handbook", ctx(), True),
    (RETRIEVER, "read_file", "File", "handbook", ctx(), True),
    (RETRIEVER, "read_customer", "Customer", "c-1001", ctx(), False),
    # intent-bound: no task, or a call outside the intents
    (ASSISTANT, "read_file", "File", "handbook", ctx(task=False), False),
    (ASSISTANT, "read_file", "File", "handbook", ctx(match=False), False),
    # sensitivity ceiling
    (ASSISTANT, "read_file", "File", "roadmap", ctx(sens=2), True),
    (ASSISTANT, "read_file", "File", "roadmap", ctx(sens=1), False),
    (ASSISTANT, "read_file", "File", "salaries", ctx(sens=2), False),
    (ASSISTANT, "read_customer", "Customer", "c-1001", ctx(sens=1), False),
    # approval required
    (ASSISTANT, "send_payment", "Payee", "acme", ctx(), False),
    (ASSISTANT, "send_payment", "Payee", "acme", ctx(approval="granted"), True),
    # chaining: confidential read, then external send
    (ASSISTANT, "send_email", "Mailbox", "outside", ctx(), True),
    (ASSISTANT, "send_email", "Mailbox", "outside", ctx(labels=["confidential"]), False),
    (ASSISTANT, "send_email", "Mailbox", "team", ctx(labels=["confidential"]), True),
    # chaining: untrusted input, then any send
    (ASSISTANT, "fetch_web_page", "WebPage", "https://news.example/", ctx(), True),
    (ASSISTANT, "send_email", "Mailbox", "team", ctx(labels=["untrusted"]), False),
    # read-only retrieval agents
    (RETRIEVER, "send_email", "Mailbox", "team", ctx(), False),
    (RETRIEVER, "write_file", "File", "handbook", ctx(), False),
]


def test_controls(tmp_path):
    reqs = [{"principal": {"type": "Agent", "id": p}, "action": {"type": "Action", "id": a},
             "resource": {"type": rt, "id": rid}, "context": c}
            for p, a, rt, rid, c, _ in CASES]
    f = tmp_path / "requests.json"
    f.write_text(json.dumps(reqs))
    r = run("check", "--policies", os.path.join(EX, "controls.cedar"),
            "--entities", os.path.join(EX, "entities.json"),
            "--schema", os.path.join(EX, "controls.cedarschema"),
            "--requests", str(f), "--format", "json")
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    assert len(lines) == len(CASES), r.stdout + r.stderr
    for (p, a, rt, rid, c, want), got in zip(CASES, lines):
        assert got.get("errors", []) == [], (a, rid, got)
        assert (got["decision"] == "allow") == want, (p, a, rid, c, got)
