"""The AuthZEN endpoints of the real daemon beyond the interop cases:
malformed requests and content types (400 with a message), unknown
members ignored, X-Request-ID echoed, request properties never
overriding the entity files, batch semantics and include_context, search
paging, caller authentication on a configured instance (and
authzen.authenticate: false), and policy reload: POST /v1/policies/reload,
SIGHUP and a file change, a broken set keeping the old one in force.
"""
import json
import os
import signal
import sqlite3
import time

import pytest
import requests

from conftest import wait_for

from test_flow import Issuers, bearer

POLICY_V1 = """
@id("read")
permit (principal is User, action == Action::"read", resource is Doc)
when { resource has owner && resource.owner == principal.name };

@id("admins")
permit (principal in Role::"admin", action, resource);
"""

POLICY_V2 = POLICY_V1 + """
@id("everyone-lists")
permit (principal is User, action == Action::"list", resource);
"""

BROKEN = "permit (principal, action, resource) when { ;"

ENTITIES = [
    {"uid": {"type": "User", "id": "alice"}, "attrs": {"name": "alice"},
     "parents": []},
    {"uid": {"type": "User", "id": "root"}, "attrs": {"name": "root"},
     "parents": [{"type": "Role", "id": "admin"}]},
    {"uid": {"type": "Role", "id": "admin"}, "attrs": {}, "parents": []},
    {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": "bob"},
     "parents": []},
] + [{"uid": {"type": "User", "id": "u%02d" % i}, "attrs": {"name": "u%02d" % i},
      "parents": []} for i in range(7)]

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
  entities: [@DIR@/entities.json]
  watch: true
  reload_interval: 1s
api_auth:
  open_on_loopback: true
"""

EVAL = "/access/v1/evaluation"
EVALS = "/access/v1/evaluations"


def req(subject="alice", action="read", rtype="Doc", rid="d2", props=None):
    r = {"subject": {"type": "User", "id": subject},
         "action": {"name": action},
         "resource": {"type": rtype, "id": rid}}
    if props is not None:
        r["resource"]["properties"] = props
    return r


@pytest.fixture
def pdp(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    return start_daemon(CONFIG), tmp_path


def post(d, path, body, **kw):
    return requests.post(d.url + path, json=body, timeout=10, **kw)


def test_decision_and_context(pdp):
    d, _ = pdp
    r = post(d, EVAL, req(props={"owner": "alice"}))
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["decision"] is True
    assert len(j["context"]["id"]) == 32
    assert j["context"]["reason_admin"]["policies"] == ["read"]
    assert post(d, EVAL, req(props={"owner": "bob"})).json()["decision"] is False
    assert post(d, EVAL, req()).json()["decision"] is False


def test_pip_wins_over_request_properties(pdp):
    d, _ = pdp
    # d1 is in the entity file (owner bob): the request cannot claim it
    assert post(d, EVAL, req(rid="d1", props={"owner": "alice"})
                ).json()["decision"] is False
    # nor can a subject make itself an admin or rename itself
    body = req(rid="d1")
    body["subject"]["properties"] = {"name": "bob"}
    assert post(d, EVAL, body).json()["decision"] is False


@pytest.mark.parametrize("body,ctype,needle", [
    (b"", "application/json", "empty"),
    (b"{", "application/json", "invalid JSON"),
    (b"[]", "application/json", "JSON object"),
    (b'{"subject":{"type":"User","id":"alice"},"action":{"name":"read"}}',
     "application/json", "resource is required"),
    (b'{"subject":{"type":"User","id":5},"action":{"name":"read"},'
     b'"resource":{"type":"Doc","id":"d"}}', "application/json",
     "subject.id must be a string"),
    (b'{"subject":{"type":"not a type","id":"a"},"action":{"name":"read"},'
     b'"resource":{"type":"Doc","id":"d"}}', "application/json",
     "Cedar entity type"),
    (b'{"subject":{"type":"User","id":"a"},"action":{"name":"read"},'
     b'"resource":{"type":"Doc","id":"d","properties":{"x":1.5}}}',
     "application/json", "floating-point"),
    (b'{"subject":{"type":"User","id":"a"},"action":{"name":"read"},'
     b'"resource":{"type":"Doc","id":"d"},"context":{"n":123456789012345678901234}}',
     "application/json", "context cannot be used"),
    (b'{"subject":{"type":"User","id":"a"},"action":{"name":"read"},'
     b'"resource":{"type":"Doc","id":"d"},"context":{"x":0.5}}',
     "application/json", "cannot be expressed in Cedar"),
    (json.dumps(req()).encode(), "text/plain", "application/json"),
    (json.dumps(req()).encode(), None, "application/json"),
])
def test_malformed(pdp, body, ctype, needle):
    d, _ = pdp
    headers = {"Content-Type": ctype} if ctype else {}
    r = requests.post(d.url + EVAL, data=body, headers=headers, timeout=10)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error_description"]


def raw_post(d, path, data, headers):
    """POST with exactly these header lines (a name may repeat)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        c.putrequest("POST", path, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.mark.parametrize("ctypes,status", [
    (["application/json"], 200),
    (["Application/JSON; charset=UTF-8"], 200),
    (["application/json ; charset=utf-8"], 200),
    (["application/json\t;charset=utf-8"], 200),
    # not the media type application/json (AuthZEN 1.0, 10.1: requests
    # MUST carry Content-Type application/json)
    (["application/json garbage"], 400),
    (["application/json json"], 400),
    (["application/jsonp"], 400),
    # one body, one type: a second Content-Type line is not "the" type
    (["application/json", "text/plain"], 400),
    (["application/json", "application/json"], 400),
])
def test_content_type_is_application_json(pdp, ctypes, status):
    d, _ = pdp
    data = json.dumps(req(props={"owner": "alice"})).encode()
    for path in (EVAL, EVALS, "/access/v1/search/resource"):
        got, body = raw_post(d, path, data,
                             [("Content-Type", c) for c in ctypes])
        assert got == status, (path, body)
        if status == 400:
            assert b"Content-Type" in body, body


def test_unknown_members_and_request_id(pdp):
    d, _ = pdp
    body = req(props={"owner": "alice", "colour": "red"})
    body["extension"] = {"x": [1, 2]}
    body["subject"]["extra"] = True
    r = post(d, EVAL, body, headers={"X-Request-ID": "pep-call-42"})
    assert r.status_code == 200 and r.json()["decision"] is True
    assert r.headers["X-Request-ID"] == "pep-call-42"
    # AuthZEN: the PEP's identifier is an arbitrary string, echoed
    for rid in ("a+b/c==", "Root=1-5759e988-bd862e3f;Sampled=1",
                'id with "quotes" and \\', "x" * 256):
        r = post(d, EVAL, body, headers={"X-Request-ID": rid})
        assert r.status_code == 200 and r.headers["X-Request-ID"] == rid
    r = post(d, EVAL, body, headers={"X-Request-ID": "x" * 257})
    assert r.status_code == 200 and len(r.headers["X-Request-ID"]) == 24


@pytest.mark.parametrize("path,where", [
    (EVAL, "extension"), (EVAL, "context"), (EVALS, "extension"),
    ("/access/v1/search/resource", "context")])
def test_body_too_wide_to_process_is_413(pdp, path, where):
    # Well under server.max_body_size (1 MiB), but each of its 200,000
    # tiny members costs a tree node: more than a request's memory
    # allowance.  The caller's request is too large (413), not the
    # server broken (500), and the daemon goes on answering.
    d, _ = pdp
    body = req(props={"owner": "alice"})
    if path == EVALS:
        body["evaluations"] = [{}]
    if where == "context":
        body["context"] = {"x": [0] * 200000}
    else:
        body["extension"] = [0] * 200000
    data = json.dumps(body, separators=(",", ":")).encode()
    assert len(data) < 1 << 20
    r = requests.post(d.url + path, data=data, timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert "memory" in r.json()["error_description"]
    r = post(d, EVAL, req(props={"owner": "alice"}))
    assert r.status_code == 200 and r.json()["decision"] is True


def test_batch(pdp):
    d, _ = pdp
    items = [{"resource": {"type": "Doc", "id": "a", "properties": {"owner": "alice"}}},
             {"resource": {"type": "Doc", "id": "b", "properties": {"owner": "bob"}}},
             {"resource": {"type": "Doc", "id": 7}},
             {"subject": {"type": "User", "id": "root"},
              "resource": {"type": "Doc", "id": "c"}}]
    base = {"subject": {"type": "User", "id": "alice"}, "action": {"name": "read"},
            "evaluations": items}
    r = post(d, EVALS, base)
    assert r.status_code == 200, r.text
    assert r.json() == {"evaluations": [{"decision": True}, {"decision": False},
                                        {"decision": False}, {"decision": True}]}
    r = post(d, EVALS, dict(base, options={"evaluations_semantic": "deny_on_first_deny"}))
    assert r.json() == {"evaluations": [{"decision": True}, {"decision": False}]}
    r = post(d, EVALS, dict(base, options={"evaluations_semantic": "permit_on_first_permit"}))
    assert r.json() == {"evaluations": [{"decision": True}]}
    r = post(d, EVALS, dict(base, options={"include_context": True}))
    ev = r.json()["evaluations"]
    assert ev[0]["context"]["reason_admin"]["policies"] == ["read"]
    assert "resource.id must be a string" in \
        ev[2]["context"]["reason_admin"]["errors"][0]["message"]
    # a failed item is still a recorded decision, with its own id
    assert len({e["context"]["id"] for e in ev}) == 4
    assert all(len(e["context"]["id"]) == 32 for e in ev)
    r = post(d, EVALS, dict(base, options={"evaluations_semantic": "sometimes"}))
    assert r.status_code == 400
    # no evaluations array: one evaluation, answered as the single endpoint
    r = post(d, EVALS, req(props={"owner": "alice"}))
    assert r.json()["decision"] is True


def test_search_paging(pdp):
    d, _ = pdp
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "x", "properties": {"owner": "u03"}}}
    r = post(d, "/access/v1/search/subject", body)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"type": "User", "id": "root"},
                                   {"type": "User", "id": "u03"}]
    seen, token, pages = [], None, 0
    body = {"subject": {"type": "User"}, "action": {"name": "anything"},
            "resource": {"type": "Doc", "id": "x"}}
    # only root is an admin; with everyone allowed by v2 below this grows
    r = post(d, "/access/v1/search/subject", dict(body, page={"limit": 1}))
    assert r.json() == {"results": [{"type": "User", "id": "root"}],
                        "page": {"next_token": "", "count": 1}}
    body["action"]["name"] = "read"
    body["resource"]["properties"] = {"owner": "u01"}
    while True:
        page = {"limit": 1}
        if token:
            page["token"] = token
        j = post(d, "/access/v1/search/subject", dict(body, page=page)).json()
        seen += j["results"]
        token = j["page"]["next_token"]
        pages += 1
        if not token:
            break
    assert seen == [{"type": "User", "id": "root"}, {"type": "User", "id": "u01"}]
    assert pages == 2
    r = post(d, "/access/v1/search/subject", dict(body, page={"token": "bogus"}))
    assert r.status_code == 400


def test_search_answer_leads_with_its_page(pdp):
    """AuthZEN 1.0, The Search API Response: it is RECOMMENDED that
    `page` be the response's first key, so that a PEP reading a large
    answer can use `page.count` (the results in this response, 8.2.2)
    before the results."""
    d, _ = pdp
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "x", "properties": {"owner": "u03"}}}
    for page, count in (({"limit": 1}, 1), ({}, 2)):
        r = post(d, "/access/v1/search/subject", dict(body, page=page))
        assert r.status_code == 200, r.text
        assert r.text.startswith('{"page":{'), r.text
        assert r.json()["page"]["count"] == count == len(r.json()["results"])
    r = post(d, "/access/v1/search/action",
             {"subject": {"type": "User", "id": "root"},
              "resource": {"type": "Doc", "id": "d1"}})
    assert r.text.startswith('{"page":{'), r.text
    assert r.json() == {"page": {"next_token": "", "count": 1},
                        "results": [{"name": "read"}]}
    r = post(d, "/access/v1/search/resource",
             {"subject": {"type": "User", "id": "nobody"},
              "action": {"name": "read"}, "resource": {"type": "Doc"}})
    assert r.json() == {"page": {"next_token": "", "count": 0}, "results": []}


def test_search_bounds_the_context_it_evaluates(start_daemon, tmp_path):
    """A search evaluates its context once per candidate: with a large one
    a page stops early (with a token to go on) instead of evaluating it
    thousands of times in one request; the pages together still hold
    every result."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG.replace("server:\n",
                                    "server:\n  max_body_size: 8MiB\n"))
    pad = "x" * (3 << 20)          # 3 MiB: at most 2 candidates per request
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "x",
                         "properties": {"owner": "u05"}},
            "context": {"pad": pad}}
    seen, token, pages = [], None, 0
    while pages < 20:
        b = dict(body)
        if token:
            b["page"] = {"token": token}
        r = post(d, "/access/v1/search/subject", b)
        assert r.status_code == 200, r.text
        seen += r.json()["results"]
        token = r.json()["page"]["next_token"]
        pages += 1
        if not token:
            break
    assert seen == [{"type": "User", "id": "root"}, {"type": "User", "id": "u05"}]
    assert pages >= 4             # 9 users, 2 per request


def test_well_known(pdp):
    d, _ = pdp
    r = requests.get(d.url + "/.well-known/authzen-configuration", timeout=5)
    assert r.status_code == 200
    j = r.json()
    assert j["access_evaluation_endpoint"].endswith("/access/v1/evaluation")
    assert j["search_action_endpoint"].endswith("/access/v1/search/action")


@pytest.mark.parametrize("suffix", ["/pdp/tenant1", "/pdp/", "/"])
def test_well_known_under_an_issuer_path(start_daemon, tmp_path, suffix):
    # AuthZEN: the metadata of https://host/path is at
    # https://host/.well-known/authzen-configuration/path, and every URL
    # it advertises answers
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    cfg = CONFIG + "tokens:\n  issuer: http://127.0.0.1:@PORT@" + suffix + "\n"
    d = start_daemon(cfg)
    iss = d.url + suffix
    path = suffix.rstrip("/")
    # AuthZEN 9.2 inserts the well-known string between the host and the
    # identifier's path, whatever that path is (a trailing "/" included;
    # RFC 8414 would drop it, AuthZEN does not say so): both forms answer
    for wk in {"/.well-known/authzen-configuration",
               "/.well-known/authzen-configuration" + path,
               "/.well-known/authzen-configuration" + suffix}:
        r = requests.get(d.url + wk, timeout=5)
        assert r.status_code == 200, (wk, r.text)
        j = r.json()
        assert j["policy_decision_point"] == iss
        for k, v in j.items():
            if k.endswith("_endpoint"):
                assert v == d.url + path + "/access/v1/" + v.split("/access/v1/")[1]
                assert "//access" not in v
        body = req(props={"owner": "alice"})
        r = requests.post(j["access_evaluation_endpoint"], json=body, timeout=5)
        assert r.status_code == 200 and r.json()["decision"] is True, r.text
        r = requests.post(j["search_action_endpoint"], timeout=5, json={
            "subject": body["subject"], "resource": body["resource"]})
        assert r.status_code == 200, r.text
    # and at the root as before
    assert post(d, EVAL, req(props={"owner": "alice"})).json()["decision"] is True


@pytest.mark.parametrize("suffix", ["/p%41", "/p%41/", "/{t}"])
def test_issuer_path_the_router_cannot_hold(start_daemon, tmp_path, suffix):
    # A tokens.issuer path with a percent-encoding (or a brace) cannot be
    # a route: the daemon starts all the same, says so, and serves the
    # AuthZEN endpoints and their metadata at the root (a proxy maps the
    # path), instead of exiting without a word.
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG + "tokens:\n  issuer: http://127.0.0.1:@PORT@"
                     + suffix + "\n")
    r = requests.get(d.url + "/.well-known/authzen-configuration", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["policy_decision_point"] == d.url + suffix
    assert post(d, EVAL, req(props={"owner": "alice"})).json()["decision"] is True
    assert "cannot be routed" in d.log_text()


def lists(d):
    return post(d, EVAL, req(action="list")).json()["decision"]


def test_reload_endpoint_keeps_old_set_on_error(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    # no watch here: only the endpoint and SIGHUP reload
    cfg = CONFIG.replace("  watch: true\n", "")
    d = start_daemon(cfg)
    # a configured instance has no reload rule of its own: add one
    rule = ('\n@id("loopback-reloads")\npermit (principal == Delegator::"dev:loopback",'
            ' action == Action::"mandate:reload_policies", resource == Policies::"default");\n')
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1 + rule)
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    # the running set has no reload rule yet: refused
    assert r.status_code == 403
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: requests.post(d.url + "/v1/policies/reload",
                                          timeout=10).status_code == 200)
    assert lists(d) is False
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V2 + rule)
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 200 and r.json()["reloaded"] is True
    assert lists(d) is True
    (tmp_path / "policies" / "q.cedar").write_text(BROKEN)
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 422, r.text
    j = r.json()
    assert j["error"] == "invalid_policies"
    assert any("q.cedar" in line for line in j["diagnostics"])
    assert lists(d) is True            # the last good set stays
    assert "refused" in d.log_text()
    # a duplicate policy id across layers is refused the same way
    (tmp_path / "policies" / "q.cedar").write_text(POLICY_V1)
    assert requests.post(d.url + "/v1/policies/reload", timeout=10).status_code == 422
    # a policy directory is read one level deep: what it holds that is
    # not read is named, in the answer and the log
    (tmp_path / "policies" / "sub").mkdir()
    (tmp_path / "policies" / "sub" / "f.cedar").write_text(
        'forbid (principal, action, resource);\n')
    (tmp_path / "policies" / "F.CEDAR").write_text(
        'forbid (principal, action, resource);\n')
    os.unlink(tmp_path / "policies" / "q.cedar")
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 200, r.text
    w = r.json()["warnings"]
    assert any("policies/sub:" in x and "not read" in x for x in w), w
    assert any("F.CEDAR:" in x and "not read" in x for x in w), w
    assert "warning" in d.log_text() and "policies/sub" in d.log_text()
    assert lists(d) is True
    # and a template is refused: the daemon links none, so it would never
    # apply (a forbid written as one would forbid nothing)
    (tmp_path / "policies" / "q.cedar").write_text(
        '@id("no-root")\nforbid (principal == ?principal, action, resource);\n')
    r = requests.post(d.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 422, r.text
    assert any("q.cedar:1:1" in x and "template" in x
               for x in r.json()["diagnostics"]), r.text
    assert lists(d) is True
    os.unlink(tmp_path / "policies" / "q.cedar")
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "policy reload (SIGHUP)" in d.log_text())


def test_reload_on_file_change(pdp):
    d, tmp = pdp
    assert lists(d) is False
    (tmp / "policies" / "p.cedar").write_text(POLICY_V2)
    assert wait_for(lambda: lists(d) is True)
    # a broken file is refused; the set in force stays
    (tmp / "policies" / "p.cedar").write_text(BROKEN)
    assert wait_for(lambda: "policy files changed) refused" in d.log_text())
    assert lists(d) is True
    # entities reload too: alice becomes an admin
    ents = [dict(e) for e in ENTITIES]
    ents[0] = dict(ents[0], parents=[{"type": "Role", "id": "admin"}])
    (tmp / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp / "entities.json").write_text(json.dumps(ents))
    assert wait_for(lambda: post(d, EVAL, req(action="delete")).json()["decision"])


CONFIG_AUTH = """
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
api_auth:
  bearer_issuers: [people]
  bearer_subjects: [pep-gateway]
"""


def test_configured_instance_needs_a_caller(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG_AUTH)
    assert "callers authenticate as api_auth says" in d.log_text()
    body = req(props={"owner": "alice"})
    r = post(d, EVAL, body)
    assert r.status_code == 401
    assert post(d, EVALS, {"evaluations": [body]}).status_code == 401
    assert post(d, "/access/v1/search/action", {
        "subject": {"type": "User", "id": "alice"},
        "resource": {"type": "Doc", "id": "d"}}).status_code == 401
    r = post(d, EVAL, body, headers=bearer(iss.person(sub="someone-else")))
    assert r.status_code == 401
    r = post(d, EVAL, body, headers=bearer(iss.person(sub="pep-gateway")))
    assert r.status_code == 200 and r.json()["decision"] is True
    # the reload endpoint: authenticated but not allowed by the policies,
    # refused and recorded (as every refused operation is)
    r = requests.post(d.url + "/v1/policies/reload", timeout=10,
                      headers=bearer(iss.person(sub="pep-gateway")))
    assert r.status_code == 403
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    try:
        rows = db.execute("SELECT request_id, fields_json FROM audit_events WHERE"
                          " type = 'policies.reload_denied'").fetchall()
    finally:
        db.close()
    assert [(rid, json.loads(f)["by"]) for rid, f in rows] == \
        [(r.headers["X-Request-ID"], "pep-gateway")], rows


def test_authentication_turned_off(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG_AUTH + "authzen:\n  authenticate: false\n")
    assert "NOT authenticated" in d.log_text()
    r = post(d, EVAL, req(props={"owner": "alice"}))
    assert r.status_code == 200 and r.json()["decision"] is True
    # the rest of the API still needs a caller
    assert requests.post(d.url + "/v1/policies/reload", timeout=10).status_code == 401


CONFIG_LAYERS = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/platform]
  tool_servers:
    docs: [@DIR@/docs-tool]
  entities: [@DIR@/entities.json]
api_auth:
  open_on_loopback: true
"""


def test_layers_forbid_overrides_and_ids_unique(start_daemon, tmp_path):
    (tmp_path / "platform").mkdir()
    (tmp_path / "docs-tool").mkdir()
    (tmp_path / "platform" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "docs-tool" / "t.cedar").write_text(
        '@id("docs-no-delete")\n'
        'forbid (principal, action == Action::"delete", resource is Doc);\n')
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG_LAYERS)
    body = {"subject": {"type": "User", "id": "root"}, "action": {"name": "delete"},
            "resource": {"type": "Doc", "id": "d1"}}
    j = post(d, EVAL, body).json()
    # the platform's admin permit applies, the tool server's forbid wins
    assert j["decision"] is False
    assert j["context"]["reason_admin"]["policies"] == ["docs-no-delete"]
    body["action"]["name"] = "read"
    assert post(d, EVAL, body).json()["decision"] is True
    # the same id in two layers: refused, naming the file
    (tmp_path / "docs-tool" / "dup.cedar").write_text(
        '@id("admins")\npermit (principal, action, resource);\n')
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "policy reload (SIGHUP) refused" in d.log_text())
    assert "dup.cedar" in d.log_text()
    assert post(d, EVAL, body).json()["decision"] is True


def test_development_instance_is_open_on_loopback(dev):
    assert "AuthZEN evaluation API: open to callers on loopback without " \
        "authentication (development instance)" in dev.log_text()
    r = post(dev, EVAL, req())
    assert r.status_code == 200
    assert r.json()["decision"] is False       # the dev policies say nothing
    r = requests.post(dev.url + "/v1/policies/reload", timeout=10)
    assert r.status_code == 200, r.text
    dev_policies = os.path.join(os.path.dirname(__file__), "..", "..",
                                "examples", "policies", "mandate.cedar")
    with open(dev_policies) as f:
        assert r.json()["policies"] == f.read().count("\n@id(")


SCHEMA = """
entity Role;
entity User in [Role] { name: String };
entity Doc { owner?: String };
action read, list, delete appliesTo { principal: User, resource: Doc };
"""

CONFIG_SCHEMA = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
  schema: @DIR@/schema.cedarschema
  entities: [@DIR@/entities.json]
api_auth:
  open_on_loopback: true
"""


def test_action_search_takes_the_schema_actions(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V2)
    (tmp_path / "schema.cedarschema").write_text(SCHEMA)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG_SCHEMA)
    body = {"subject": {"type": "User", "id": "alice"},
            "resource": {"type": "Doc", "id": "new", "properties": {"owner": "alice"}}}
    r = post(d, "/access/v1/search/action", body)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"name": "list"}, {"name": "read"}]
    body["subject"]["id"] = "root"
    assert post(d, "/access/v1/search/action", body).json()["results"] == [
        {"name": "delete"}, {"name": "list"}, {"name": "read"}]
    # request properties are checked against the schema's shape
    body["resource"]["properties"] = {"owner": 7}
    r = post(d, EVAL, dict(body, action={"name": "read"}))
    assert r.status_code == 400 and "properties" in r.json()["error_description"]


SCHEMA_CTX = SCHEMA + """
action pay appliesTo { principal: User, resource: Doc,
                       context: { amount: Long, urgent?: Bool } };
"""

PAY_POLICY = """
@id("pay-permit")
permit (principal, action == Action::"pay", resource);
@id("pay-limit")
forbid (principal, action == Action::"pay", resource)
when { context.amount > 1000 };
"""


def test_requests_are_validated_against_the_schema(start_daemon, tmp_path):
    """With policies.schema, a request that does not fit its action's
    declaration never reaches the policies: a string where the context
    says Long would make the forbid error and, under Cedar's rule, be
    skipped.  A single evaluation gets 400, a batch item a deny."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(PAY_POLICY)
    (tmp_path / "schema.cedarschema").write_text(SCHEMA_CTX)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG_SCHEMA.replace(
        "policies:\n", "policies:\n  on_forbid_error: skip\n"))
    base = {"subject": {"type": "User", "id": "alice"},
            "action": {"name": "pay"},
            "resource": {"type": "Doc", "id": "d1"}}
    assert post(d, EVAL, dict(base, context={"amount": 5})).json()[
        "decision"] is True
    assert post(d, EVAL, dict(base, context={"amount": 5000})).json()[
        "decision"] is False
    refused = []
    for ctx in ({"amount": "5000"}, {"amount": 5, "urgent": "yes"},
                {"amount": True}):
        r = post(d, EVAL, dict(base, context=ctx))
        assert r.status_code == 400, (ctx, r.text)
        assert "policies.schema" in r.json()["error_description"], r.text
        # the refusal is a recorded deny, and the 400 names its record
        refused.append(r.json()["decision_id"])
    r = post(d, EVAL, dict(base, context={}))
    assert r.status_code == 400 and "`amount`" in r.text, r.text
    # a resource or principal type the action does not apply to
    for ent in ({"resource": {"type": "Role", "id": "admin"}},
                {"resource": {"type": "Vault", "id": "x"}},
                {"subject": {"type": "Doc", "id": "d1"}}):
        r = post(d, EVAL, dict(base, context={"amount": 5}, **ent))
        assert r.status_code == 400, (ent, r.text)
    # in a batch: a deny for the item, the others decided
    r = post(d, EVALS, dict(base, evaluations=[
        {"context": {"amount": 5}}, {"context": {"amount": "5000"}}]))
    assert r.status_code == 200, r.text
    assert [e["decision"] for e in r.json()["evaluations"]] == [True, False]
    assert d.stop() == 0, d.log_text()
    db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"))
    recs = {}
    for (f,) in db.execute("SELECT fields_json FROM audit_events"
                           " WHERE type = 'decision'"):
        f = json.loads(f)
        recs[f["decision_id"]] = f
    db.close()
    assert len(refused) == 3
    for did in refused:
        assert recs[did]["decision"] is False, recs.get(did)
        assert "policies.schema" in json.dumps(recs[did]["errors"])


def test_action_search_takes_the_policies_actions(start_daemon, tmp_path):
    # no schema and no Action entities: the actions permit policies name
    # in their scope are the candidates; a forbid's are not
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V2 + """
@id("no-drops")
forbid (principal, action == Action::"drop", resource);
@id("shares")
permit (principal, action in [Action::"share", Action::"list"], resource)
when { resource has owner && resource.owner == "nobody" };
""")
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG)
    body = {"subject": {"type": "User", "id": "alice"},
            "resource": {"type": "Doc", "id": "new", "properties": {"owner": "alice"}}}
    r = post(d, "/access/v1/search/action", body)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"name": "read"}, {"name": "list"}]
    body["resource"]["properties"]["owner"] = "bob"
    assert post(d, "/access/v1/search/action", body).json()["results"] == [
        {"name": "list"}]
    body["resource"]["properties"]["owner"] = "nobody"
    assert post(d, "/access/v1/search/action", body).json()["results"] == [
        {"name": "list"}, {"name": "share"}]
    # paged like the other candidates
    body["page"] = {"limit": 1}
    r = post(d, "/access/v1/search/action", body).json()
    assert r["results"] == [{"name": "list"}] and r["page"]["next_token"]
    body["page"] = {"limit": 1, "token": r["page"]["next_token"]}
    r = post(d, "/access/v1/search/action", body).json()
    assert r["results"] == [{"name": "share"}]
    assert r["page"]["next_token"] == ""


ODD_IDS = r"""
@id("q\"uote \\ back	tab é ✓")
permit (principal is User, action == Action::"list", resource);

@id("second")
permit (principal, action == Action::"list", resource is Doc);
"""


def test_reason_ids_escaped(start_daemon, tmp_path):
    # the answer's text is written directly (not by jansson) when there
    # are no errors: policy ids with quotes, backslashes, control and
    # non-ASCII characters must come back as valid JSON, unchanged
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(ODD_IDS)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG)
    r = post(d, EVAL, req(action="list"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    j = json.loads(r.text)
    assert j["decision"] is True
    assert sorted(j["context"]["reason_admin"]["policies"]) == \
        sorted(['q"uote \\ back\ttab é ✓', "second"])
    assert j["context"]["reason_admin"]["errors"] == []
    assert len(j["context"]["id"]) == 32
    # a deny: no reasons
    j = post(d, EVAL, req(action="read")).json()
    assert j["decision"] is False
    assert j["context"]["reason_admin"] == {"policies": [], "errors": []}


# The context reaches the policies as Cedar values whatever its shape: the
# daemon hands it to Cedar as a tree (no text round trip) and falls back to
# its text when Cedar refuses the tree, so that a refusal reads as always.
CONTEXT_POLICY = """
@id("shapes")
permit (principal is User, action == Action::"shape", resource)
when {
  context.n == -9223372036854775808 && context.big == 9223372036854775807 &&
  context.flag && !context.off && context.s == "caf\u00e9 \U0001F600 \\"q\\"" &&
  context["\u00e9t\u00e9"] == 1 && context.set.contains(2) && context.set == [3, 2, 2, 1] &&
  context.rec.x.y.z.contains({k: 2}) && context.who == User::"alice" &&
  context.amount.greaterThan(decimal("1.20")) && context.net.isInRange(ip("10.0.0.0/8")) &&
  context.empty == {}
};
"""


def shape_ctx():
    return {"n": -9223372036854775808, "big": 9223372036854775807, "flag": True,
            "off": False, "s": "caf\u00e9 \U0001F600 \"q\"", "\u00e9t\u00e9": 1,
            "set": [1, 2, 2, 3], "rec": {"x": {"y": {"z": [{"k": "v"}, {"k": 2}]}}},
            "who": {"__entity": {"type": "User", "id": "alice"}},
            "amount": {"__extn": {"fn": "decimal", "arg": "1.25"}},
            "net": {"__extn": {"fn": "ip", "arg": "10.1.2.3"}},
            "empty": {}}


def test_context_shapes_reach_the_policies(start_daemon, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(CONTEXT_POLICY)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG)
    body = req(action="shape", rid="d1")
    body["context"] = shape_ctx()
    r = post(d, EVAL, body)
    assert r.status_code == 200 and r.json()["decision"] is True, r.text
    # any one value changed: no longer a permit
    for key, value in [("n", 0), ("s", "cafe"), ("set", [1, 2]), ("empty", {"a": 1}),
                       ("who", {"__entity": {"type": "User", "id": "bob"}}),
                       ("amount", {"__extn": {"fn": "decimal", "arg": "1.15"}})]:
        body["context"] = dict(shape_ctx(), **{key: value})
        r = post(d, EVAL, body)
        assert r.status_code == 200 and r.json()["decision"] is False, (key, r.text)
    # a batch item's context replaces the default one (AuthZEN), whole
    ctx = shape_ctx()
    part = {"n": ctx.pop("n"), "rec": ctx.pop("rec")}
    r = post(d, EVALS, {"subject": body["subject"], "action": body["action"],
                        "context": part, "evaluations": [
                            {"resource": body["resource"], "context": shape_ctx()},
                            {"resource": body["resource"], "context": ctx},
                            {"resource": body["resource"]}]})
    assert r.status_code == 200, r.text
    assert [e["decision"] for e in r.json()["evaluations"]] == \
        [True, False, False], r.text
    # what Cedar cannot take is refused as before, with its reason
    for bad, needle in [({"f": 1.5}, "floating-point"),
                        ({"x": {"__extn": {"fn": "nosuch", "arg": "1"}}}, "nosuch")]:
        body["context"] = bad
        r = post(d, EVAL, body)
        assert r.status_code == 400, r.text
        assert needle in r.json()["error_description"], r.text


# Cedar skips a policy whose evaluation errors.  A forbid skipped that way
# would let the caller's data switch a guard rail off (a string where the
# policy compares a number, an attribute left out), so the daemon denies
# such a permit unless policies.on_forbid_error says skip.
GUARDED = """
@id("pay")
permit (principal is User, action == Action::"pay", resource);

@id("large-payment")
forbid (principal, action == Action::"pay", resource)
when { context.amount > 1000 };

@id("external")
forbid (principal, action == Action::"pay", resource)
when { resource.external };

@id("broken-permit")
permit (principal is User, action == Action::"pay", resource)
when { context.nope.nope };
"""


@pytest.mark.parametrize("mode", [None, "deny", "skip"])
def test_erroring_forbid_denies(start_daemon, tmp_path, mode):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(GUARDED)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    cfg = CONFIG
    if mode is not None:
        cfg = cfg.replace("  watch: true\n",
                          "  watch: true\n  on_forbid_error: %s\n" % mode)
    d = start_daemon(cfg)

    def pay(amount, props=None):
        body = req(action="pay", rtype="Account", rid="a1", props=props)
        body["context"] = {"amount": amount}
        r = post(d, EVAL, body, params={})
        assert r.status_code == 200, r.text
        body["evaluations"] = [{}]
        b = post(d, EVALS, body).json()["evaluations"][0]
        j = r.json()
        assert b["decision"] == j["decision"]
        return j["decision"], j["context"]["reason_admin"]

    ok = {"external": False}
    # no error in a forbid: as Cedar says (the erroring permit is listed)
    dec, why = pay(10, ok)
    assert dec is True and why["policies"] == ["pay"]
    assert [e["policy"] for e in why["errors"]] == ["broken-permit"]
    assert pay(5000, ok)[0] is False
    # the amount as text, as an array, as a record: the forbid errors
    for amount in ("5000", [5000], {"v": 5000}):
        dec, why = pay(amount, ok)
        errs = sorted(e["policy"] for e in why["errors"])
        assert errs == ["broken-permit", "large-payment"], why
        if mode == "skip":
            assert dec is True and why["policies"] == ["pay"]
        else:
            assert dec is False and why["policies"] == ["large-payment"]
    # the attribute the forbid reads left out
    dec, why = pay(10, {})
    assert dec is (mode == "skip"), why
    if mode != "skip":
        assert why["policies"] == ["external"]
    # both forbids erroring: both named
    dec, why = pay("x", {})
    if mode != "skip":
        assert dec is False
        assert sorted(why["policies"]) == ["external", "large-payment"]
    assert d.stop() == 0, d.log_text()


CTX_POLICY = """
@id("both")
permit (principal is User, action == Action::"ctx", resource)
when { context has a && context has b && context.a == 1 && context.b == 2 };

@id("flagged")
forbid (principal, action == Action::"ctx", resource)
when { context has deny };
"""


def test_batch_item_context_replaces_the_default(start_daemon, tmp_path):
    # AuthZEN 1.0, "Default values": a key of an item overrides the
    # top-level default; for context that means the whole object
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(CTX_POLICY)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG)
    body = req(action="ctx", rtype="Doc", rid="x")
    body["context"] = {"b": 2, "deny": True}
    body["evaluations"] = [
        {"context": {"a": 1, "b": 2}},    # its own: no "deny" in it
        {},                               # the default: flagged
        {"context": {"a": 1}},            # no "b": the default's is not used
        {"context": {}},                  # empty replaces too
    ]
    r = post(d, EVALS, dict(body, options={"include_context": True}))
    assert r.status_code == 200, r.text
    got = [(e["decision"], e["context"]["reason_admin"]["policies"])
           for e in r.json()["evaluations"]]
    assert got == [(True, ["both"]), (False, ["flagged"]), (False, []),
                   (False, [])]
    assert d.stop() == 0, d.log_text()


def test_search_token_belongs_to_its_query(pdp):
    """AuthZEN 1.0, Pagination: with a token every entity and the limit
    must be the same as before, and a PDP should refuse a changed one; a
    token sent without the limit keeps it."""
    d, _ = pdp
    path = "/access/v1/search/subject"
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "x", "properties": {"owner": "u01"}},
            "context": {"k": 1}}
    j = post(d, path, dict(body, page={"limit": 1})).json()
    tok = j["page"]["next_token"]
    assert j["results"] == [{"type": "User", "id": "root"}] and tok
    # the next page, with the limit and without it, and with an id on
    # the searched subject (ignored, as AuthZEN says)
    want = {"results": [{"type": "User", "id": "u01"}],
            "page": {"next_token": "", "count": 1}}
    assert post(d, path, dict(body, page={"token": tok, "limit": 1})).json() == want
    assert post(d, path, dict(body, page={"token": tok})).json() == want
    odd = dict(body, subject={"type": "User", "id": 5})
    assert post(d, path, dict(odd, page={"token": tok})).json() == want
    # anything else changed: 400
    for changed in (dict(body, context={"k": 2}),
                    dict(body, resource=dict(body["resource"], id="y")),
                    dict(body, resource=dict(body["resource"],
                                             properties={"owner": "u02"})),
                    dict(body, action={"name": "list"})):
        r = post(d, path, dict(changed, page={"token": tok}))
        assert r.status_code == 400, r.text
        assert "another query" in r.json()["error_description"]
    r = post(d, path, dict(body, page={"token": tok, "limit": 2}))
    assert r.status_code == 400 and "another query" in r.text
    r = post(d, "/access/v1/search/resource",
             dict(body, subject={"type": "User", "id": "alice"},
                  resource={"type": "Doc"}, page={"token": tok}))
    assert r.status_code == 400 and "another query" in r.text
    # limits: 0 is the default page, more than 1000 is 1000, 2.0 is 2
    assert len(post(d, path, dict(body, page={"limit": 0})).json()["results"]) == 2
    assert post(d, path, dict(body, page={"limit": 5000})).status_code == 200
    j = post(d, path, dict(body, page={"limit": 1.0})).json()
    assert len(j["results"]) == 1 and j["page"]["next_token"]
    assert post(d, path, dict(body, page={"limit": -1})).status_code == 400
    # an action search ignores an action sent with it
    r = post(d, "/access/v1/search/action",
             {"subject": {"type": "User", "id": "root"}, "action": 5,
              "resource": {"type": "Doc", "id": "x"}})
    assert r.status_code == 200, r.text


def test_search_token_takes_the_same_query_however_written(pdp):
    """AuthZEN 1.0, Pagination: each page's request carries the same
    query; a PEP that writes it again (its objects' members in another
    order, other whitespace, other escapes: the same JSON values, and
    10.1.1 forbids assuming an order of members) still gets the next
    page, not a 400."""
    d, _ = pdp
    path = "/access/v1/search/subject"
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "x",
                         "properties": {"owner": "u01", "tags": ["a", "b"]}},
            "context": {"k": 1, "nested": {"p": True, "q": [1, 2]}}}
    j = post(d, path, dict(body, page={"limit": 1})).json()
    tok = j["page"]["next_token"]
    assert tok
    again = {"context": {"nested": {"q": [1, 2], "p": True}, "k": 1},
             "page": {"token": tok},
             "resource": {"properties": {"tags": ["a", "b"], "owner": "u01"},
                          "id": "x", "type": "Doc"},
             "action": {"name": "read"}, "subject": {"type": "User"}}
    text = json.dumps(again, indent=2).replace('"u01"', '"\\u0075\\u0030\\u0031"')
    r = requests.post(d.url + path, data=text, timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"type": "User", "id": "u01"}]
    # an array's order is part of its value
    changed = json.loads(json.dumps(again))
    changed["resource"]["properties"]["tags"] = ["b", "a"]
    r = post(d, path, changed)
    assert r.status_code == 400 and "another query" in r.text


def test_decision_records_name_the_policy_set_that_decided(start_daemon, tmp_path):
    """Reloads while decisions are in flight: each decision's audit record
    names the version (policy_hash) of the set that made it, not the one in
    force when the record was written.  A permit by everyone-lists (only in
    V2) must carry V2's hash."""
    import sqlite3
    import threading
    heavy = ('\n@id("heavy")\nforbid (principal, action, resource) when { ['
             + ",".join(str(i) for i in range(20000)) + '].contains(-1) };\n')
    rule = ('\n@id("loopback-reloads")\npermit (principal == Delegator::"dev:loopback",'
            ' action == Action::"mandate:reload_policies", resource);\n')
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "policies" / "heavy.cedar").write_text(heavy + rule)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG.replace("  watch: true\n", "  watch: false\n"))
    stop = threading.Event()

    def asker():
        s = requests.Session()
        while not stop.is_set():
            s.post(d.url + EVAL, json=req(action="list"), timeout=30)

    ts = [threading.Thread(target=asker) for _ in range(16)]
    for t in ts:
        t.start()
    for n in range(30):
        (tmp_path / "policies" / "p.cedar").write_text(
            POLICY_V2 if n % 2 == 0 else POLICY_V1)
        assert requests.post(d.url + "/v1/policies/reload", timeout=30).status_code == 200
    stop.set()
    for t in ts:
        t.join()
    assert d.stop() == 0, d.log_text()
    db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"))
    recs = [(t, json.loads(f)) for t, f in db.execute(
        "SELECT type, fields_json FROM audit_events ORDER BY id")]
    db.close()
    # the hashes of the two versions, from the reload records: the
    # version that has everyone-lists is the one whose decisions permit
    hashes = {f["policy_hash"] for t, f in recs if t == "policy.reloaded"}
    assert len(hashes) == 2
    permits = [f for t, f in recs if t == "decision" and f["decision"]]
    denies = [f for t, f in recs if t == "decision" and not f["decision"]]
    assert permits and denies
    v2 = {f["policy_hash"] for f in permits}
    assert len(v2) == 1, v2                      # every permit: V2's hash
    assert all(f["policy_hash"] != next(iter(v2)) for f in denies)


@pytest.mark.parametrize("victim", ["mandate.db", "mandate.db-wal"])
def test_database_removed_under_the_daemon_fails_closed(pdp, victim):
    """A database file or WAL removed while the daemon runs (a mistaken
    cleanup) would take every later record with it, unseen: from then on
    nothing is written, decisions are denies, /readyz says so, and the
    log says to restart."""
    d, tmp_path = pdp
    assert post(d, EVAL, req(props={"owner": "alice"})).json()["decision"] is True
    os.unlink(tmp_path / "data" / victim)
    for _ in range(3):
        r = post(d, EVAL, req(props={"owner": "alice"}))
        assert r.status_code in (200, 500), r.text
        assert r.status_code == 500 or r.json()["decision"] is False, r.text
    assert wait_for(lambda: requests.get(d.url + "/readyz", timeout=5).status_code == 503)
    assert "removed or replaced" in d.log_text()


def test_watch_does_not_load_a_file_caught_mid_rewrite(start_daemon, tmp_path):
    """A policy file rewritten in place (truncated, then written) is empty
    for a moment; an empty file is valid Cedar, so loading it would drop
    its forbids.  The watch loads a change only once the files have stayed
    the same for one interval: a forbid never lapses here."""
    import threading
    forbid = ('@id("no-admin-delete")\nforbid (principal, action == Action::"delete", '
              'resource);\n')
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY_V1)
    (tmp_path / "policies" / "f.cedar").write_text(forbid)
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    d = start_daemon(CONFIG)            # watch: true, reload_interval: 1s
    stop, permitted = threading.Event(), []

    def asker():
        while not stop.is_set():
            if post(d, EVAL, req(subject="root", action="delete")).json()["decision"]:
                permitted.append(time.monotonic())
            time.sleep(0.03)

    t = threading.Thread(target=asker)
    t.start()
    try:
        for _ in range(5):
            (tmp_path / "policies" / "f.cedar").write_text("")
            time.sleep(0.6)
            (tmp_path / "policies" / "f.cedar").write_text(forbid)
            time.sleep(0.6)
    finally:
        stop.set()
        t.join()
    assert permitted == [], "the forbid lapsed %d times" % len(permitted)
    assert d.stop() == 0, d.log_text()


def test_search_answers_only_what_an_evaluation_could_ask(start_daemon, tmp_path):
    """An entity file may hold ids a request cannot carry (empty, with a
    NUL, past 2048 bytes; an action name past 256): no evaluation of them
    can permit, so no search answers them (it did: the PEP got subjects it
    could not ask about)."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        '@id("all")\npermit (principal, action, resource);\n')
    odd = ["", "a\u0000b", "x" * 2049]
    ents = [{"uid": {"type": "User", "id": i}, "attrs": {}, "parents": []}
            for i in odd[:1] + ["ok"] + odd[1:] + ["x" * 2048]]
    ents += [{"uid": {"type": "Action", "id": i}, "attrs": {}, "parents": []}
             for i in ["", "read", "a" * 257, "a\u0000b"]]
    (tmp_path / "entities.json").write_text(json.dumps(ents))
    d = start_daemon(CONFIG)
    body = {"subject": {"type": "User"}, "action": {"name": "read"},
            "resource": {"type": "Doc", "id": "d"}}
    for i in odd:
        r = post(d, EVAL, dict(body, subject={"type": "User", "id": i}))
        assert r.status_code == 400, r.text
    want = [{"type": "User", "id": "ok"}, {"type": "User", "id": "x" * 2048}]
    r = post(d, "/access/v1/search/subject", body)
    assert r.status_code == 200 and r.json()["results"] == want, r.text
    got, tok = [], None
    while True:
        page = {"limit": 1, "token": tok} if tok else {"limit": 1}
        j = post(d, "/access/v1/search/subject", dict(body, page=page)).json()
        got += j["results"]
        tok = j["page"]["next_token"]
        if not tok:
            break
    assert got == want
    r = post(d, "/access/v1/search/action",
             {"subject": {"type": "User", "id": "ok"},
              "resource": {"type": "Doc", "id": "d"}})
    assert r.status_code == 200 and r.json()["results"] == [{"name": "read"}], r.text
    assert d.stop() == 0, d.log_text()
