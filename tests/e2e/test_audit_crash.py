"""Crash safety of the audit log: the daemon is killed with SIGKILL while
answering under load (AuthZEN decisions, task creations and token
exchanges from several client threads), then restarted on the same data
directory.  Every request the client received an answer for must have its
record, found by its request id (the X-Request-ID the daemon answered
with), and every decision by its decision id.  The load is bounded in
requests and time.
"""
import json
import subprocess
import threading
import time

import requests

from conftest import BIN

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AGENT = "spiffe://dev.local/agents/demo"

CONFIG = """
data_dir: @DIR@/mandate-data
server:
  listen: 127.0.0.1:@PORT@
  threads: 4
dev:
  enabled: true
api_auth:
  open_on_loopback: true
logging:
  level: warn
"""

THREADS = 4
MAX_PER_THREAD = 400        # requests
LOAD_SECONDS = 1.5          # before the kill


def svid(workdir):
    r = subprocess.run([BIN, "dev", "svid", "--agent", "demo"], cwd=workdir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def client(url, subject, answered, stop):
    s = requests.Session()
    task = None
    for i in range(MAX_PER_THREAD):
        if stop.is_set():
            return
        try:
            if i % 3 == 2:
                r = s.post(url + "/access/v1/evaluation", json={
                    "subject": {"type": "Agent", "id": AGENT},
                    "action": {"name": "read_ticket"},
                    "resource": {"type": "Ticket", "id": "t%d" % i}},
                    timeout=10)
                kind = "decision" if r.status_code == 200 else None
                if kind:
                    answered.append((r.headers["X-Request-ID"], kind,
                                     r.json()["context"]["id"]))
                continue
            if task is None or i % 3 == 0:
                r = s.post(url + "/v1/tasks", json={
                    "agent": AGENT, "objective": "crash test %d" % i,
                    "intents": [{"action": "read_ticket"}]}, timeout=10)
                kind = "task.created" if r.status_code == 201 else None
                if r.status_code == 201:
                    task = r.json()["id"]
            else:
                r = s.post(url + "/oauth2/token", data={
                    "grant_type": EXCHANGE, "subject_token": subject,
                    "subject_token_type": JWT_TYPE,
                    "authorization_details": json.dumps(
                        [{"type": "mandate_task", "task_id": task}])},
                    timeout=10)
                kind = ("token.issued" if r.status_code == 200 else
                        "token.refused" if r.status_code < 500 else None)
        except requests.RequestException:
            return                       # the daemon is gone
        # an answer the client acted on: its record must exist
        if kind is not None:
            answered.append((r.headers["X-Request-ID"], kind, None))


def read_all(url):
    out, decisions, after = {}, set(), 0
    while True:
        r = requests.get(url + "/v1/audit",
                         params={"after": after, "limit": 1000}, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        for e in body["events"]:
            out.setdefault(e["request_id"], set()).add(e["type"])
            if e["type"] == "decision":
                decisions.add(e["fields"].get("decision_id"))
        if body["next"] is None:
            return out, decisions
        after = body["next"]


def test_sigkill_under_load_loses_no_answered_record(start_daemon):
    d = start_daemon(CONFIG)
    subject = svid(d.workdir)
    answered, stop = [], threading.Event()
    threads = [threading.Thread(target=client,
                                args=(d.url, subject, answered, stop))
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    d.proc.kill()                        # SIGKILL, mid-load
    d.proc.wait(timeout=10)
    d.was_ready = False                  # it did not stop cleanly: on purpose
    stop.set()
    for t in threads:
        t.join(timeout=30)
    # enough load to mean something (bounded above by MAX_PER_THREAD)
    assert len(answered) >= 20, len(answered)
    assert any(kind == "decision" for _, kind, _ in answered)

    again = start_daemon(CONFIG)         # same directory, same database
    recorded, decisions = read_all(again.url)
    missing = [(rid, kind) for rid, kind, _ in answered
               if kind not in recorded.get(rid, set())]
    missing += [("decision id", did) for _, _, did in answered
                if did is not None and did not in decisions]
    assert missing == [], "%d of %d answered requests have no record: %s" % (
        len(missing), len(answered), missing[:5])
    # and the log still verifies (leaves, tree, checkpoints)
    assert again.stop() == 0
    r = subprocess.run([BIN, "audit", "verify", "--data-dir",
                        again.workdir + "/mandate-data", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
