"""Crash consistency beyond the decisions' records (test_audit_crash.py):
the daemon is killed with SIGKILL while it does every kind of work, then
started again on the same data; what a client was told must be what the
restarted daemon holds, the log must verify and the start must need no
repair.

- mixed flows (tasks, token exchange, evaluations that spend a budget,
  outcome reports, revocation, task end, the kill switch, key rotation,
  policy reload) killed after a random 0-300 ms, over rounds;
- key activation: a key rotated before a kill starts signing after the
  restart, and its keys.activated record is there;
- the first start killed at each of its first writes (strace): the next
  start works.
"""
import base64
import json
import os
import random
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, ROOT, free_port

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  threads: 4
dev:
  enabled: true
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
tokens:
  issuer: http://127.0.0.1:8799
  publish_delay: 1s
logging:
  level: warn
audit:
  checkpoint_every: 7
  checkpoint_interval: 1s
  checkpoint_file: @DIR@/checkpoints.jsonl
"""


def setup_dir(tmp_path):
    os.makedirs(str(tmp_path / "policies"))
    shutil.copy(os.path.join(ROOT, "examples", "policies", "mandate.cedar"),
                str(tmp_path / "policies"))


def svid(tmp_path, agent):
    r = subprocess.run([BIN, "dev", "svid", "--agent", agent, "--ttl", "1h",
                        "--data-dir", str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def spiffe(name):
    return "spiffe://dev.local/agents/" + name


def jti_of(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["jti"]


def verify(tmp_path):
    ck = str(tmp_path / "checkpoints.jsonl")
    args = [BIN, "audit", "verify", "--data-dir", str(tmp_path / "data"),
            "--quiet"]
    if os.path.exists(ck) and os.path.getsize(ck) > 0:
        args += ["--checkpoint", ck]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def kill(d):
    d.proc.kill()
    d.proc.wait(timeout=10)
    d.was_ready = False                  # killed on purpose


def records(db, rtype):
    return [(t, rid, json.loads(f)) for t, rid, f in db.execute(
        "SELECT task_id, request_id, fields_json FROM audit_events"
        " WHERE type = ?", (rtype,))]


def activations_recorded(db, problems):
    """Every key that signs or signed after the first has its
    keys.activated record (the first key of the instance has none)."""
    keys = db.execute("SELECT kid FROM signing_keys WHERE state != 0"
                      " ORDER BY activated_at, kid").fetchall()
    logged = {f["kid"] for _, _, f in records(db, "keys.activated")}
    for (kid,) in keys[1:]:
        if kid not in logged:
            problems.append("key %s signs without keys.activated" % kid)


class Told:
    """Every answer received before the kill."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tasks = {}                  # task id -> agent name
        self.tokens = {}                 # jti -> (task, token)
        self.revoked, self.ended, self.killed = set(), set(), set()
        self.permits = {}                # task -> permits answered
        self.outcomes = {}               # decision id -> (task, label, active)
        self.rotated, self.reloads = [], []


def worker(url, k, svids, pool, told, stop, rnd):
    s = requests.Session()
    try:
        while not stop.is_set():
            agent = "w%d" % k
            kill_switch = False
            if rnd.random() < 0.15:
                with told.lock:
                    if pool:
                        agent, kill_switch = pool.pop(), True
            r = s.post(url + "/v1/tasks", timeout=10, json={
                "agent": spiffe(agent), "objective": "crash",
                "intents": [{"action": "read_ticket"}], "call_budget": 3})
            if r.status_code != 201:
                continue
            task = r.json()["id"]
            with told.lock:
                told.tasks[task] = agent
            r = s.post(url + "/oauth2/token", timeout=10, data={
                "grant_type": EXCHANGE, "subject_token": svids[agent],
                "subject_token_type": JWT_TYPE,
                "authorization_details": json.dumps(
                    [{"type": "mandate_task", "task_id": task}])})
            if r.status_code != 200:
                continue
            tok = r.json()["access_token"]
            jti = jti_of(tok)
            with told.lock:
                told.tokens[jti] = (task, tok)
            for _ in range(rnd.randrange(5)):     # up to 4: past the budget
                r = s.post(url + "/access/v1/evaluation", timeout=10, json={
                    "subject": {"type": "Agent", "id": spiffe(agent)},
                    "action": {"name": "read_ticket"},
                    "resource": {"type": "Tool", "id": "helpdesk"},
                    "context": {"mandate": {"token": tok}}})
                if r.status_code != 200 or not r.json()["decision"]:
                    continue
                with told.lock:
                    told.permits[task] = told.permits.get(task, 0) + 1
                if rnd.random() < 0.6:
                    did = r.json()["context"]["id"]
                    label = "label%d" % rnd.randrange(1000)
                    r = s.post(url + "/v1/decisions/%s/outcome" % did,
                               timeout=10, json={"status": "success",
                                                 "labels": [label]})
                    if r.status_code == 200:
                        with told.lock:
                            told.outcomes[did] = (
                                task, label, r.json()["task_active"])
            x = rnd.random()
            if kill_switch:
                r = s.post(url + "/v1/agents/%s/revoke" % requests.utils.quote(
                    spiffe(agent), safe=""), json={"reason": "crash"},
                    timeout=10)
                if r.status_code == 200:
                    with told.lock:
                        told.killed.add(agent)
            elif x < 0.3:
                r = s.post(url + "/oauth2/revoke", data={"token": tok},
                           timeout=10)
                if r.status_code == 200:
                    with told.lock:
                        told.revoked.add(jti)
            elif x < 0.6:
                r = s.post(url + "/v1/tasks/%s/end" % task, timeout=10,
                           json={"reason": "done"})
                if r.status_code == 200:
                    with told.lock:
                        told.ended.add(task)
    except requests.RequestException:
        return                           # the daemon is gone


def admin(url, tmp_path, told, stop, rnd):
    s = requests.Session()
    n = 0
    try:
        while not stop.is_set():
            if rnd.random() < 0.5:
                r = s.post(url + "/v1/keys/rotate", timeout=10)
                if r.status_code == 200:
                    with told.lock:
                        told.rotated.append(r.json()["kid"])
            else:
                n += 1
                path = str(tmp_path / "policies" / "extra.cedar")
                with open(path + ".new", "w") as f:
                    f.write('@id("extra-%d-%d")\nforbid (principal =='
                            ' Agent::"nobody", action, resource);\n'
                            % (rnd.randrange(10 ** 9), n))
                os.rename(path + ".new", path)
                r = s.post(url + "/v1/policies/reload", timeout=10)
                if r.status_code == 200:
                    with told.lock:
                        told.reloads.append(r.headers["X-Request-ID"])
            time.sleep(rnd.random() * 0.05)
    except requests.RequestException:
        return


def check(url, db, told, problems):
    s = requests.Session()
    created = {t for t, _, _ in records(db, "task.created")}
    issued = {f.get("jti") for _, _, f in records(db, "token.issued")}
    reported = {f.get("decision_id") for _, _, f in
                records(db, "decision.outcome")}
    for task, agent in told.tasks.items():
        r = s.get(url + "/v1/tasks/" + task, timeout=10)
        if r.status_code != 200:
            problems.append("task %s (201) is %d" % (task, r.status_code))
            continue
        state = r.json()["state"]
        if task not in created:
            problems.append("task %s has no task.created" % task)
        if task in told.ended and state == "active":
            problems.append("task %s ended (200) is active" % task)
        if agent in told.killed and state == "active":
            problems.append("task %s of killed %s is active" % (task, agent))
        (used,) = db.execute("SELECT calls_used FROM tasks WHERE id = ?",
                             (task,)).fetchone()
        if used < told.permits.get(task, 0):
            problems.append("task %s: %d permits, calls_used %d"
                            % (task, told.permits[task], used))
    for jti, (task, tok) in told.tokens.items():
        if db.execute("SELECT 1 FROM credentials WHERE jti = ?",
                      (jti,)).fetchone() is None:
            problems.append("token %s (200) has no credential row" % jti)
        if jti not in issued:
            problems.append("token %s has no token.issued" % jti)
        r = s.post(url + "/oauth2/introspect", data={"token": tok}, timeout=10)
        dead = (jti in told.revoked or task in told.ended or
                told.tasks[task] in told.killed)
        if r.json()["active"] and dead:
            problems.append("token %s is active again" % jti)
        if not r.json()["active"] and not dead:
            # spent or expired is fine; an unpublished key is not
            kid = json.loads(base64.urlsafe_b64decode(
                tok.split(".")[0] + "==="))["kid"]
            jwks = s.get(url + "/.well-known/jwks.json", timeout=10).json()
            if kid not in {k["kid"] for k in jwks["keys"]}:
                problems.append("token %s: key %s unpublished" % (jti, kid))
    for did, (task, label, active) in told.outcomes.items():
        row = db.execute("SELECT outcome FROM decisions WHERE id = ?",
                         (did,)).fetchone()
        if row is None or row[0] == 0:
            problems.append("outcome of %s (200) not stored" % did)
        if active and db.execute(
                "SELECT 1 FROM task_sessions WHERE task_id = ? AND name = ?",
                (task, label)).fetchone() is None:
            problems.append("label %s of task %s lost" % (label, task))
        if did not in reported:
            problems.append("outcome %s has no decision.outcome" % did)
    kids = {k for (k,) in db.execute("SELECT kid FROM signing_keys")}
    problems += ["rotated key %s not stored" % k for k in told.rotated
                 if k not in kids]
    loaded = {f["policy_hash"] for _, _, f in records(db, "policy.reloaded")}
    asked = {rid: f["policy_hash"] for _, rid, f in
             records(db, "policies.reloaded")}
    problems += ["reload %s (200) not recorded" % rid for rid in told.reloads
                 if asked.get(rid) not in loaded]
    activations_recorded(db, problems)


ROUNDS = 8
THREADS = 3


def test_mixed_flows_killed_at_random_then_consistent(start_daemon, tmp_path):
    setup_dir(tmp_path)
    d = start_daemon(CONFIG)
    svids = {"w%d" % k: svid(tmp_path, "w%d" % k) for k in range(THREADS)}
    pool = ["kill%d" % j for j in range(4 * ROUNDS)]
    svids.update({a: svid(tmp_path, a) for a in pool})
    assert d.stop() == 0
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    failed, totals = [], {}
    for rounds in range(ROUNDS):
        d = start_daemon(CONFIG)
        told, stop = Told(), threading.Event()
        threads = [threading.Thread(target=worker, args=(
            d.url, k, svids, pool, told, stop, random.Random(rnd.random())))
            for k in range(THREADS)]
        threads.append(threading.Thread(target=admin, args=(
            d.url, tmp_path, told, stop, random.Random(rnd.random()))))
        for t in threads:
            t.start()
        time.sleep(rnd.random() * 0.3)
        kill(d)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        verify(tmp_path)                   # before any repair
        time.sleep(1.1)                    # a rotated key is due now
        d = start_daemon(CONFIG)           # starts without repair
        time.sleep(0.2)
        db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"))
        problems = []
        try:
            check(d.url, db, told, problems)
        finally:
            db.close()
        assert d.stop() == 0
        verify(tmp_path)
        for name in ("tasks", "tokens", "revoked", "ended", "killed",
                     "outcomes", "rotated", "reloads"):
            totals[name] = totals.get(name, 0) + len(getattr(told, name))
        if problems:
            failed.append((rounds, problems[:5]))
    assert failed == [], "%d of %d rounds: %s" % (len(failed), ROUNDS, failed)
    assert totals["tasks"] >= ROUNDS and totals["tokens"] > 0, totals


def test_key_activation_survives_a_kill(start_daemon, tmp_path):
    """A key rotated (200) before a kill, at moments before and after it
    starts signing: after the restart it signs, and the log holds its
    keys.activated record, in the commit that activated it."""
    setup_dir(tmp_path)
    rotated = []
    for delay in (0.0, 0.3, 0.6, 0.9, 1.3):
        d = start_daemon(CONFIG)
        r = requests.post(d.url + "/v1/keys/rotate", timeout=10)
        assert r.status_code == 200, r.text
        rotated.append(r.json()["kid"])
        time.sleep(delay)
        kill(d)
        time.sleep(1.1)                    # due, if not yet active
        d = start_daemon(CONFIG)
        keys = requests.get(d.url + "/v1/keys", timeout=10).json()
        assert keys["active_kid"] == rotated[-1], keys
        assert d.stop() == 0
    db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"))
    problems = []
    activations_recorded(db, problems)
    logged = [f for _, _, f in records(db, "keys.activated")]
    db.close()
    assert problems == [], problems
    assert [f["kid"] for f in logged] == rotated, logged
    verify(tmp_path)


FIRST_WRITES = 8


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_first_start_killed_at_each_write(start_daemon, tmp_path):
    """The first start (keys made, database created) killed at each of its
    first writes: the next start works, and the log verifies."""
    setup_dir(tmp_path)
    cfg = str(tmp_path / "first.yaml")
    failed = []
    for n in range(1, FIRST_WRITES + 1):
        shutil.rmtree(str(tmp_path / "data"), ignore_errors=True)
        if os.path.exists(str(tmp_path / "checkpoints.jsonl")):
            os.unlink(str(tmp_path / "checkpoints.jsonl"))
        with open(cfg, "w") as f:
            f.write(CONFIG.replace("@DIR@", str(tmp_path))
                    .replace("@PORT@", str(free_port())))
        subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "-e",
                        "trace=write", "-e",
                        "inject=write:signal=KILL:when=%d" % n,
                        BIN, "serve", "--config", cfg],
                       capture_output=True, timeout=30)
        try:
            d = start_daemon(CONFIG)
        except AssertionError as e:
            failed.append((n, str(e)[-300:]))
            continue
        assert d.stop() == 0
        verify(tmp_path)
    assert failed == [], failed
