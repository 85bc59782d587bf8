"""End to end: identity -> task -> credential -> introspection -> end.

A configured daemon trusts two test issuers whose keys this test makes: an
OIDC issuer for people (the delegator "alice") and a SPIFFE trust domain
for agents (JWT-SVIDs), both as key files.  The test then walks the whole
path over HTTP and checks the attacks on it are refused.
"""
import base64
import json
import time
import urllib.parse

import pytest
import requests

from conftest import jwk

jwt = pytest.importorskip("jwt")            # Debian: python3-jwt
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

AGENT = "spiffe://acme.test/agents/triage"
FORM = "application/x-www-form-urlencoded"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT_JWT = "urn:ietf:params:oauth:token-type:jwt"


class Issuers:
    def __init__(self, tmp_path):
        self.people = ec.generate_private_key(ec.SECP256R1())
        self.agents = ec.generate_private_key(ec.SECP256R1())
        self.people_jwks = tmp_path / "people.jwks"
        self.people_jwks.write_text(json.dumps({"keys": [jwk(self.people, "p1")]}))
        self.bundle = tmp_path / "acme.bundle"
        self.bundle.write_text(json.dumps({"keys": [jwk(self.agents, "a1", "jwt-svid")],
                                           "spiffe_refresh_hint": 300}))

    def person(self, sub="alice", **kw):
        now = int(time.time())
        claims = {"iss": "https://people.test", "sub": sub, "aud": "mandate",
                  "iat": now, "exp": now + 300}
        claims.update(kw)
        return jwt.encode(claims, self.people, algorithm="ES256",
                          headers={"kid": "p1"})

    def svid(self, sub=AGENT, key=None, kid="a1", **kw):
        now = int(time.time())
        claims = {"sub": sub, "aud": ["mandate"], "iat": now, "exp": now + 300}
        claims.update(kw)
        return jwt.encode(claims, key or self.agents, algorithm="ES256",
                          headers={"kid": kid})


POLICY = """
@id("alice-delegates")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent"],
        resource)
when { context.agent.trust_domain == "acme.test" };
"""

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
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
  audience: mcp-gateway
  default_ttl: 5m
api_auth:
  bearer_issuers: [people]
  open_on_loopback: false
"""


@pytest.fixture
def flow(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    d = start_daemon(CONFIG)
    return d, iss


@pytest.fixture
def oauth(flow):
    """flow, for tests of the OAuth endpoints."""
    return flow


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def new_task(d, iss, intents=("read_ticket", "send_email")):
    r = requests.post(d.url + "/v1/tasks", headers=bearer(iss.person()), timeout=5,
                      json={"agent": AGENT, "objective": "triage",
                            "intents": [{"action": a} for a in intents]})
    assert r.status_code == 201, r.text
    return r.json()


def exchange(d, subject_token, task_id, actions=None, **extra):
    ad = {"type": "mandate_task", "task_id": task_id}
    if actions is not None:
        ad["actions"] = actions
    form = {"grant_type": EXCHANGE, "subject_token": subject_token,
            "subject_token_type": TT_JWT,
            "authorization_details": json.dumps([ad])}
    form.update(extra)
    return requests.post(d.url + "/oauth2/token", data=form, timeout=5)


def introspect(d, iss, token):
    r = requests.post(d.url + "/oauth2/introspect", headers=bearer(iss.person()),
                      data={"token": token}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_happy_path(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    assert task["delegator"] == "alice"

    r = exchange(d, iss.svid(), task["id"], ["read_ticket"])
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    tok = r.json()
    assert tok["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert tok["token_type"] == "Bearer"
    at = tok["access_token"]
    header = jwt.get_unverified_header(at)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"

    # the token verifies with our published key
    jwks = requests.get(d.url + "/.well-known/jwks.json", timeout=5).json()
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    claims = jwt.decode(at, key.key, algorithms=["ES256"], audience="mcp-gateway")
    assert claims["sub"] == AGENT and claims["task"] == task["id"]
    assert claims["exp"] <= task["expires_at"]

    meta = requests.get(d.url + "/.well-known/oauth-authorization-server",
                        timeout=5).json()
    assert meta["token_endpoint"].endswith("/oauth2/token")

    info = introspect(d, iss, at)
    assert info["active"] is True and info["sub"] == AGENT

    e = requests.post(d.url + "/v1/tasks/%s/end" % task["id"],
                      headers=bearer(iss.person()), timeout=5)
    assert e.status_code == 200 and e.json()["state"] == "ended"
    assert introspect(d, iss, at) == {"active": False}
    # and no new token for an ended task
    assert exchange(d, iss.svid(), task["id"]).json()["error"] == "invalid_grant"

    m = requests.get(d.url + "/metrics", timeout=5).text
    assert 'mandate_tokens_total{result="issued"} 1' in m


def test_cli_token_exchange(oauth):
    import os
    import subprocess
    from conftest import BIN
    d, iss = oauth
    task = new_task(d, iss)
    env = dict(os.environ, MANDATE_SERVER=d.url)
    r = subprocess.run([BIN, "token", "exchange", "--subject-token", iss.svid(),
                        "--task", task["id"], "--action", "read_ticket",
                        "--audience", "mcp-gateway"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    tok = json.loads(r.stdout)
    assert tok["token_type"] == "Bearer"
    assert introspect(d, iss, tok["access_token"])["active"] is True
    r = subprocess.run([BIN, "token", "exchange", "--subject-token", iss.svid(),
                        "--task", task["id"], "--action", "delete_everything"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1 and "invalid_authorization_details" in r.stderr


def test_kill_switch_and_revocation(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    a1 = exchange(d, iss.svid(), task["id"]).json()["access_token"]
    a2 = exchange(d, iss.svid(), task["id"]).json()["access_token"]
    r = requests.post(d.url + "/oauth2/revoke", data={"token": a1}, timeout=5)
    assert r.status_code == 200
    assert introspect(d, iss, a1) == {"active": False}
    assert introspect(d, iss, a2)["active"] is True
    r = requests.post(d.url + "/v1/agents/%s/revoke" % urllib.parse.quote(AGENT, safe=""),
                      headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200, r.text
    assert introspect(d, iss, a2) == {"active": False}


def test_kill_switch_for_the_longest_spiffe_id(oauth):
    # a 2048-byte SPIFFE ID of 1015 segments: 3 KiB more in the kill
    # switch's path, where each '/' is %2F; its credentials die with it
    d, iss = oauth
    agent = "spiffe://acme.test" + "/a" * 1015
    assert len(agent) == 2048
    r = requests.post(d.url + "/v1/tasks", headers=bearer(iss.person()), timeout=5,
                      json={"agent": agent, "objective": "triage",
                            "intents": [{"action": "read_ticket"}]})
    assert r.status_code == 201, r.text
    task = r.json()
    r = exchange(d, iss.svid(sub=agent), task["id"])
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    assert introspect(d, iss, at)["active"] is True
    r = requests.post(d.url + "/v1/agents/%s/revoke" % urllib.parse.quote(agent, safe=""),
                      headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["tasks_revoked"] == 1
    assert introspect(d, iss, at) == {"active": False}
    assert exchange(d, iss.svid(sub=agent), task["id"]).json()["error"] == "invalid_grant"


def test_refusals(oauth):
    d, iss = oauth
    task = new_task(d, iss, intents=("read_ticket",))
    # intents the task does not hold
    r = exchange(d, iss.svid(), task["id"], ["send_email"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_authorization_details"
    # another agent
    r = exchange(d, iss.svid(sub="spiffe://acme.test/agents/other"), task["id"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # forged, expired, wrong audience subject tokens: only "not acceptable"
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in [iss.svid(key=other), iss.svid(exp=int(time.time()) - 600),
                iss.svid(aud=["someone-else"]), iss.svid(kid="nope"),
                iss.svid(sub="spiffe://evil.test/agents/triage"), "x.y.z"]:
        r = exchange(d, bad, task["id"])
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_request",
                            "error_description": "the subject_token is not acceptable"}
    # repeated parameter
    r = requests.post(d.url + "/oauth2/token", timeout=5,
                      data=[("grant_type", EXCHANGE), ("grant_type", EXCHANGE)])
    assert r.status_code == 400
    # a bad DPoP proof
    r = exchange_dpop(d, iss, task["id"], "not.a.proof")
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"


def dpop_proof(key, htu, htm="POST"):
    import uuid
    return jwt.encode({"jti": str(uuid.uuid4()), "htm": htm, "htu": htu,
                       "iat": int(time.time())}, key, algorithm="ES256",
                      headers={"typ": "dpop+jwt", "jwk": jwk(key, "d")})


def exchange_dpop(d, iss, task_id, proof):
    return requests.post(
        d.url + "/oauth2/token", headers={"DPoP": proof}, timeout=5,
        data={"grant_type": EXCHANGE, "subject_token": iss.svid(),
              "subject_token_type": TT_JWT,
              "authorization_details": json.dumps(
                  [{"type": "mandate_task", "task_id": task_id}])})


def test_dpop_bound_token(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    htu = d.url + "/oauth2/token"
    proof = dpop_proof(key, htu)
    r = exchange_dpop(d, iss, task["id"], proof)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    info = introspect(d, iss, r.json()["access_token"])
    assert info["active"] is True and "jkt" in info["cnf"]
    # the same proof again is a replay; a proof for another URL or method fails
    for bad in [proof, dpop_proof(key, d.url + "/other"),
                dpop_proof(key, htu, htm="GET")]:
        r = exchange_dpop(d, iss, task["id"], bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"


def test_api_needs_a_verified_caller(flow):
    d, iss = flow
    body = {"agent": AGENT, "objective": "o", "intents": [{"action": "a"}]}
    r = requests.post(d.url + "/v1/tasks", json=body, timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="mandate"'
    # an agent's SVID is not a delegator (issuer not in bearer_issuers)
    r = requests.post(d.url + "/v1/tasks", json=body, headers=bearer(iss.svid()),
                      timeout=5)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # a person the policies do not know
    r = requests.post(d.url + "/v1/tasks", json=body,
                      headers=bearer(iss.person(sub="mallory")), timeout=5)
    assert r.status_code == 403



def test_delegator_task_life_cycle(flow):
    d, iss = flow
    task = new_task(d, iss)
    assert task["delegator"] == "alice"
    url = d.url + "/v1/tasks/" + task["id"]
    assert requests.get(url, headers=bearer(iss.person()), timeout=5).json() == task
    # another verified person does not see alice's tasks
    assert requests.get(url, headers=bearer(iss.person(sub="bob")),
                        timeout=5).status_code == 404
    # an expired or forged delegator token is refused
    assert requests.get(url, headers=bearer(iss.person(exp=int(time.time()) - 600)),
                        timeout=5).status_code == 401
    r = requests.post(url + "/end", headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "ended"
    r = requests.post(d.url + "/v1/agents/%s/revoke" % urllib.parse.quote(AGENT, safe=""),
                      headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200


def test_introspection_needs_a_caller(oauth):
    d, _ = oauth
    r = requests.post(d.url + "/oauth2/introspect", data={"token": "x"}, timeout=5)
    assert r.status_code == 401


def test_readyz_has_signing_key(oauth):
    d, _ = oauth
    r = requests.get(d.url + "/readyz", timeout=5)
    assert r.status_code == 200


# ---- the attacks of issue 3 on the subject token, each refused ----------

def _b64j(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _unsigned(header, claims, sig=b""):
    return "%s.%s.%s" % (_b64j(header), _b64j(claims),
                         base64.urlsafe_b64encode(sig).rstrip(b"=").decode())


def _svid_claims(**kw):
    now = int(time.time())
    c = {"sub": AGENT, "aud": ["mandate"], "iat": now, "exp": now + 300}
    c.update(kw)
    return c


def test_subject_token_attacks(oauth):
    import hashlib
    import hmac
    from cryptography.hazmat.primitives import serialization
    d, iss = oauth
    task = new_task(d, iss)
    good = iss.svid()
    assert exchange(d, good, task["id"]).status_code == 200

    pub_pem = iss.agents.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": "a1"}
    signing_input = "%s.%s" % (_b64j(hs_header), _b64j(_svid_claims()))
    hs_sig = hmac.new(pub_pem, signing_input.encode(), hashlib.sha256).digest()
    h, p, s = good.split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(p + "=="))
    tampered_claims["sub"] = "spiffe://acme.test/agents/admin"
    attacks = {
        "alg none": _unsigned({"alg": "none", "kid": "a1"}, _svid_claims()),
        "HS256 keyed with the public key": signing_input + "." +
            base64.urlsafe_b64encode(hs_sig).rstrip(b"=").decode(),
        "not yet valid": iss.svid(nbf=int(time.time()) + 3600),
        "expired": iss.svid(exp=int(time.time()) - 3600),
        "wrong aud": iss.svid(aud=["other"]),
        "unknown kid": iss.svid(kid="a2"),
        "tampered payload": "%s.%s.%s" % (h, _b64j(tampered_claims), s),
        "bad SPIFFE ID (dot segment)": iss.svid(sub="spiffe://acme.test/agents/../admin"),
        "bad SPIFFE ID (query)": iss.svid(sub="spiffe://acme.test/agents/x?y=1"),
        "bad SPIFFE ID (upper-case trust domain)": iss.svid(sub="spiffe://ACME.test/agents/x"),
        "other trust domain": iss.svid(sub="spiffe://evil.test/agents/triage"),
        "oversized": iss.svid(pad="x" * 20000),
    }
    for name, tok in attacks.items():
        r = exchange(d, tok, task["id"])
        assert r.status_code == 400, name
        assert r.json() == {"error": "invalid_request",
                            "error_description": "the subject_token is not acceptable"}, name


def test_person_token_attacks_on_tasks_api(flow):
    d, iss = flow
    body = {"agent": AGENT, "objective": "o", "intents": [{"action": "a"}]}
    for name, tok in {
        "wrong iss": iss.person(iss="https://evil.test"),
        "not yet valid": iss.person(nbf=int(time.time()) + 3600),
        "alg none": _unsigned({"alg": "none", "kid": "p1"},
                              {"iss": "https://people.test", "sub": "alice",
                               "aud": "mandate", "exp": int(time.time()) + 300}),
    }.items():
        r = requests.post(d.url + "/v1/tasks", json=body, headers=bearer(tok), timeout=5)
        assert r.status_code == 401, name
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), name


def test_person_token_cannot_stand_in_for_an_agent(oauth):
    """A trusted OIDC issuer (people) whose token's sub is spelled as the
    agent's SPIFFE ID is not that workload: only a SPIFFE issuer of the ID's
    trust domain vouches for it, so the subject token is refused when it is
    verified (and never reaches the task's agent comparison)."""
    d, iss = oauth
    task = new_task(d, iss)
    for sub in (AGENT, AGENT.replace("spiffe:", "SPIFFE:")):
        r = exchange(d, iss.person(sub=sub), task["id"])
        assert r.status_code == 400, sub
        assert r.json() == {"error": "invalid_request",
                            "error_description": "the subject_token is not acceptable"}
    assert "spiffe: subject from a non-SPIFFE issuer" in d.log_text()
    assert exchange(d, iss.svid(), task["id"]).status_code == 200


ORCHESTRATOR = "spiffe://acme.test/orchestrator"

CALLERS_POLICY = POLICY + """
@id("orchestrator-delegates")
permit (principal == Delegator::"%s", action == Action::"mandate:create_task", resource)
when { context.caller.kind == "spiffe" && context.agent.trust_domain == "acme.test" };
""" % ORCHESTRATOR


def test_callers_are_not_confused_across_issuers(start_daemon, tmp_path):
    """API callers from both issuers: a SPIFFE caller (a delegator, a name in
    api_auth.bearer_subjects) cannot be impersonated by a person's token
    with the same sub, and no issuer can mint the open-loopback caller."""
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(CALLERS_POLICY)
    d = start_daemon(CONFIG.replace(
        "  bearer_issuers: [people]\n",
        "  bearer_issuers: [people, agents]\n"
        "  bearer_subjects: [alice, %s, dev:loopback]\n" % ORCHESTRATOR))
    body = {"agent": AGENT, "objective": "o", "intents": [{"action": "a"}]}
    r = requests.post(d.url + "/v1/tasks", json=body,
                      headers=bearer(iss.svid(sub=ORCHESTRATOR)), timeout=5)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["delegator"] == ORCHESTRATOR
    url = d.url + "/v1/tasks/" + task["id"]
    assert requests.get(url, headers=bearer(iss.svid(sub=ORCHESTRATOR)),
                        timeout=5).status_code == 200
    # the people issuer naming the orchestrator: not the delegator, not a
    # bearer subject, not a caller at all
    fake = iss.person(sub=ORCHESTRATOR)
    for method, u, kw in (("GET", url, {}), ("POST", url + "/end", {}),
                          ("POST", d.url + "/v1/tasks", {"json": body})):
        r = requests.request(method, u, headers=bearer(fake), timeout=5, **kw)
        assert r.status_code == 401, (method, u, r.text)
    assert requests.get(url, headers=bearer(iss.svid(sub=ORCHESTRATOR)),
                        timeout=5).json()["state"] == "active"
    # the open-loopback caller's name is nobody's subject
    r = requests.post(d.url + "/v1/tasks", json=body,
                      headers=bearer(iss.person(sub="dev:loopback")), timeout=5)
    assert r.status_code == 401
    assert "reserved for the open loopback caller" in d.log_text()


# ---- using a credential: GET /v1/credential, Bearer and DPoP -------------

def _ath(at):
    import hashlib
    return base64.urlsafe_b64encode(hashlib.sha256(at.encode()).digest()).rstrip(b"=").decode()


def _use_proof(key, url, at, htm="GET", ath=None):
    import uuid
    return jwt.encode({"jti": str(uuid.uuid4()), "htm": htm, "htu": url,
                       "iat": int(time.time()), "ath": ath or _ath(at)},
                      key, algorithm="ES256",
                      headers={"typ": "dpop+jwt", "jwk": jwk(key, "d")})


def test_dpop_proof_shared_by_a_batch_and_a_search(start_daemon, tmp_path):
    """A batch's items (or a search's candidates) that share their
    context's DPoP proof are one request of the agent asked about several
    times: the proof is verified once for the whole request, not refused
    as a replay from the second item on.  Another request with the same
    proof is a replay."""
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY + """
@id("agents-read")
permit (principal, action == Action::"read_ticket", resource)
when { context has task && context.task.intent_match };
""")
    d = start_daemon(CONFIG)
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    r = exchange_dpop(d, iss, task["id"], dpop_proof(key, d.url + "/oauth2/token"))
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    htu = "https://tools.example/tickets"

    def mandate(proof):
        return {"mandate": {"token": at, "dpop": proof, "htm": "POST", "htu": htu}}

    proof = _use_proof(key, htu, at, htm="POST")
    batch = {"subject": {"type": "Agent", "id": AGENT},
             "action": {"name": "read_ticket"}, "context": mandate(proof),
             "evaluations": [{"resource": {"type": "Ticket", "id": "t%d" % i}}
                             for i in range(3)]}
    r = requests.post(d.url + "/access/v1/evaluations", json=batch,
                      headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200, r.text
    assert [e["decision"] for e in r.json()["evaluations"]] == [True] * 3, r.text
    # the same proof in another request: a replay
    r = requests.post(d.url + "/access/v1/evaluations", json=batch,
                      headers=bearer(iss.person()), timeout=5)
    assert [e["decision"] for e in r.json()["evaluations"]] == [False] * 3, r.text
    # a search: every candidate is decided with the one proof
    r = requests.post(d.url + "/access/v1/search/action", headers=bearer(iss.person()),
                      timeout=5, json={
                          "subject": {"type": "Agent", "id": AGENT},
                          "resource": {"type": "Ticket", "id": "t0"},
                          "context": mandate(_use_proof(key, htu, at, htm="POST"))})
    assert r.status_code == 200, r.text
    assert {"name": "read_ticket"} in r.json()["results"], r.text


def test_bearer_credential_use_and_reuse_after_end(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    at = exchange(d, iss.svid(), task["id"], ["read_ticket"]).json()["access_token"]
    url = d.url + "/v1/credential"
    r = requests.get(url, headers=bearer(at), timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["task"] == task["id"] and r.json()["sub"] == AGENT
    assert requests.get(url, timeout=5).status_code == 401
    requests.post(d.url + "/v1/tasks/%s/end" % task["id"], headers=bearer(iss.person()),
                  timeout=5)
    r = requests.get(url, headers=bearer(at), timeout=5)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_dpop_bound_credential_use(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    r = exchange_dpop(d, iss, task["id"], dpop_proof(key, d.url + "/oauth2/token"))
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    url = d.url + "/v1/credential"
    good = _use_proof(key, url, at)
    # a bound token used without a proof, or with the Bearer scheme: refused
    assert requests.get(url, headers={"Authorization": "DPoP " + at},
                        timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer " + at,
                                      "DPoP": _use_proof(key, url, at)},
                        timeout=5).status_code == 401
    # ath of another token, wrong method, wrong URL, another key: refused
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in [_use_proof(key, url, at, ath=_ath("another-token")),
                _use_proof(key, url, at, htm="POST"),
                _use_proof(key, d.url + "/v1/other", at),
                _use_proof(other, url, at)]:
        r = requests.get(url, headers={"Authorization": "DPoP " + at, "DPoP": bad},
                         timeout=5)
        assert r.status_code == 401
    r = requests.get(url, headers={"Authorization": "DPoP " + at, "DPoP": good}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["cnf"]["jkt"]
    # the same proof twice is a replay
    r = requests.get(url, headers={"Authorization": "DPoP " + at, "DPoP": good}, timeout=5)
    assert r.status_code == 401
