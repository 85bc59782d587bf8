"""What the daemon writes about itself, against a client that controls the
values in it: log lines (text and json) cannot be split, forged or made to
carry terminal escapes, and hide secrets as the audit log does; /metrics
stays valid Prometheus text (a strict parser below); X-Request-ID is
echoed only when sane; /healthz and /readyz leak no paths.
"""
import json
import re
import signal
import socket

import pytest
import requests

from conftest import wait_for

POLICIES = """
@id("attr")
forbid (principal, action == Action::"x", resource) when { resource.nope == 1 };
@id("task")
permit (principal, action == Action::"mandate:create_task", resource)
when { ip(context.objective).isLoopback() };
"""

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
logging:
  level: debug
  format: @FORMAT@
"""

EVAL = "/access/v1/evaluation"

# what a client may put in a value that a log line quotes
EVIL = ["a\nFORGED b", "a\rFORGED b", "a\u2028FORGED b", "a\u2029FORGED b",
        "a\u0085FORGED b", "a\x1b[31mRED", "a\u009b31mRED", "a\x00b",
        "q\"b\\c", "a\u202eFORGED", "\u00e9" * 600, "x" + "\u00e9" * 600,
        "\u2028" * 400]

# characters a text line must not hold: controls, C1, line and paragraph
# separators, bidi overrides and isolates
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                    "\u2066-\u2069]")

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
GH = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"


def start(start_daemon, tmp_path, fmt):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICIES)
    return start_daemon(CONFIG.replace("@FORMAT@", fmt))


def evaluate(d, rid, request_id):
    return requests.post(d.url + EVAL, json={
        "subject": {"type": "User", "id": "alice"}, "action": {"name": "x"},
        "resource": {"type": "Doc", "id": rid}},
        headers={"X-Request-ID": request_id}, timeout=5)


def raw(d, data):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
    return out


def log_lines(d):
    """The log as lines split on "\\n" only, each checked to be UTF-8."""
    d.stop()
    with open(d.log_path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")      # raises on invalid UTF-8
    return [ln for ln in text.split("\n") if ln != ""]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_cannot_be_split_or_escaped(start_daemon, tmp_path, fmt):
    d = start(start_daemon, tmp_path, fmt)
    for i, v in enumerate(EVIL):
        r = evaluate(d, v, "evil-%d" % i)
        assert r.status_code in (200, 400), r.text
    raw(d, b"GET /a%0AFORGED%1b[31m\xc2\x85\xe2\x80\xa8\xff HTTP/1.1\r\n"
        b"Host: x\r\nX-Request-ID: a\x1bb\xe2\x80\xa8c\r\n"
        b"Connection: close\r\n\r\n")
    lines = log_lines(d)
    for ln in lines:
        assert not ln.startswith("FORGED"), ln
        assert len(ln.splitlines()) == 1, repr(ln)   # NEL, U+2028...
        if ln.startswith("{"):
            o = json.loads(ln)            # one object a line
            assert isinstance(o, dict)
            assert ln.isascii(), repr(ln)
        else:
            assert fmt == "text", repr(ln)
            assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", ln), \
                repr(ln)
        assert not UNSAFE.search(ln), repr(ln)
    msgs = [json.loads(ln).get("msg", "") if ln.startswith("{") else ln
            for ln in lines]
    # every policy error was logged: none was lost to a character cut in
    # two at the message's limit (a JSON line must be UTF-8)
    for i in range(len(EVIL)):
        if i == 7:          # NUL: refused as a request, nothing to log
            continue
        assert any("request evil-%d: policy attr" % i in m for m in msgs), i


def test_access_log_keeps_requests_with_long_paths(dev):
    # a path that fills the access log's line used to leave no room for
    # the fields after it, and the request went unlogged
    for k in range(0, 1024, 32):
        p = b"/" + b"c" * k + b"/" + (b"a" * 1024 + b"/") * 6 + b"b" * 1024
        out = raw(dev, b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n"
                  b"X-Request-ID: lp%d-" % k + b'"' * 200 +
                  b"\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 404"), out[:40]
    lines = log_lines(dev)
    for k in range(0, 1024, 32):
        mine = [ln for ln in lines if '"request_id":"lp%d-' % k in ln]
        assert len(mine) == 1, k
        o = json.loads(mine[0])
        assert o["status"] == 404 and o["path"].startswith("/" + "c" * min(k, 1))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_do_not_reach_the_log(start_daemon, tmp_path, fmt):
    d = start(start_daemon, tmp_path, fmt)
    # a token as a resource id, quoted by a policy error
    evaluate(d, JWT, "s1")
    # a key in a task's objective, quoted by a policy error
    requests.post(d.url + "/v1/tasks", json={
        "agent": "spiffe://dev.local/agents/a", "objective": "key " + GH,
        "intents": [{"action": "read"}]},
        headers={"X-Request-ID": "s2"}, timeout=5)
    # a key as the request id
    r = evaluate(d, "d1", GH)
    assert r.headers["X-Request-ID"] == GH      # echoed to its sender
    requests.post(d.url + "/v1/tasks", json={}, timeout=5, headers={
        "Authorization": "Bearer " + JWT, "X-Request-ID": "s3"})
    lines = log_lines(d)
    text = "\n".join(lines)
    for secret in (JWT, GH, JWT.split(".")[2]):
        assert secret not in text
    assert any("request s1: policy attr" in ln and "hmac:" in ln
               for ln in lines), text
    assert any("request s2: policy task" in ln and "hmac:" in ln
               for ln in lines), text
    assert "request s3: authentication failed" in text


# ---- /metrics ----

METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})?'
    r' (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)( -?[0-9]+)?$')


def parse_metrics(text):
    """A strict reader of the Prometheus text format (0.0.4): HELP and
    TYPE once a family, before its samples; every sample of a declared
    family; label values escaped; no duplicate series; histogram buckets
    cumulative, ending in +Inf equal to _count.  Returns {series: value}."""
    assert text.endswith("\n")
    types, helps, out = {}, set(), {}
    for ln in text[:-1].split("\n"):
        assert "\r" not in ln
        if ln.startswith("# HELP "):
            name = ln.split(" ")[2]
            assert name not in helps
            helps.add(name)
            continue
        if ln.startswith("# TYPE "):
            _, _, name, kind = ln.split(" ")
            assert name not in types and kind in ("counter", "histogram")
            types[name] = kind
            continue
        assert not ln.startswith("#") and ln != "", repr(ln)
        m = METRIC_LINE.match(ln)
        assert m, repr(ln)
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or (base in types and
                                 types[base] == "histogram"), ln
        key = name + (m.group(2) or "")
        assert key not in out, ln
        out[key] = float(m.group(3))
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for k, v in out.items():
            if k.startswith(name + "_bucket{"):
                labels = re.sub(r',?le="[^"]*"', "", k[len(name) + 7:])
                le = re.search(r'le="([^"]*)"', k).group(1)
                series.setdefault(labels, []).append(
                    (float(le.replace("+Inf", "inf")), v))
        for labels, buckets in series.items():
            vals = [v for _, v in buckets]
            assert vals == sorted(vals), (name, labels)
            assert buckets[-1][0] == float("inf")
            cnt = name + "_count" + (labels if labels != "{}" else "")
            assert out[cnt] == vals[-1], (name, labels)
    return out


def test_metrics_after_an_attack(start_daemon, tmp_path):
    d = start(start_daemon, tmp_path, "text")
    for i, v in enumerate(EVIL[:6]):
        evaluate(d, v, "m-%d" % i)
    for i in range(300):
        # attacker paths and methods: no new series for any of them
        raw(d, b"GET /x%d\"\\\n HTTP/1.1\r\nHost: x\r\nConnection: close"
            b"\r\n\r\n" % i)
        raw(d, b"M%d /v1/tasks HTTP/1.1\r\nHost: x\r\nConnection: close"
            b"\r\n\r\n" % i)
        requests.get(d.url + "/v1/tasks/%032x" % i, timeout=5)
    before = parse_metrics(requests.get(d.url + "/metrics", timeout=5).text)
    assert len(before) < 120, sorted(before)
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "policy reload" in d.log_text())
    after = parse_metrics(requests.get(d.url + "/metrics", timeout=5).text)
    for k, v in before.items():
        if k.endswith("_sum") or "_seconds" in k:
            continue
        assert after.get(k, 0) >= v, k      # counters never go back


def test_strict_metrics_parser_catches_bad_text():
    for bad in ['a{l="x\ny"} 1\n', 'a{l="x"y"} 1\n', 'a 1\r\n',
                '# TYPE a counter\na{l="x\\ty"} 1\n',
                '# TYPE a counter\na 1\na 2\n']:
        with pytest.raises(AssertionError):
            parse_metrics(bad)
    assert parse_metrics('# HELP a h\n# TYPE a counter\na{l="x\\"\\\\\\n"} 1\n')


# ---- X-Request-ID ----

def head_values(resp, name):
    lines = resp.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [ln.split(b":", 1)[1].strip() for ln in lines[1:]
            if ln.split(b":", 1)[0].lower() == name.lower()]


@pytest.mark.parametrize("value", [
    b"a\x1bb", b"a\x7fb", b"\xc3\xa9", b"\xe2\x80\xa8", b"A" * 300,
    b"a\x00b"])
def test_request_id_not_sane_is_replaced(dev, value):
    out = raw(dev, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: "
              + value + b"\r\nConnection: close\r\n\r\n")
    if not out.startswith(b"HTTP/1.1 200"):
        assert out.startswith(b"HTTP/1.1 400"), out   # the head refused
    ids = head_values(out, b"X-Request-ID")
    assert len(ids) == 1 and re.fullmatch(rb"[0-9a-f]{24}", ids[0]), out


def test_request_id_repeated_and_odd_but_printable(dev):
    out = raw(dev, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: one"
              b"\r\nX-Request-ID: two\r\nConnection: close\r\n\r\n")
    assert len(head_values(out, b"X-Request-ID")) == 1, out
    v = b'q"\\<x>:y; z' + b"B" * 200
    out = raw(dev, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + v
              + b"\r\nConnection: close\r\n\r\n")
    assert head_values(out, b"X-Request-ID") == [v], out


# ---- /healthz, /readyz ----

def test_health_says_what_without_where(start_daemon, tmp_path):
    d = start(start_daemon, tmp_path, "text")
    for path in ("/healthz", "/readyz"):
        r = requests.get(d.url + path, timeout=5)
        assert r.status_code == 200
        assert str(tmp_path) not in r.text and "/" not in r.text
    (tmp_path / "policies" / "p.cedar").write_text("permit (principal,")
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "refused" in d.log_text())
    # a refused reload keeps the last good set: still ready
    r = requests.get(d.url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text
    assert str(tmp_path) not in r.text
