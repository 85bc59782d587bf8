"""End-to-end tests of `mandate serve`: the real daemon over HTTP.

Run by meson (suite "e2e") with MANDATE_BIN set:
    MANDATE_BIN=build/src/mandate /usr/bin/python3 -m pytest tests/e2e -q
"""
import json
import os
import resource
import signal
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import BIN, ROOT
from conftest import free_port as conftest_free_port

AGENT = "spiffe://dev.local/agents/triage"
JSON = {"Content-Type": "application/json"}


def task_body(**kw):
    body = {"agent": AGENT, "objective": "triage the support queue",
            "intents": [{"action": "read_ticket", "resource": 'Tool::"tickets"'},
                        {"action": "send_email",
                         "constraints": {"to": "*@acme.example"}}]}
    body.update(kw)
    return body


def create(d, **kw):
    return requests.post(d.url + "/v1/tasks", json=task_body(**kw), timeout=5)


def agent_path(agent):
    return urllib.parse.quote(agent, safe="")


# ---- health, readiness, metrics ----

def test_healthz_readyz_metrics(dev):
    assert requests.get(dev.url + "/healthz", timeout=5).status_code == 200
    r = requests.get(dev.url + "/readyz", timeout=5)
    assert r.status_code == 200
    create(dev)
    r = requests.get(dev.url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE mandate_tasks_total counter" in r.text
    assert 'mandate_tasks_total{event="created"} 1' in r.text
    assert 'decision="allow"' in r.text


def test_startup_line(dev):
    log = dev.log_text()
    assert "listening on http://127.0.0.1:%d" % dev.port in log
    assert "development instance" in log
    assert "open to callers on loopback" in log
    assert "data dir ./mandate-data" in log
    st = os.stat(os.path.join(dev.workdir, "mandate-data"))
    assert st.st_mode & 0o777 == 0o700


# ---- tasks: happy paths ----

def test_create_get_end(dev):
    r = create(dev, ttl=120, call_budget=5, sensitivity="internal")
    assert r.status_code == 201, r.text
    t = r.json()
    assert len(t["id"]) == 32
    assert r.headers["Location"] == "/v1/tasks/" + t["id"]
    assert t["agent"] == AGENT
    assert t["delegator"] == "dev:loopback"
    assert t["state"] == "active"
    assert t["expires_at"] - t["created_at"] == 120 + 1
    assert t["call_budget"] == 5 and t["calls_used"] == 0
    assert t["sensitivity"] == "internal"
    assert t["intents"][1] == {"action": "send_email",
                               "constraints": {"to": "*@acme.example"}}

    g = requests.get(dev.url + "/v1/tasks/" + t["id"], timeout=5)
    assert g.status_code == 200 and g.json() == t

    e = requests.post(dev.url + "/v1/tasks/%s/end" % t["id"],
                      json={"reason": "done"}, timeout=5)
    assert e.status_code == 200
    assert e.json()["state"] == "ended" and e.json()["reason"] == "done"
    # idempotent: the first reason stays
    e2 = requests.post(dev.url + "/v1/tasks/%s/end" % t["id"], timeout=5)
    assert e2.status_code == 200 and e2.json()["reason"] == "done"
    assert requests.get(dev.url + "/v1/tasks/" + t["id"],
                        timeout=5).json()["state"] == "ended"


def wait_expired(d, task_id, timeout=10.0):
    """The task as GET answers once the server says it expired."""
    deadline = time.monotonic() + timeout
    while True:
        t = requests.get(d.url + "/v1/tasks/" + task_id, timeout=5).json()
        if t["state"] == "expired" or time.monotonic() > deadline:
            return t
        time.sleep(0.1)


def test_end_an_expired_task_changes_nothing(dev):
    # docs/api.md: ending an expired task is 200 and returns it unchanged;
    # it is over already, so nothing is recorded or counted either
    t = create(dev, ttl=1).json()
    before = wait_expired(dev, t["id"])
    assert before["state"] == "expired"
    assert "ended_at" not in before and "reason" not in before
    e = requests.post(dev.url + "/v1/tasks/%s/end" % t["id"],
                      json={"reason": "cleanup"}, timeout=5)
    assert e.status_code == 200, e.text
    assert e.json() == before
    assert requests.get(dev.url + "/v1/tasks/" + t["id"],
                        timeout=5).json() == before
    r = requests.get(dev.url + "/v1/audit", params={"task": t["id"]},
                     timeout=5)
    assert r.status_code == 200, r.text
    assert [x["type"] for x in r.json()["events"]] == ["task.created"]
    m = requests.get(dev.url + "/metrics", timeout=5).text
    assert 'mandate_tasks_total{event="ended"}' not in m


def test_task_lives_at_least_its_ttl(dev):
    # created_at is the creation time rounded down, so the task was made
    # at some instant before created_at + 1: it must not expire before
    # that instant + ttl (it used to expire at created_at + ttl, and a
    # task with ttl 1 made late in a second could be dead on arrival)
    for ttl in (1, 2, 60):
        before = time.time()
        r = create(dev, ttl=ttl)
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["expires_at"] >= t["created_at"] + 1 + ttl
        assert t["expires_at"] - t["created_at"] == ttl + 1
        # the same on the client's clock (this host's): made after before
        assert t["expires_at"] >= before + ttl
        assert t["state"] == "active"


def test_defaults(dev):
    t = create(dev).json()
    assert t["expires_at"] - t["created_at"] == 15 * 60 + 1
    assert t["call_budget"] is None          # unlimited by default
    assert t["sensitivity"] == "public"      # the lowest ceiling


def test_ttl_is_capped(dev):
    t = create(dev, ttl=10 ** 9 // 2).json()
    assert t["expires_at"] - t["created_at"] == 8 * 3600 + 1


def test_kill_switch(dev):
    a = create(dev).json()
    b = create(dev).json()
    requests.post(dev.url + "/v1/tasks/%s/end" % b["id"], timeout=5)
    r = requests.post(dev.url + "/v1/agents/%s/revoke" % agent_path(AGENT),
                      json={"reason": "compromised"}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["agent"] == AGENT
    assert r.json()["tasks_revoked"] == 1
    t = requests.get(dev.url + "/v1/tasks/" + a["id"], timeout=5).json()
    assert t["state"] == "revoked"


# ---- errors ----

@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b'{"agent": 1}', b'{"a":1,"a":2}',
    b'{"agent":"spiffe://dev.local/a","objective":"x","intents":[{"action":"r"}],"extra":1}',
])
def test_malformed_json(dev, body):
    r = requests.post(dev.url + "/v1/tasks", data=body, headers=JSON, timeout=5)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("change", [
    {"agent": ""}, {"agent": "spiffe://dev.local"}, {"agent": "spiffe://Dev/x"},
    {"agent": "spiffe://dev.local/a/../b"}, {"agent": "bad\nsubject"},
    {"objective": ""}, {"objective": "x" * 5000}, {"objective": None},
    {"intents": []}, {"intents": "read"}, {"intents": [{}]},
    {"intents": [{"action": "a b"}]}, {"intents": [{"action": "r", "x": 1}]},
    {"intents": [{"action": "r", "constraints": []}]},
    {"intents": [{"action": "r"}] * 65},
    # a resource is compared as Cedar prints it, and a null argument
    # never reaches the policies: either would silently never match
    {"intents": [{"action": "r", "resource": "Mailbox::team"}]},
    {"intents": [{"action": "r", "resource": "mailbox"}]},
    {"intents": [{"action": "r", "resource": 'Mailbox :: "team"'}]},
    {"intents": [{"action": "r", "constraints": {"to": None}}]},
    {"intents": [{"action": "r", "constraints": {"to": ["a", None]}}]},
    {"sensitivity": "secret"}, {"ttl": 0}, {"ttl": -5}, {"ttl": "15m"},
    {"call_budget": 0}, {"call_budget": 1.5},
    # control characters: a lone CR, C1 controls (U+0080-U+009F)
    {"objective": "a\rb"}, {"objective": "ab\r"}, {"objective": "a\u0085b"},
    {"objective": "a\u009bb"}, {"agent": "user\u0085x"},
    {"intents": [{"action": "r", "resource": 'Tool::"R\u0080"'}]},
    # bidirectional overrides, embeddings and isolates: an objective that
    # shows one thing to the person who approves and says another
    {"objective": "pay \u202eecivni\u202c"}, {"objective": "a\u202ab"},
    {"objective": "x\u2066y\u2069"}, {"objective": "\u2068z"},
])
def test_bad_fields(dev, change):
    r = create(dev, **change)
    assert r.status_code == 400, (change, r.text)
    assert r.json()["error"] == "invalid_request"
    assert r.json()["error_description"]


def test_intents_past_the_store_bound(dev):
    # each intent's constraints are under 16 KiB, but 17 of them do not
    # fit the 256 KiB the store keeps for a task's intents: a 400 that
    # names the field, before the policies are asked (so nothing is
    # decided or recorded), not a bare one after they permitted
    con = {"k": "v" * 16000}
    intents = [{"action": "a%02d" % i, "constraints": con} for i in range(17)]
    r = create(dev, intents=intents)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert "intents is too large" in r.json()["error_description"]
    m = requests.get(dev.url + "/metrics", timeout=5).text
    assert 'action="mandate:create_task"' not in m
    ev = requests.get(dev.url + "/v1/audit", timeout=5).json()["events"]
    assert not [e for e in ev if e["type"].startswith("task.")]
    r = create(dev, intents=intents[:16])
    assert r.status_code == 201, r.text
    assert r.json()["intents"] == intents[:16]


def test_objective_line_ends(dev):
    # tabs and line ends, LF or CR LF, are the control characters an
    # objective may have; U+00A0 and the like are text
    for objective in ("step 1\r\nstep 2\r\n", "a\n\tb", "a\u00a0b\u00ff",
                      # the directional marks reorder nothing
                      "\u05e9\u05dc\u05d5\u05dd\u200f 1", "a\u200eb\u061c",
                      # neighbours of the refused ranges
                      "\u2029\u202f\u2065\u206a"):
        r = create(dev, objective=objective)
        assert r.status_code == 201, (objective, r.text)
        assert r.json()["objective"] == objective


def test_wrong_content_type(dev):
    r = requests.post(dev.url + "/v1/tasks", data="agent=x",
                      headers={"Content-Type": "text/plain"}, timeout=5)
    assert r.status_code == 415


def test_limits_and_methods(dev):
    big = b'{"agent":"' + b"a" * (2 << 20) + b'"}'
    r = requests.post(dev.url + "/v1/tasks", data=big, headers=JSON, timeout=10)
    assert r.status_code == 413
    r = requests.post(dev.url + "/v1/tasks/" + "0" * 32, timeout=5)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    # a method the daemon has nowhere: not implemented (RFC 9110 9.1)
    r = requests.delete(dev.url + "/v1/tasks/" + "0" * 32, timeout=5)
    assert r.status_code == 501 and r.json()["error"] == "not_implemented"
    r = requests.post(dev.url + "/v1/agents/a%00b/revoke", timeout=5)
    assert r.status_code == 400


def header_status(d, size):
    """Status of a GET /healthz carrying one header of size bytes."""
    r = requests.get(d.url + "/healthz", headers={"X-Pad": "p" * size},
                     timeout=5)
    return r.status_code


def test_header_limit(dev):
    # the default server.connection_memory (16 KiB) takes headers of a
    # few KiB, such as a long bearer token, and refuses more with 431;
    # the connection's memory is clean for the next request
    assert header_status(dev, 10000) == 200
    assert header_status(dev, 20000) == 431
    assert header_status(dev, 100) == 200


def test_target_longer_than_the_buffer_is_414(dev):
    # a request line that does not fit the connection's memory is a
    # target too long (RFC 9112 3), not header fields too large; the
    # fields after a long but fitting line are still 431
    r = requests.get(dev.url + "/healthz?" + "q" * 20000, timeout=5)
    assert r.status_code == 414
    r = requests.get(dev.url + "/healthz?" + "q" * 5000,
                     headers={"X-Pad": "p" * 15000}, timeout=5)
    assert r.status_code == 431
    assert header_status(dev, 100) == 200


def test_header_limit_configured(start_daemon, tmp_path):
    d = start_daemon("server:\n  listen: 127.0.0.1:@PORT@\n"
                     "  connection_memory: 64KiB\n"
                     "data_dir: @DIR@/data\n")
    assert header_status(d, 40000) == 200
    assert header_status(d, 70000) == 431


def soft_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open files limit for %d" % pid)


def serve_with_nofile(tmp_path, soft, hard):
    """Start the daemon with these open-files limits; its soft limit once
    it listens, and its log."""
    port = conftest_free_port()
    log = tmp_path / ("nofile-%d-%d.log" % (soft, hard))

    def limits():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with open(log, "w") as out:
        p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % port],
                             cwd=str(tmp_path), stdout=out,
                             stderr=subprocess.STDOUT, preexec_fn=limits)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get("http://127.0.0.1:%d/readyz" % port,
                                timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError("not ready:\n" + log.read_text())
        got = soft_nofile(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0, log.read_text()
    return got, log.read_text()


def test_sighup_during_start_up_is_a_reload(tmp_path):
    """A SIGHUP before the daemon is up (a certificate helper's) must not
    end it (SIGHUP's default action): it is kept, and is a reload once
    the daemon runs."""
    # (from the command's first instruction: a signal before the
    # program runs at all is the system's, so the signal is sent once
    # the program runs, when /proc says SIGHUP is caught or the first
    # log line is out (the start-up's first step: without the early
    # handler a SIGHUP then still ended it), and then after each delay
    # into the start-up; a fixed delay from the fork raced a loaded
    # machine's exec and dynamic linking)
    def hup_caught(pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1))
        return False

    for delay in (0, 0.03, 0.1, 0.3):
        port = conftest_free_port()
        log = tmp_path / ("hup-%s.log" % delay)
        with open(log, "w") as out:
            p = subprocess.Popen([BIN, "serve", "--listen",
                                  "127.0.0.1:%d" % port], cwd=str(tmp_path),
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while not hup_caught(p.pid) and log.stat().st_size == 0:
                assert p.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "SIGHUP never caught"
                time.sleep(0.001)
            time.sleep(delay)
            p.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    if requests.get("http://127.0.0.1:%d/readyz" % port,
                                    timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.05)
            assert p.poll() is None, (delay, p.returncode, log.read_text())
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=15)
        assert rc == 0, (delay, rc, log.read_text())


def test_open_files_limit(tmp_path):
    # a low soft limit is raised to the hard one
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard > 1048576:
        hard = 1048576
    if hard < 2048:
        pytest.skip("hard open-files limit %d is too low to test" % hard)
    got, text = serve_with_nofile(tmp_path, 256, hard)
    assert got == hard, text
    assert "open files: the limit is" not in text
    # a hard limit below what the server may take: raised, and said
    got, text = serve_with_nofile(tmp_path, 256, 512)
    assert got == 512, text
    assert "open files: the limit is 512" in text, text


@pytest.mark.parametrize("limits", ["max_connections: 2",
                                    "max_connections: 50\n  max_per_ip: 2"])
def test_connection_limits(start_daemon, limits):
    """server.max_connections and server.max_per_ip: the third connection
    from here is closed at once, and a place given back is taken again."""
    import socket
    d = start_daemon("server:\n  listen: 127.0.0.1:@PORT@\n  " + limits +
                     "\ndata_dir: @DIR@/data\n")

    def conn():
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return s

    def answered(s):
        try:
            return s.recv(4096).startswith(b"HTTP/1.1 200")
        except (ConnectionError, socket.timeout):
            return False
    time.sleep(0.2)             # the readiness check's connection is gone
    a = conn()
    assert answered(a)
    b = conn()
    assert answered(b)
    c = conn()                  # a third from 127.0.0.1: closed
    assert not answered(c)
    c.close()
    b.close()
    time.sleep(0.2)
    c = conn()                  # b's place is free again
    assert answered(c)
    a.close()
    c.close()


@pytest.mark.parametrize("head", [b"GET /healthz HTTP/1.1\r\nHost: x\rY",
                                  b"GET /healthz HTTP/1.1\r\nHost: x\nY"])
def test_bare_cr_or_lf_is_answered_at_once(dev, head):
    """A CR or a LF alone can never be part of a head: the client gets its
    400 as soon as the byte after it arrives, not when the head would
    end (it never would) or the slow-head limit runs out."""
    import socket
    with socket.create_connection(("127.0.0.1", dev.port), timeout=5) as s:
        s.sendall(head)
        t0 = time.monotonic()
        got = b""
        while b"\r\n\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
        assert got.startswith(b"HTTP/1.1 400 "), got[:200]
        assert time.monotonic() - t0 < 2


def raw_exchange(d, data):
    """Send data on a new connection; everything the daemon sends back
    until it closes the connection."""
    import socket
    got = b""
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(data)
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    return got


@pytest.mark.parametrize("length", [b"99999999999999999999",
                                    b"18446744073709551616", b"67108865"])
def test_content_length_past_the_limit_is_413(dev, length):
    """A Content-Length past the body limit is 413 and the connection
    closes, however large the numeral (RFC 9110 8.6: no overflow)."""
    got = raw_exchange(dev, b"POST /access/v1/evaluation HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: " + length + b"\r\n\r\n{}")
    assert got.startswith(b"HTTP/1.1 413 "), got[:200]
    assert b"Connection: close\r\n" in got, got[:300]


def test_chunked_with_an_empty_list_element(dev):
    """Transfer-Encoding "chunked," is chunked (RFC 9110 5.6.1)."""
    got = raw_exchange(dev, b"POST /access/v1/evaluation HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked,\r\nConnection: close\r\n"
                       b"\r\n2\r\n{}\r\n0\r\n\r\n")
    # the body was read as chunked: the evaluation API judged "{}"
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    assert b"subject" in got, got


def test_unknown_task(dev):
    for tid in ["0" * 32, "nope", "A" * 32]:
        r = requests.get(dev.url + "/v1/tasks/" + tid, timeout=5)
        assert r.status_code == 404
        r = requests.post(dev.url + "/v1/tasks/%s/end" % tid, timeout=5)
        assert r.status_code == 404


def test_dev_policies_deny_other_trust_domains(dev):
    r = create(dev, agent="spiffe://acme.example/agents/triage")
    assert r.status_code == 403
    assert r.json()["error"] == "access_denied"
    r = requests.post(dev.url + "/v1/agents/%s/revoke"
                      % agent_path("spiffe://acme.example/a"), timeout=5)
    assert r.status_code == 403


def test_bearer_token_fails_closed(dev):
    # the development instance trusts no issuer: a presented token fails
    r = requests.post(dev.url + "/v1/tasks", json=task_body(), timeout=5,
                      headers={"Authorization": "Bearer abc"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


# ---- configured instances ----

POLICIES = """
@id("delegate")
permit (principal == Delegator::"dev:loopback",
        action == Action::"mandate:create_task", resource);
@id("no-deletes")
forbid (principal, action == Action::"mandate:create_task", resource)
when { context.intents.contains("delete_everything") };
"""

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
tasks:
  default_ttl: 60s
  max_ttl: 10m
  default_call_budget: 10
  max_call_budget: 100
api_auth:
  open_on_loopback: @OPEN@
logging:
  format: json
"""


def configured(start_daemon, tmp_path, open_on_loopback="true"):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "platform.cedar").write_text(POLICIES)
    return start_daemon(CONFIG.replace("@OPEN@", open_on_loopback))


def test_cedar_deny(start_daemon, tmp_path):
    d = configured(start_daemon, tmp_path)
    ok = create(d, agent="spiffe://acme.example/agents/a")
    assert ok.status_code == 201, ok.text
    t = ok.json()
    assert t["expires_at"] - t["created_at"] == 60 + 1
    assert t["call_budget"] == 10
    r = create(d, intents=[{"action": "read_ticket"},
                           {"action": "delete_everything"}])
    assert r.status_code == 403
    assert r.json() == {"error": "access_denied",
                        "error_description": "the policies do not allow this task"}
    # no policy permits the kill switch here
    r = requests.post(d.url + "/v1/agents/%s/revoke" % agent_path(AGENT), timeout=5)
    assert r.status_code == 403
    # JSON logs, one object per line
    import json
    for line in d.log_text().splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_configured_max_ttl_cuts(start_daemon, tmp_path):
    # docs/configuration.md and api.md: a ttl past tasks.max_ttl (10m
    # here) is cut to it, not refused, and expires_at says so
    d = configured(start_daemon, tmp_path)
    r = create(d, ttl=7200)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["expires_at"] - t["created_at"] == 600 + 1


# ---- the kill switch reaches every agent a task can be created for ----

KILL_POLICIES = """
@id("loopback-delegates-and-kills")
permit (principal == Delegator::"dev:loopback",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent",
                   Action::"mandate:read_audit"],
        resource);
"""

# the longest ids, and those whose percent-encoding is longest: every '/'
# of a SPIFFE ID is %2F in the kill switch's path, every byte of a
# non-ASCII subject three bytes
ODD_AGENTS = {
    "spiffe-600-slashes": "spiffe://acme.test" + "/a" * 600,   # 1218 bytes
    "spiffe-2048-bytes": "spiffe://acme.test" + "/a" * 1015,
    "e-acute-680-bytes": "\u00e9" * 340,
    "e-acute-2048-bytes": "\u00e9" * 1024,
    "ascii-2048-bytes": "a" * 2048,
    "three-dots": "...",
    "encoded-dots": "%2E%2E",
    "reserved-chars": "bot/1?2#3 +4",
}


@pytest.fixture
def killer(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "platform.cedar").write_text(KILL_POLICIES)
    return start_daemon(CONFIG.replace("@OPEN@", "true"))


@pytest.mark.parametrize("agent", ODD_AGENTS.values(), ids=ODD_AGENTS.keys())
def test_kill_switch_reaches_every_agent(killer, agent):
    d = killer
    t = create(d, agent=agent)
    assert t.status_code == 201, t.text
    r = requests.post(d.url + "/v1/agents/%s/revoke" % agent_path(agent),
                      json={"reason": "compromised"}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["agent"] == agent and r.json()["tasks_revoked"] == 1
    g = requests.get(d.url + "/v1/tasks/" + t.json()["id"], timeout=5)
    assert g.json()["state"] == "revoked"
    r = requests.get(d.url + "/v1/audit", params={"type": "agent.revoked"},
                     timeout=5)
    assert [e["agent"] for e in r.json()["events"]] == [agent]
    # with the policies that allowed the switch
    assert r.json()["events"][0]["fields"]["policies"], r.text


@pytest.mark.parametrize("agent", [".", ".."])
def test_dot_agents_are_refused(killer, agent):
    # a "." or ".." path segment is a dot-segment, encoded or not (RFC
    # 3986 6.2.2.2), so the kill switch could never name such an agent:
    # no task is created for it
    r = create(killer, agent=agent)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert "'.' and '..'" in r.json()["error_description"]
    enc = "".join("%%%02X" % ord(c) for c in agent)
    r = requests.post(killer.url + "/v1/agents/%s/revoke" % enc, timeout=5)
    assert r.status_code == 400


def test_c1_agents_refused_at_creation_but_killable(killer):
    # a C1 control (U+0085 here) is refused in a new task's agent, but
    # the kill switch still takes the id: tasks made for such agents by
    # earlier versions must stay revocable
    agent = "user\u0085x"
    r = create(killer, agent=agent)
    assert r.status_code == 400, r.text
    assert "control characters" in r.json()["error_description"]
    r = requests.post(killer.url + "/v1/agents/%s/revoke" % agent_path(agent),
                      timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["agent"] == agent


def test_cli_revoke_reaches_every_agent(killer):
    for name in "spiffe-2048-bytes", "e-acute-2048-bytes", "reserved-chars":
        agent = ODD_AGENTS[name]
        assert create(killer, agent=agent).status_code == 201
        r = cli(killer, "revoke", "--agent", agent, "--reason", "test")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["agent"] == agent
        assert json.loads(r.stdout)["tasks_revoked"] == 1
    r = cli(killer, "revoke", "--agent", "..")
    assert r.returncode == 1 and "not an agent id" in r.stderr


def test_kill_switch_fits_the_least_connection_memory(start_daemon, tmp_path):
    # server.connection_memory's floor, 8 KiB, holds the longest kill
    # switch request line (6 KiB) with a KiB of headers besides
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "platform.cedar").write_text(KILL_POLICIES)
    d = start_daemon(CONFIG.replace("@OPEN@", "true").replace(
        "server:\n", "server:\n  connection_memory: 8KiB\n"))
    agent = ODD_AGENTS["e-acute-2048-bytes"]
    assert create(d, agent=agent).status_code == 201
    r = requests.post(d.url + "/v1/agents/%s/revoke" % agent_path(agent),
                      headers={"X-Pad": "p" * 1024}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["tasks_revoked"] == 1


def test_retention(start_daemon, tmp_path):
    # tasks over for longer than tasks.retention go (with their rows);
    # the audit log keeps their records and says what went
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "platform.cedar").write_text(
        POLICIES + '@id("read-audit")\npermit (principal == Delegator::'
        '"dev:loopback", action == Action::"mandate:read_audit", resource);\n')
    d = start_daemon(CONFIG.replace("@OPEN@", "true").replace(
        "  max_call_budget: 100\n", "  max_call_budget: 100\n  retention: 1s\n"))
    ended = create(d).json()["id"]
    active = create(d).json()["id"]
    r = requests.post(d.url + "/v1/tasks/%s/end" % ended, timeout=5)
    assert r.status_code == 200
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if requests.get(d.url + "/v1/tasks/" + ended,
                        timeout=5).status_code == 404:
            break
        time.sleep(0.2)
    assert requests.get(d.url + "/v1/tasks/" + ended,
                        timeout=5).status_code == 404
    assert requests.get(d.url + "/v1/tasks/" + active,
                        timeout=5).status_code == 200
    r = requests.get(d.url + "/v1/audit", params={"type": "tasks.pruned"},
                     timeout=5)
    assert r.status_code == 200, r.text
    pruned = r.json()["events"]
    assert len(pruned) >= 1 and pruned[0]["fields"]["tasks"] >= 1
    assert pruned[0]["fields"]["before"] <= int(time.time())
    # the pruned task's own records stay in the log
    r = requests.get(d.url + "/v1/audit", params={"task": ended}, timeout=5)
    types = [e["type"] for e in r.json()["events"]]
    assert "task.created" in types and "task.ended" in types
    assert "retention:" in d.log_text()


SCHEMA_POLICY = """
@id("short-public-tasks")
permit (principal == Delegator::"dev:loopback",
        action == Action::"mandate:create_task", resource)
when { context.sensitivity == "public" && context.ttl <= 300 &&
       context.agent.kind == "spiffe" };
"""


def test_schema_validated_policies(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(SCHEMA_POLICY)
    schema = os.path.join(ROOT, "examples", "policies", "mandate.cedarschema")
    d = start_daemon(CONFIG.replace("@OPEN@", "true").replace(
        "  platform: [@DIR@/policies]\n",
        "  platform: [@DIR@/policies]\n  schema: %s\n" % schema))
    assert "validated against the schema" in d.log_text()
    assert create(d, ttl=300).status_code == 201
    assert create(d, ttl=400).status_code == 403   # 400 s > 300
    assert create(d, ttl=300, sensitivity="internal").status_code == 403
    assert create(d, ttl=300, agent="user-1").status_code == 403


def test_schema_rejects_bad_policy(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        SCHEMA_POLICY.replace("context.ttl", "context.tll"))
    schema = os.path.join(ROOT, "examples", "policies", "mandate.cedarschema")
    cfg = CONFIG.replace("@OPEN@", "true").replace(
        "  platform: [@DIR@/policies]\n",
        "  platform: [@DIR@/policies]\n  schema: %s\n" % schema)
    d = start_daemon(cfg, ready=False)
    assert d.proc.wait(timeout=30) == 1
    assert "p.cedar:" in d.log_text()


def test_closed_api_needs_authentication(start_daemon, tmp_path):
    d = configured(start_daemon, tmp_path, open_on_loopback="false")
    r = create(d)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="mandate"'
    assert requests.get(d.url + "/v1/tasks/" + "0" * 32, timeout=5).status_code == 401


def test_sigterm_is_graceful(dev):
    create(dev)
    assert dev.stop() == 0
    assert "shutting down" in dev.log_text()


def test_sigint_is_graceful(dev):
    import signal
    dev.proc.send_signal(signal.SIGINT)
    assert dev.proc.wait(timeout=15) == 0
    assert "SIGINT received" in dev.log_text()


def test_bad_config_refuses_to_start(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("server:\n  listen: 127.0.0.1:1\n  threadz: 4\n")
    r = subprocess.run([BIN, "serve", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=30, cwd=str(tmp_path))
    assert r.returncode == 1
    assert "%s:3:3:" % cfg in r.stderr


def test_listen_host_name_is_refused_before_binding(tmp_path):
    """server.listen and --listen are bound as written (no name lookup):
    a host name, or an IPv4 address in fewer than four parts, is refused
    by the configuration check at its location, the same way by serve
    and --print-config, instead of passing the check and failing at the
    bind ("cannot listen on localhost:P: invalid input")."""
    port = conftest_free_port()
    for host in ["localhost", "127.1", "1.2.3"]:
        cfg = tmp_path / "listen.yaml"
        cfg.write_text("data_dir: %s\nserver:\n  listen: %s:%d\n"
                       % (tmp_path / "data", host, port))
        for extra in [["--print-config"], []]:
            r = subprocess.run([BIN, "serve", "--config", str(cfg)] + extra,
                               capture_output=True, text=True, timeout=30,
                               cwd=str(tmp_path))
            assert r.returncode == 1, (host, extra, r.stdout, r.stderr)
            assert "%s:3:11: error: server.listen: " % cfg in r.stderr, \
                r.stderr
            assert "host names are not resolved" in r.stderr, r.stderr
            assert "cannot listen" not in r.stderr, r.stderr
        if host == "localhost":
            assert "use 127.0.0.1" in r.stderr, r.stderr
        for extra in [["--print-config"], []]:
            r = subprocess.run([BIN, "serve", "--listen", "%s:%d" % (host, port)]
                               + extra, capture_output=True, text=True,
                               timeout=30, cwd=str(tmp_path))
            assert r.returncode == 1, (host, extra, r.stdout, r.stderr)
            assert "--listen: error: '%s:%d': " % (host, port) in r.stderr, \
                r.stderr
            assert "host names are not resolved" in r.stderr, r.stderr
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "mandate-data").exists()


def test_refused_reload_logs_one_line_per_diagnostic(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "ok.cedar").write_text(
        "permit (principal, action, resource);\n")
    d = start_daemon(CONFIG.replace("@OPEN@", "true")
                     .replace("format: json", "format: text"))
    (tmp_path / "policies" / "bad.cedar").write_text(
        "permit (principal,\nforbid (x);\n")
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 422, r.text
    n_diags = len(r.json()["diagnostics"])
    assert n_diags >= 1
    lines = [l for l in d.log_text().splitlines()
             if "policy reload (" in l and "bad.cedar:" in l]
    assert len(lines) == n_diags, d.log_text()
    for l in lines:
        assert "?" not in l and l.count("bad.cedar:") == 1, l
        assert " error " in l


def test_bad_policy_refuses_to_start(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad.cedar").write_text("permit (principal,\n")
    d = start_daemon(CONFIG.replace("@OPEN@", "true"), ready=False)
    assert d.proc.wait(timeout=30) == 1
    assert "bad.cedar:" in d.log_text()


def test_serve_help():
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "usage: mandate serve" in r.stdout


def test_print_config(tmp_path):
    r = subprocess.run([BIN, "serve", "--print-config"], capture_output=True,
                       text=True, timeout=30, cwd=str(tmp_path))
    assert r.returncode == 0
    assert "127.0.0.1:8700" in r.stdout and "open_on_loopback: true" in r.stdout
    assert not os.path.exists(tmp_path / "mandate-data")   # nothing started
    # the development issuers the instance runs with, named but not made
    assert '- name: "dev-spiffe"' in r.stdout and '- name: "dev"' in r.stdout
    assert 'trust_domain: "dev.local"' in r.stdout
    assert 'bundle_file: "./mandate-data/dev/spiffe-bundle.json"' in r.stdout
    assert 'issuer: "http://127.0.0.1:8700/dev"' in r.stdout
    assert 'bearer_issuers: ["dev"]' in r.stdout


def test_print_config_configured_instance(tmp_path):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("data_dir: %s/data\n" % tmp_path)
    r = subprocess.run([BIN, "serve", "--config", str(cfg), "--print-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "dev-spiffe" not in r.stdout and "bearer_issuers" not in r.stdout
    cfg.write_text("data_dir: %s/data\ndev:\n  enabled: true\n" % tmp_path)
    r = subprocess.run([BIN, "serve", "--config", str(cfg), "--print-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert '- name: "dev-spiffe"' in r.stdout
    assert "%s/data/dev/oidc-jwks.json" % tmp_path in r.stdout
    assert not os.path.exists(tmp_path / "data")


def cli(d, *args, token=None):
    env = dict(os.environ, MANDATE_SERVER=d.url)
    env.pop("MANDATE_TOKEN", None)
    if token:
        env["MANDATE_TOKEN"] = token
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def test_cli_task_commands(dev):
    r = cli(dev, "task", "create", "--agent", AGENT, "--objective", "from the CLI",
            "--intent", "read_ticket@Tool::\"tickets\"", "--intent", "send_email",
            "--sensitivity", "internal", "--ttl", "120", "--call-budget", "3")
    assert r.returncode == 0, r.stderr
    t = json.loads(r.stdout)
    assert t["intents"][0] == {"action": "read_ticket", "resource": 'Tool::"tickets"'}
    assert t["call_budget"] == 3 and t["sensitivity"] == "internal"
    r = cli(dev, "task", "show", t["id"])
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "active"
    r = cli(dev, "task", "end", t["id"], "--reason", "done")
    assert r.returncode == 0 and json.loads(r.stdout)["reason"] == "done"
    r = cli(dev, "revoke", "--agent", AGENT, "--reason", "test")
    assert r.returncode == 0 and json.loads(r.stdout)["agent"] == AGENT
    # errors: the server's answer on stderr, exit 1
    r = cli(dev, "task", "show", "0" * 32)
    assert r.returncode == 1 and "404 not_found" in r.stderr
    r = cli(dev, "task", "create", "--agent", "spiffe://other/a", "--objective",
            "x", "--intent", "a")
    assert r.returncode == 1 and "403 access_denied" in r.stderr
    r = cli(dev, "task", "create", "--agent", AGENT)
    assert r.returncode == 1 and "required" in r.stderr
    r = cli(dev, "task", "show", "0" * 32, token="abc")
    assert r.returncode == 1 and "401" in r.stderr
    r = cli(dev, "task", "--help")
    assert r.returncode == 0 and "mandate task create" in r.stdout


def test_shipped_policies_validate_against_the_shipped_schema():
    # examples/policies/mandate.cedarschema is offered for strict
    # validation: the development policies next to it must pass it
    pol = os.path.join(ROOT, "examples", "policies")
    r = subprocess.run([BIN, "policy", "validate", "--schema",
                        os.path.join(pol, "mandate.cedarschema"),
                        os.path.join(pol, "mandate.cedar")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_one_daemon_per_data_dir(dev, tmp_path):
    """A second daemon in the same data directory is refused (it would
    rewrite the development keys' instance.json under the first); tools
    that only read the directory are not blocked."""
    inst = tmp_path / "mandate-data" / "dev" / "instance.json"
    before = inst.read_text()
    port = conftest_free_port()
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=30,
                       cwd=str(tmp_path))
    assert r.returncode == 1
    assert ("data directory ./mandate-data is in use by another mandate "
            "serve (pid %d)" % dev.proc.pid) in r.stderr, r.stderr
    assert inst.read_text() == before
    r = subprocess.run([BIN, "audit", "verify", "--data-dir",
                        str(tmp_path / "mandate-data")], capture_output=True,
                       text=True, timeout=30)
    assert "in use" not in r.stderr and r.returncode == 0, r.stderr
    # the first one still serves, and its lock goes with it
    assert requests.get(dev.url + "/readyz", timeout=5).status_code == 200
    assert dev.stop() == 0
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:%d" % port],
                            cwd=str(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            assert proc.poll() is None
            try:
                if requests.get("http://127.0.0.1:%d/readyz" % port,
                                timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        else:
            raise AssertionError("second daemon not ready")
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
