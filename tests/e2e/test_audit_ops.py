"""End-to-end tests of the audit log's operations: what is recorded, that
secrets never reach the database file or an export in clear, the query
API with its filters and paging, `mandate audit tail|export`, and /readyz
while the log cannot be written.
"""
import json
import os
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AGENT = "spiffe://dev.local/agents/demo"

CONFIG = """
data_dir: @DIR@/mandate-data
server:
  listen: 127.0.0.1:@PORT@
dev:
  enabled: true
api_auth:
  open_on_loopback: true
audit:
  redact_paths: ["intents.0", "arguments.card_number"]
"""

CONFIGURED = "transfer_to_account_DE44500105175407324931"
CARD = "4111111111111111"
GH_TOKEN = "ghp_R2d2C3poBb8Luke0Leia1Han2Solo3Chewie4"
API_KEY = "sk-proj-Zx81Qa0PLmN4tB7uYc2Vd9Ws5Re3"
PASSWORD = "hunter2hunter2"


def mandate(*args, cwd=None, env=None, timeout=30):
    return subprocess.run([BIN] + list(args), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def svid(d, name="demo"):
    r = mandate("dev", "svid", "--agent", name, cwd=d.workdir)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def create_task(d, objective="triage", agent=AGENT):
    r = requests.post(d.url + "/v1/tasks", json={
        "agent": agent, "objective": objective,
        "intents": [{"action": "read_ticket"}]}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.headers["X-Request-ID"]


def exchange(d, subject, task_id):
    return requests.post(d.url + "/oauth2/token", data={
        "grant_type": EXCHANGE, "subject_token": subject,
        "subject_token_type": JWT_TYPE,
        "authorization_details": json.dumps(
            [{"type": "mandate_task", "task_id": task_id}])}, timeout=10)


def all_events(d, **filters):
    out, after = [], 0
    while True:
        q = dict(filters, after=after, limit=50)
        r = requests.get(d.url + "/v1/audit", params=q, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["events"]
        if body["next"] is None:
            return out
        after = body["next"]


def db_bytes(d):
    data = b""
    base = os.path.join(d.workdir, "mandate-data", "mandate.db")
    for suffix in ("", "-wal"):
        if os.path.exists(base + suffix):
            with open(base + suffix, "rb") as f:
                data += f.read()
    return data


def denied_task(d, objective, first_action):
    """A task the development policies refuse (an agent outside
    dev.local): only its audit record keeps what was asked."""
    r = requests.post(d.url + "/v1/tasks", json={
        "agent": "spiffe://other.test/agents/x", "objective": objective,
        "intents": [{"action": first_action}, {"action": "read_ticket"}]},
        timeout=10)
    assert r.status_code == 403, r.text
    return r.headers["X-Request-ID"]


def test_secrets_never_stored_in_clear(start_daemon):
    d = start_daemon(CONFIG)
    subject = svid(d)
    t1, rid1 = create_task(d, "triage")
    r = exchange(d, subject, t1)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    refused = exchange(d, subject[:-4] + "AAAA", t1)     # a bad signature
    assert refused.status_code >= 400
    # our own token, an API key and a password in free text; a configured
    # secret argument (audit.redact_paths: intents.0) as the first action
    objective = ("use %s with key %s and password=%s"
                 % (at, API_KEY, PASSWORD))
    rid2 = denied_task(d, objective, CONFIGURED)
    rid3 = denied_task(d, "again", CONFIGURED)
    # a decision: the call's arguments (a configured secret argument, a
    # secret-named one, an API key in free text) and the prompt (quoting
    # our token) as the enforcement point sends them
    r = requests.post(d.url + "/access/v1/evaluation", timeout=10, json={
        "subject": {"type": "Agent", "id": AGENT},
        "action": {"name": "pay"},
        "resource": {"type": "Invoice", "id": "inv-1"},
        "context": {"arguments": {"card_number": CARD, "amount": 12,
                                  "password": PASSWORD,
                                  "note": "deploy with " + GH_TOKEN},
                    "prompt": "pay it; my token is " + at}})
    assert r.status_code == 200, r.text
    decision_id = r.json()["context"]["id"]
    # the database file and its WAL, byte for byte
    raw = db_bytes(d)
    # the check can see: ids and event types are there in clear
    for seen in (t1, rid1, rid2, "task.denied", "read_ticket"):
        assert seen.encode() in raw, seen
    for secret in (at, subject, API_KEY, PASSWORD, CONFIGURED, CARD,
                   GH_TOKEN):
        assert secret.encode() not in raw, secret
        # nor a large part of it (a JWT's signature, say)
        assert secret[-16:].encode() not in raw, secret

    # a task's end reason is kept by the task itself (the tasks table, not
    # the log); its record, read through the API, has it redacted
    reason = "cleanup: leaked %s and key %s" % (at, API_KEY)
    r = requests.post(d.url + "/v1/tasks/%s/end" % t1,
                      json={"reason": reason}, timeout=10)
    assert r.status_code == 200, r.text

    # what was recorded, through the API
    ev = all_events(d)
    types = [e["type"] for e in ev]
    for t in ("config.loaded", "policy.loaded", "task.created",
              "token.issued", "token.refused", "task.denied", "task.ended"):
        assert t in types, types
    denied = {e["request_id"]: e for e in ev if e["type"] == "task.denied"}
    f2, f3 = denied[rid2]["fields"], denied[rid3]["fields"]
    # equal values, equal HMACs: the two can be matched
    assert f2["intents"][0].startswith("hmac:")
    assert f2["intents"][0] == f3["intents"][0]
    assert f2["intents"][1] == "read_ticket"
    assert f2["objective"].startswith("use hmac:")
    assert " with key hmac:" in f2["objective"]
    assert "and password=hmac:" in f2["objective"]
    dec = [e for e in ev if e["type"] == "decision"
           and e["fields"]["decision_id"] == decision_id][0]["fields"]
    assert dec["arguments"]["amount"] == 12
    assert dec["arguments"]["card_number"].startswith("hmac:")
    assert dec["arguments"]["password"].startswith("hmac:")
    assert dec["arguments"]["note"].startswith("deploy with hmac:")
    assert dec["prompt"].startswith("pay it; my token is hmac:")
    # every record names the policy set's version
    hashes = {e["fields"].get("policy_hash") for e in ev}
    assert len(hashes) == 1 and len(hashes.pop()) == 64
    ended = [e for e in ev if e["type"] == "task.ended"][0]
    assert ended["fields"]["reason"].startswith("cleanup: leaked hmac:")
    assert " and key hmac:" in ended["fields"]["reason"]

    # the export carries no secret either
    r = mandate("audit", "export", "--since", "0", "--server", d.url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(ev)
    assert [json.loads(x)["id"] for x in lines] == [e["id"] for e in ev]
    for secret in (at, subject, API_KEY, PASSWORD, CONFIGURED, CARD,
                   GH_TOKEN):
        assert secret not in r.stdout
        assert secret[-16:] not in r.stdout


def test_tasks_keep_no_secret_in_clear(start_daemon):
    """What a task keeps outside the log (its objective, its end reason, a
    kill switch's reason) is kept as the log keeps it: an API key, a token
    or a password pasted into it is replaced by its HMAC before it is
    stored, so the database file holds none of them in clear."""
    d = start_daemon(CONFIG)
    subject = svid(d)
    t0, _ = create_task(d, "triage")
    at = exchange(d, subject, t0).json()["access_token"]
    objective = "triage with key %s, token %s and password=%s" % (API_KEY, at, PASSWORD)
    t1, _ = create_task(d, objective)
    r = requests.get(d.url + "/v1/tasks/%s" % t1, timeout=10)
    assert r.status_code == 200, r.text
    kept = r.json()["objective"]
    assert kept.startswith("triage with key hmac:"), kept
    assert "password=hmac:" in kept and at not in kept and API_KEY not in kept
    # the record says the same
    rec = [e for e in all_events(d, type="task.created") if e["task_id"] == t1]
    assert rec[0]["fields"]["objective"] == kept
    # an end reason and a kill switch's reason
    r = requests.post(d.url + "/v1/tasks/%s/end" % t1, timeout=10,
                      json={"reason": "leaked " + GH_TOKEN})
    assert r.status_code == 200, r.text
    assert r.json()["reason"].startswith("leaked hmac:"), r.text
    r = requests.post(d.url + "/v1/agents/%s/revoke" % requests.utils.quote(AGENT, safe=""),
                      timeout=10, json={"reason": "key " + API_KEY + " stolen"})
    assert r.status_code == 200, r.text
    assert r.json()["reason"].startswith("key hmac:"), r.text
    raw = db_bytes(d)
    for secret in (at, API_KEY, PASSWORD, GH_TOKEN):
        assert secret.encode() not in raw, secret
        assert secret[-16:].encode() not in raw, secret
    # a plain objective is kept as it was given
    r = requests.get(d.url + "/v1/tasks/%s" % t0, timeout=10)
    assert r.json()["objective"] == "triage"


# the same answers whether the filters' columns have indexes (audit.indexes)
# or not
@pytest.mark.parametrize("indexes", [[], ["agent", "task", "type"]])
def test_query_filters_paging_and_cli(start_daemon, tmp_path, indexes):
    d = start_daemon(CONFIG + "  indexes: [%s]\n" % ", ".join(indexes))
    for name in ("agent", "task", "type"):
        built = "building the audit log's index on %s" % name in d.log_text()
        assert built == (name in indexes), d.log_text()
    ids = [create_task(d, "t%d" % i)[0] for i in range(5)]
    other, _ = create_task(d, "other", agent="spiffe://dev.local/agents/b")
    r = requests.get(d.url + "/v1/audit", params={
        "type": "task.created", "agent": AGENT, "limit": 2}, timeout=10)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["task_id"] for e in page["events"]] == ids[:2]
    assert page["next"] == page["events"][-1]["id"]
    got = all_events(d, type="task.created", agent=AGENT)
    assert [e["task_id"] for e in got] == ids
    assert [e["task_id"] for e in all_events(d, task=other)] == [other]
    # newest first
    r = requests.get(d.url + "/v1/audit", params={"order": "desc", "limit": 1},
                     timeout=10)
    newest = r.json()["events"][0]
    assert newest["task_id"] == other
    # time window (RFC 3339 and seconds)
    now = int(time.time())
    assert all_events(d, **{"from": now + 3600}) == []
    assert len(all_events(d, **{"from": "2020-01-01T00:00:00Z",
                               "to": now + 60})) >= 6
    # bad input: 400, nothing else
    for q in ({"limit": 0}, {"limit": 1001}, {"from": "yesterday"},
              {"after": "-1"}, {"order": "sideways"},
              {"from": 10, "to": 5}, {"order": "desc", "after": 3},
              {"order": "desc", "after": 0}, {"after": "9223372036854775808"},
              # one value each: a repeated parameter is not taken silently
              [("type", "decision"), ("type", "task.created")],
              [("limit", 1), ("limit", 5)]):
        r = requests.get(d.url + "/v1/audit", params=q, timeout=10)
        assert r.status_code == 400, (q, r.text)
        assert r.json()["error"] == "invalid_request"
    # a parameter the endpoint does not know is refused, not ignored: a
    # misspelt filter (the record's column task_id for the parameter
    # task) would otherwise answer every record as if it had matched
    for name in ("task_id", "agnet", "since"):
        r = requests.get(d.url + "/v1/audit", params={name: other},
                         timeout=10)
        assert r.status_code == 400, (name, r.text)
        assert r.json()["error"] == "invalid_request"
        assert "unknown parameter %s" % name in r.text, r.text
    # any record id is an id; to=0 is a time no record has
    r = requests.get(d.url + "/v1/audit", timeout=10,
                     params={"after": "9223372036854775806"})
    assert r.status_code == 200 and r.json()["events"] == [], r.text
    r = requests.get(d.url + "/v1/audit", params={"to": 0}, timeout=10)
    assert r.status_code == 200 and r.json() == {"events": [], "next": None}
    for q in ([("index", 0), ("index", 1), ("size", 2)],
              [("from", 1), ("from", 2), ("to", 3)]):
        path = "inclusion" if q[0][0] == "index" else "consistency"
        r = requests.get(d.url + "/v1/audit/proof/" + path, params=q, timeout=10)
        assert r.status_code == 400 and "more than once" in r.text, (q, r.text)

    # tail: the last N, oldest first
    r = mandate("audit", "tail", "-n", "3", "--server", d.url)
    assert r.returncode == 0, r.stderr
    tail = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(tail) == 3 and tail[-1]["id"] == newest["id"]
    assert tail[0]["id"] < tail[1]["id"] < tail[2]["id"]
    # tail --follow prints what is appended later
    p = subprocess.Popen([BIN, "audit", "tail", "-n", "1", "--follow",
                          "--type", "task.created", "--server", d.url],
                         stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["task_id"] == other
        late, _ = create_task(d, "late")
        line = p.stdout.readline()
        assert json.loads(line)["task_id"] == late
    finally:
        p.terminate()
        p.wait(timeout=10)
    # export to a file, filtered; the file is private and not overwritten
    out = tmp_path / "export.jsonl"
    r = mandate("audit", "export", "--type", "task.created", "--output",
                str(out), "--server", d.url)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["task_id"] for x in rows] == ids + [other, late]
    assert os.stat(out).st_mode & 0o777 == 0o600
    r = mandate("audit", "export", "--output", str(out), "--server", d.url)
    assert r.returncode == 1
    r = mandate("audit", "export", "--format", "csv", "--server", d.url)
    assert r.returncode == 1 and "jsonl" in r.stderr
    for sub in ("tail", "export"):
        r = mandate("audit", sub, "--help")
        assert r.returncode == 0 and "usage: mandate audit " + sub in r.stdout


def test_tail_follow_keeps_up(start_daemon):
    """--follow polls every --interval, but after a full page it asks
    again at once: a burst of records larger than a page an interval is
    printed within a poll or two, not a page per interval."""
    d = start_daemon(CONFIG)
    body = {"subject": {"type": "User", "id": "u"},
            "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "d"}}
    r = requests.post(d.url + "/access/v1/evaluation", json=body, timeout=30)
    assert r.status_code == 200, r.text
    p = subprocess.Popen([BIN, "audit", "tail", "-n", "1", "--follow",
                          "--interval", "2", "--type", "decision",
                          "--server", d.url],
                         stdout=subprocess.PIPE, text=True)
    try:
        # the last record first: from here on, tail follows
        assert json.loads(p.stdout.readline())["type"] == "decision"
        body["evaluations"] = [{}] * 256
        for _ in range(10):
            r = requests.post(d.url + "/access/v1/evaluations", json=body,
                              timeout=30)
            assert r.status_code == 200, r.text
        t0 = time.monotonic()
        got = 0
        while got < 2560:
            line = p.stdout.readline()
            assert line, "tail --follow ended"
            got += json.loads(line)["type"] == "decision"
        # the burst was there by the first poll: three pages at once
        # (a page every 2 s would take at least 4 s more)
        assert time.monotonic() - t0 < 3.5
    finally:
        p.terminate()
        p.wait(timeout=10)
    assert d.stop() == 0


def test_query_needs_permission(start_daemon, tmp_path):
    # a configured instance whose policies do not allow mandate:read_audit
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Action::"other", resource);\n')
    d = start_daemon(CONFIG.replace("audit:\n", "policies:\n  platform: "
                                    "[@DIR@/p.cedar]\naudit:\n"))
    r = requests.get(d.url + "/v1/audit", timeout=10)
    assert r.status_code == 403, r.text
    r = mandate("audit", "tail", "--server", d.url)
    assert r.returncode == 1 and "403" in r.stderr


def test_readyz_follows_the_log(start_daemon):
    d = start_daemon(CONFIG)
    create_task(d)
    db = os.path.join(d.workdir, "mandate-data", "mandate.db")
    con = sqlite3.connect(db, timeout=1, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        r = requests.post(d.url + "/v1/tasks", json={
            "agent": AGENT, "objective": "locked out",
            "intents": [{"action": "read_ticket"}]}, timeout=30)
        assert r.status_code == 500, r.text         # fail closed
        # not ready, and said soon: a probe does not hold a server
        # thread for the store's busy timeout (5 s) per check
        t0 = time.monotonic()
        r = requests.get(d.url + "/readyz", timeout=30)
        assert r.status_code == 503, r.text
        assert "store" in r.json()["failing"], r.text
        assert time.monotonic() - t0 < 2.0
    finally:
        con.execute("ROLLBACK")
        con.close()
    r = requests.get(d.url + "/readyz", timeout=30)
    assert r.status_code == 200, r.text
    create_task(d, "after the lock")
    # the refused task left no record; the two that were made did
    assert len(all_events(d, type="task.created")) == 2


def decisions_counted(d):
    # mandate_decisions_total{api="authzen",...} as {"allow": n, "deny": n}
    out = {"allow": 0, "deny": 0}
    for line in requests.get(d.url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("mandate_decisions_total{") and \
                '"authzen"' in line:
            for k in out:
                if '"%s"' % k in line:
                    out[k] = int(line.rsplit(" ", 1)[1])
    return out


def test_held_answers_fail_closed(start_daemon, tmp_path):
    # an evaluation's decision record and a token's issuance are written
    # by the log's writer while the worker goes on; when they cannot be,
    # the answer held for them becomes a deny and a server_error
    (tmp_path / "plain.cedar").write_text(
        '@id("test-plain-reads")\n'
        'permit (principal, action == Action::"read_ticket", resource);\n')
    (tmp_path / "agents.json").write_text(json.dumps(
        [{"uid": {"type": "Agent", "id": AGENT}, "attrs": {},
          "parents": []}]))
    d = start_daemon(CONFIG.replace("audit:\n", "policies:\n  platform: [" +
                                    os.path.join(ROOT, "examples", "policies")
                                    + ", @DIR@/plain.cedar]\n  entities: "
                                    "[@DIR@/agents.json]\naudit:\n"))
    task, _ = create_task(d)
    subject = svid(d)
    ev = {"subject": {"type": "Agent", "id": AGENT},
          "action": {"name": "read_ticket"},
          "resource": {"type": "Tool", "id": "tickets"}}
    r = requests.post(d.url + "/access/v1/evaluation", json=ev, timeout=30)
    assert r.status_code == 200 and r.json()["decision"] is True, r.text
    r = requests.post(d.url + "/access/v1/evaluations", json={
        "evaluations": [ev, ev]}, timeout=30)
    assert r.status_code == 200, r.text
    assert [x["decision"] for x in r.json()["evaluations"]] == [True, True]
    search = {"subject": {"type": "Agent"}, "action": ev["action"],
              "resource": ev["resource"]}
    r = requests.post(d.url + "/access/v1/search/subject", json=search,
                      timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [ev["subject"]], r.text
    r = exchange(d, subject, task)
    assert r.status_code == 200, r.text
    # a task-bound call: its decision and record are one held write
    bound = dict(ev, context={"mandate": {"token": r.json()["access_token"]}})
    r = requests.post(d.url + "/access/v1/evaluation", json=bound, timeout=30)
    assert r.status_code == 200 and r.json()["decision"] is True, r.text
    db = os.path.join(d.workdir, "mandate-data", "mandate.db")
    before = decisions_counted(d)
    assert before["allow"] >= 4, before
    con = sqlite3.connect(db, timeout=1, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        # a deny, with the decision's id only (its record is what failed)
        r = requests.post(d.url + "/access/v1/evaluation", json=ev,
                          timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["decision"] is False, r.text
        assert list(r.json()["context"]) == ["id"], r.text
        assert r.json()["context"]["id"], r.text
        r = requests.post(d.url + "/access/v1/evaluation", json=bound,
                          timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["decision"] is False, r.text
        assert list(r.json()["context"]) == ["id"], r.text
        # a batch: every item a deny; a search: an error
        r = requests.post(d.url + "/access/v1/evaluations", json={
            "evaluations": [ev, ev, ev]}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"evaluations": [{"decision": False}] * 3}
        r = requests.post(d.url + "/access/v1/search/subject",
                          json=search, timeout=30)
        assert r.status_code == 500, r.text
        r = requests.post(d.url + "/oauth2/token", data={
            "grant_type": EXCHANGE, "subject_token": subject,
            "subject_token_type": JWT_TYPE,
            "authorization_details": json.dumps(
                [{"type": "mandate_task", "task_id": task}])}, timeout=30)
        assert r.status_code == 500, r.text
        assert r.json()["error"] == "server_error"
        assert "access_token" not in r.text
        # the metric counts what was answered: five denies (the single
        # evaluation, the task-bound one, the batch's three), no permit,
        # and no decision for the search that answered none
        assert decisions_counted(d) == {"allow": before["allow"],
                                        "deny": before["deny"] + 5}
    finally:
        con.execute("ROLLBACK")
        con.close()
    r = requests.get(d.url + "/readyz", timeout=30)
    assert r.status_code == 200, r.text
    # nothing of the refused issuance was stored: one credential only
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM credentials"
                           ).fetchone()[0] == 1
    finally:
        con.close()
    issued = all_events(d, type="token.issued")
    assert len(issued) == 1
    # (its token.refused record could not be written either: the log)
    assert "could not be written" in d.log_text()
    r = exchange(d, subject, task)
    assert r.status_code == 200, r.text
    # the locked-out call used no budget: one call counted, and recorded
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1
    finally:
        con.close()
    r = requests.get(d.url + "/v1/tasks/" + task, timeout=10)
    assert r.status_code == 200 and r.json()["calls_used"] == 1, r.text


def test_async_mode_and_config_changes(start_daemon):
    cfg = CONFIG + "logging:\n  audit: async\n  level: warn\n"
    d = start_daemon(cfg)
    assert "logging.audit is async" in d.log_text()
    made = [create_task(d, "async %d" % i)[0] for i in range(20)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = [e["task_id"] for e in all_events(d, type="task.created")]
        if got == made:
            break
        time.sleep(0.05)
    assert got == made
    first = all_events(d, type="config.loaded")
    assert len(first) == 1 and first[0]["fields"]["audit_mode"] == "async"
    assert first[0]["fields"]["changed"] is True
    assert d.stop() == 0                 # a clean stop drains the queue
    again = start_daemon(CONFIG)         # sync, another port: a change
    loaded = all_events(again, type="config.loaded")
    assert len(loaded) == 2
    now = loaded[1]["fields"]
    assert now["previous_config_hash"] == first[0]["fields"]["config_hash"]
    assert now["changed"] is True and now["audit_mode"] == "sync"
    assert len(all_events(again, type="task.created")) == 20


ERRORING = """
@id("loopback-hosts")
permit (principal, action == Action::"net_call", resource)
when { ip(context.arguments.host).isLoopback() };

@id("small-amounts")
permit (principal, action == Action::"pay", resource)
when { context.arguments.amount.lessThan(decimal("100.00")) };
"""


def test_error_messages_do_not_echo_hidden_values(start_daemon, tmp_path):
    """A policy error quotes the value that failed (`ip: invalid IP address
    "<value>"`).  The enforcement point, which sent it, gets the message
    whole; the audit record and the daemon's log keep the HMAC of a value
    the caller sent instead, as the redaction does for the value itself
    (here a configured path's, secret by its place alone), and a request
    that could not be read is logged without its text."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "p.cedar").write_text(ERRORING)
    cfg = CONFIG.replace("dev:\n  enabled: true\n", "").replace(
        '["intents.0", "arguments.card_number"]', '["arguments.host", "arguments.amount"]'
    ) + "policies:\n  platform: [%s]\nlogging:\n  level: info\n" % (tmp_path / "p")
    d = start_daemon(cfg)
    host, amount = "vpnpass-hunter2", "no-decimal-Zq81"
    for action, args, needle in (("net_call", {"host": host}, host),
                                 ("pay", {"amount": {"__extn": {"fn": "decimal",
                                                                "arg": amount}}}, amount)):
        r = requests.post(d.url + "/access/v1/evaluation", timeout=10, json={
            "subject": {"type": "Agent", "id": AGENT}, "action": {"name": action},
            "resource": {"type": "Host", "id": "h"}, "context": {"arguments": args}})
        assert r.status_code in (200, 400), r.text
        assert needle in r.text            # the PEP's own value comes back to it
    # a context that cannot be read at all, a NUL in a secret
    r = requests.post(d.url + "/access/v1/evaluation", timeout=10, data=json.dumps({
        "subject": {"type": "Agent", "id": AGENT}, "action": {"name": "net_call"},
        "resource": {"type": "Host", "id": "h"},
        "context": {"arguments": {"password": "Nul\u0000BtPw9"}}}),
        headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    # the access log: a secret as the request id, a token in a path
    r = requests.get(d.url + "/v1/tasks/" + GH_TOKEN, timeout=10,
                     headers={"X-Request-ID": "Bearer " + API_KEY})
    assert r.status_code in (401, 404), r.text
    assert d.stop() == 0, d.log_text()
    raw = db_bytes(d)
    log = d.log_text()
    assert '"path":"/v1/tasks/hmac:' in log, log
    for secret in (host, amount, "BtPw9", GH_TOKEN, API_KEY):
        assert secret.encode() not in raw, secret
        assert secret not in log, (secret, log)
    # the record still says which policy failed and how
    db = sqlite3.connect(os.path.join(d.workdir, "mandate-data", "mandate.db"))
    recs = [json.loads(f) for f, in db.execute(
        "SELECT fields_json FROM audit_events WHERE type = 'decision'")]
    db.close()
    errs = [e for rec in recs for e in rec.get("errors", [])]
    ip_err = [e for e in errs if e.get("policy") == "loopback-hosts"]
    assert ip_err and "invalid IP address \"hmac:" in ip_err[0]["message"], errs
    assert "policy loopback-hosts: ip: invalid IP address \"hmac:" in log
