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
