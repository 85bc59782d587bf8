"""End to end: the OAuth endpoints' edges (RFC 6749, 8414, 8693, 9449).

The daemon and its issuers are those of test_flow.py; these tests look at
how requests that are not quite right are answered: repeated headers,
the order of the token endpoint's checks, refusals that must be audited
and counted, revocations that must be audited, DPoP nonces at the
resource, an issuer URL with a path.
"""
import http.client
import json
import os
import sqlite3
import time
import urllib.parse
import uuid

import pytest
import requests

from test_flow import (AGENT, CONFIG, EXCHANGE, POLICY, TT_JWT, Issuers,
                       _ath, bearer, introspect, jwk, new_task)

jwt = pytest.importorskip("jwt")
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

AUDIT_POLICY = POLICY + """
@id("alice-reads-the-audit-log")
permit (principal == Delegator::"alice", action == Action::"mandate:read_audit",
        resource);
"""


def start(start_daemon, tmp_path, tokens_extra="", issuer=None):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(AUDIT_POLICY)
    cfg = CONFIG.replace("  default_ttl: 5m\n", "  default_ttl: 5m\n" + tokens_extra)
    if issuer is not None:
        cfg = cfg.replace("tokens:\n", "tokens:\n  issuer: %s\n" % issuer)
    return start_daemon(cfg), iss


@pytest.fixture
def oauth(start_daemon, tmp_path):
    return start(start_daemon, tmp_path)


def form(iss, task_id, **extra):
    f = {"grant_type": EXCHANGE, "subject_token": iss.svid(),
         "subject_token_type": TT_JWT,
         "authorization_details": json.dumps([{"type": "mandate_task",
                                               "task_id": task_id}])}
    f.update(extra)
    return {k: v for k, v in f.items() if v is not None}


def proof(key, htu, htm="POST", **kw):
    claims = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu,
              "iat": int(time.time())}
    claims.update(kw)
    return jwt.encode(claims, key, algorithm="ES256",
                      headers={"typ": "dpop+jwt", "jwk": jwk(key, "d")})


def raw(d, method, path, headers, body=b""):
    """A request whose header lines are sent as given (repeats included)."""
    u = urllib.parse.urlsplit(d.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.putrequest(method, path)
    for name, value in headers:
        c.putheader(name, value)
    if body:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body or None)
    r = c.getresponse()
    out = (r.status, r.getheaders(), json.loads(r.read() or b"null"))
    c.close()
    return out


def refused_count(d):
    for line in requests.get(d.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith('mandate_tokens_total{result="refused"}'):
            return int(line.split()[-1])
    return 0


def audited(d, iss, event_type):
    r = requests.get(d.url + "/v1/audit", headers=bearer(iss.person()),
                     params={"type": event_type, "limit": 1000}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def audited_refusals(d, iss):
    return {e["request_id"]: e["fields"] for e in audited(d, iss, "token.refused")}


def test_repeated_dpop_or_authorization_header_refused(oauth):
    """RFC 9449 4.3 check 1: not more than one DPoP header; a repeated
    Authorization is as ambiguous."""
    d, iss = oauth
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    tok = d.url + "/oauth2/token"
    body = urllib.parse.urlencode(form(iss, task["id"])).encode()
    ct = ("Content-Type", "application/x-www-form-urlencoded")
    st, hs, j = raw(d, "POST", "/oauth2/token",
                    [ct, ("DPoP", proof(key, tok)), ("DPoP", proof(key, tok))], body)
    assert (st, j["error"]) == (400, "invalid_dpop_proof")
    assert [v for k, v in hs if k.lower() == "cache-control"] == ["no-store"]
    st, _, j = raw(d, "POST", "/oauth2/token",
                   [ct, ("Authorization", "Basic eDp5"), ("Authorization", "Basic eDp5")],
                   body)
    assert (st, j["error"]) == (400, "invalid_request")
    # one of each is fine
    st, _, j = raw(d, "POST", "/oauth2/token", [ct, ("DPoP", proof(key, tok))], body)
    assert st == 200 and j["token_type"] == "DPoP"
    at = j["access_token"]

    cred = d.url + "/v1/credential"
    good = [("Authorization", "DPoP " + at)]
    st, hs, j = raw(d, "GET", "/v1/credential",
                    good + [("DPoP", proof(key, cred, "GET", ath=_ath(at))),
                            ("DPoP", proof(key, cred, "GET", ath=_ath(at)))])
    assert st == 401 and j["error"] == "invalid_dpop_proof"
    assert 'error="invalid_dpop_proof"' in dict(hs)["WWW-Authenticate"]
    st, _, j = raw(d, "GET", "/v1/credential",
                   good + [("Authorization", "DPoP " + at),
                           ("DPoP", proof(key, cred, "GET", ath=_ath(at)))])
    assert (st, j["error"]) == (400, "invalid_request")
    st, hs, j = raw(d, "GET", "/v1/credential",
                    good + [("DPoP", proof(key, cred, "GET", ath=_ath(at)))])
    assert st == 200, j
    assert len([v for k, v in hs if k.lower() == "cache-control"]) == 1


def test_grant_type_is_checked_first(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    p = proof(key, d.url + "/oauth2/token")
    url = d.url + "/oauth2/token"
    # another grant, with a bad subject token and a proof: only the grant
    r = requests.post(url, data=form(iss, task["id"], grant_type="password",
                                     subject_token="x.y.z"),
                      headers={"DPoP": p}, timeout=5)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    # RFC 6749 5.2: a missing grant_type is invalid_request
    r = requests.post(url, data=form(iss, task["id"], grant_type=None),
                      headers={"DPoP": p}, timeout=5)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    # the proof was not used up by those refusals
    r = requests.post(url, data=form(iss, task["id"]), headers={"DPoP": p}, timeout=5)
    assert r.status_code == 200, r.text


def test_every_token_refusal_is_audited_and_counted(oauth):
    d, iss = oauth
    task = new_task(d, iss)
    url = d.url + "/oauth2/token"
    good = form(iss, task["id"])
    cases = {
        "no-subject-token": dict(data=form(iss, task["id"], subject_token=None)),
        "repeated": dict(data=list(good.items()) + [("scope", "a"), ("scope", "b")]),
        "malformed-form": dict(data="grant_type=%zz",
                               headers={"Content-Type":
                                        "application/x-www-form-urlencoded"}),
        "audiences": dict(data=list(good.items()) +
                          [("audience", "mcp-gateway")] * 17),
        "media-type": dict(json=good),
        "grant": dict(data=form(iss, task["id"], grant_type="password")),
    }
    before = refused_count(d)
    for rid, kw in cases.items():
        headers = dict(kw.pop("headers", {}), **{"X-Request-ID": rid})
        r = requests.post(url, headers=headers, timeout=5, **kw)
        assert r.status_code == 400, (rid, r.text)
        assert r.headers["Cache-Control"] == "no-store"
        if rid == "media-type":
            # RFC 6749 5.2, not 415
            assert r.json()["error"] == "invalid_request"
            assert "x-www-form-urlencoded" in r.json()["error_description"]
    assert refused_count(d) == before + len(cases)
    audited = audited_refusals(d, iss)
    for rid in cases:
        assert rid in audited, rid
    assert audited["audiences"]["error"] == "invalid_target"
    assert audited["grant"]["error"] == "unsupported_grant_type"


def test_credential_asks_for_a_dpop_nonce(start_daemon, tmp_path):
    """RFC 9449 9: with tokens.dpop.nonce, the resource asks for a nonce
    (401 use_dpop_nonce and a DPoP-Nonce) as the token endpoint does."""
    d, iss = start(start_daemon, tmp_path, "  dpop:\n    nonce: true\n")
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    tok = d.url + "/oauth2/token"
    r = requests.post(tok, data=form(iss, task["id"]),
                      headers={"DPoP": proof(key, tok)}, timeout=5)
    assert (r.status_code, r.json()["error"]) == (400, "use_dpop_nonce")
    nonce = r.headers["DPoP-Nonce"]
    r = requests.post(tok, data=form(iss, task["id"]),
                      headers={"DPoP": proof(key, tok, nonce=nonce)}, timeout=5)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    cred = d.url + "/v1/credential"
    r = requests.get(cred, timeout=5, headers={
        "Authorization": "DPoP " + at,
        "DPoP": proof(key, cred, "GET", ath=_ath(at))})
    assert (r.status_code, r.json()["error"]) == (401, "use_dpop_nonce")
    assert 'DPoP ' in r.headers["WWW-Authenticate"]
    assert 'error="use_dpop_nonce"' in r.headers["WWW-Authenticate"]
    nonce = r.headers["DPoP-Nonce"]
    r = requests.get(cred, timeout=5, headers={
        "Authorization": "DPoP " + at,
        "DPoP": proof(key, cred, "GET", ath=_ath(at), nonce=nonce)})
    assert r.status_code == 200, r.text


def test_credential_schemes(start_daemon, tmp_path):
    """RFC 9449 7.1: the DPoP scheme is for bound tokens; RFC 6750 3.1: no
    error code when no credential came; algs are the configured ones."""
    d, iss = start(start_daemon, tmp_path, "  dpop:\n    algorithms: [ES256, PS256]\n")
    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    r = requests.post(d.url + "/oauth2/token", data=form(iss, task["id"]), timeout=5)
    at = r.json()["access_token"]
    assert r.json()["token_type"] == "Bearer"
    cred = d.url + "/v1/credential"
    r = requests.get(cred, timeout=5, headers={
        "Authorization": "DPoP " + at,
        "DPoP": proof(key, cred, "GET", ath=_ath(at))})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert 'algs="ES256 PS256"' in r.headers["WWW-Authenticate"]
    assert requests.get(cred, headers=bearer(at), timeout=5).status_code == 200
    r = requests.get(cred, timeout=5)
    assert r.status_code == 401
    assert "error=" not in r.headers["WWW-Authenticate"]
    assert 'algs="ES256 PS256"' in r.headers["WWW-Authenticate"]
    assert r.json()["error"] != "invalid_request"


@pytest.mark.parametrize("suffix", ["/pdp", "/pdp/"])
def test_issuer_with_a_path(start_daemon, tmp_path, suffix):
    """RFC 8414 3: the metadata of https://host/pdp is at
    /.well-known/oauth-authorization-server/pdp, and what it advertises
    answers; a proof may name the advertised URL or the one requested."""
    d, iss = start(start_daemon, tmp_path, issuer="http://127.0.0.1:@PORT@" + suffix)
    base = d.url + "/pdp"
    meta = requests.get(d.url + "/.well-known/oauth-authorization-server/pdp",
                        timeout=5)
    assert meta.status_code == 200, meta.text
    meta = meta.json()
    assert meta == requests.get(d.url + "/.well-known/oauth-authorization-server",
                                timeout=5).json()
    assert meta["token_endpoint"] == base + "/oauth2/token"
    assert meta["jwks_uri"] == base + "/.well-known/jwks.json"
    for v in meta.values():
        if isinstance(v, str) and v.startswith("http"):
            assert "//" not in v[len("http://"):], v
    assert requests.get(meta["jwks_uri"], timeout=5).json()["keys"]

    task = new_task(d, iss)
    key = ec.generate_private_key(ec.SECP256R1())
    # advertised URL, called there; advertised URL called at the root (a
    # proxy that maps the path); the root URL called at the root
    for url, htu in ((meta["token_endpoint"], meta["token_endpoint"]),
                     (d.url + "/oauth2/token", meta["token_endpoint"]),
                     (d.url + "/oauth2/token", d.url + "/oauth2/token")):
        r = requests.post(url, data=form(iss, task["id"]),
                          headers={"DPoP": proof(key, htu)}, timeout=5)
        assert r.status_code == 200, (url, htu, r.text)
    # a proof for another URL is still refused
    r = requests.post(meta["token_endpoint"], data=form(iss, task["id"]),
                      headers={"DPoP": proof(key, d.url + "/other")}, timeout=5)
    assert r.json()["error"] == "invalid_dpop_proof"
    r = requests.post(meta["token_endpoint"], data=form(iss, task["id"]),
                      headers={"DPoP": proof(key, d.url + "/oauth2/token")},
                      timeout=5)
    assert r.json()["error"] == "invalid_dpop_proof"
    at = requests.post(meta["token_endpoint"], data=form(iss, task["id"]),
                       headers={"DPoP": proof(key, meta["token_endpoint"])},
                       timeout=5).json()["access_token"]
    r = requests.post(meta["introspection_endpoint"], data={"token": at},
                      headers=bearer(iss.person()), timeout=5)
    assert r.json()["active"] is True
    # /v1/credential: the URL requested, or the one under the issuer,
    # called at the root or under the issuer's path
    for url, htu in ((d.url + "/v1/credential", d.url + "/v1/credential"),
                     (d.url + "/v1/credential", base + "/v1/credential"),
                     (base + "/v1/credential", base + "/v1/credential")):
        r = requests.get(url, timeout=5, headers={
            "Authorization": "DPoP " + at,
            "DPoP": proof(key, htu, "GET", ath=_ath(at))})
        assert r.status_code == 200, (url, htu, r.text)
    r = requests.post(meta["revocation_endpoint"], data={"token": at}, timeout=5)
    assert r.status_code == 200
    r = requests.post(meta["introspection_endpoint"], data={"token": at},
                      headers=bearer(iss.person()), timeout=5)
    assert r.json() == {"active": False}


def test_resource_scope_and_metadata_syntax(oauth):
    """RFC 8707 2: resource is an absolute URI (tokens.audience here is
    not one, so it may be asked for as an audience only); RFC 6749 3.3:
    scope words, one space apart; RFC 8414: only the client
    authentication that is implemented is advertised."""
    d, iss = oauth
    task = new_task(d, iss)
    url = d.url + "/oauth2/token"
    r = requests.post(url, data=form(iss, task["id"], audience="mcp-gateway"),
                      timeout=5)
    assert r.status_code == 200, r.text
    for bad in ("mcp-gateway", "https://gw.test/#frag"):
        r = requests.post(url, data=form(iss, task["id"], resource=bad), timeout=5)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_target"), bad
    for bad in ("  ", "read_ticket  send_email", " read_ticket"):
        r = requests.post(url, data=form(iss, task["id"], scope=bad), timeout=5)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_scope"), bad
    r = requests.post(url, data=form(iss, task["id"], scope="read_ticket send_email"),
                      timeout=5)
    assert r.status_code == 200, r.text
    meta = requests.get(d.url + "/.well-known/oauth-authorization-server",
                        timeout=5).json()
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]


def test_introspection_and_revocation_refuse_another_media_type(oauth):
    # RFC 7662 / RFC 7009 errors are RFC 6749 5.2's: invalid_request, 400
    d, iss = oauth
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        r = requests.post(d.url + path, headers=bearer(iss.person()),
                          json={"token": "x"}, timeout=5)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == "invalid_request"
        assert r.headers["Cache-Control"] == "no-store"



def revoked_count(d):
    for line in requests.get(d.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith('mandate_tokens_total{result="revoked"}'):
            return int(line.split()[-1])
    return 0


def test_revocation_is_audited(oauth):
    """RFC 7009: a revocation that takes effect is a change, recorded as
    token.revoked (the credential, never the token) before the 200; one
    that changes nothing is a 200 and leaves no record."""
    d, iss = oauth
    task = new_task(d, iss)
    url = d.url + "/oauth2/revoke"
    r = requests.post(d.url + "/oauth2/token", data=form(iss, task["id"]), timeout=5)
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    claims = introspect(d, iss, at)
    r = requests.post(url, data={"token": at}, headers={"X-Request-ID": "revoke-1"},
                      timeout=5)
    assert (r.status_code, r.content) == (200, b"")
    recs = audited(d, iss, "token.revoked")
    assert len(recs) == 1, recs
    e = recs[0]
    assert (e["request_id"], e["agent"], e["task_id"]) == ("revoke-1", AGENT, task["id"])
    assert e["fields"]["jti"] == claims["jti"]
    assert e["fields"]["exp"] == claims["exp"]
    assert e["fields"]["task_id"] == task["id"]
    assert e["fields"]["policy_hash"]
    text = json.dumps(e)
    assert at not in text and at.split(".")[2] not in text
    assert introspect(d, iss, at) == {"active": False}
    assert revoked_count(d) == 1

    # no-ops are 200 (RFC 7009 2.2) and are not recorded: the same token
    # again, garbage, a token signed by another key, and a token whose
    # credential was already revoked with its task's end
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(dict(claims, jti="forged"), other, algorithm="ES256",
                        headers={"typ": "at+jwt"})
    task2 = new_task(d, iss)
    at2 = requests.post(d.url + "/oauth2/token", data=form(iss, task2["id"]),
                        timeout=5).json()["access_token"]
    r = requests.post(d.url + "/v1/tasks/%s/end" % task2["id"],
                      headers=bearer(iss.person()), timeout=5)
    assert r.status_code == 200, r.text
    for tok in (at, "garbage", forged, at2):
        r = requests.post(url, data={"token": tok}, timeout=5)
        assert (r.status_code, r.content) == (200, b""), tok
    assert len(audited(d, iss, "token.revoked")) == 1
    assert revoked_count(d) == 1


def test_revocation_whose_record_fails(oauth):
    """When the record of a revocation cannot be written, the answer is
    500 server_error; the revocation stands (it only takes access away)."""
    d, iss = oauth
    task = new_task(d, iss)
    at = requests.post(d.url + "/oauth2/token", data=form(iss, task["id"]),
                       timeout=5).json()["access_token"]
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    try:
        db.execute("CREATE TRIGGER test_no_revoked_record BEFORE INSERT ON "
                   "audit_events WHEN NEW.type = 'token.revoked' "
                   "BEGIN SELECT RAISE(ABORT, 'test'); END")
        db.commit()
        r = requests.post(d.url + "/oauth2/revoke", data={"token": at}, timeout=30)
        assert r.status_code == 500, r.text
        assert r.json()["error"] == "server_error"
        assert r.headers["Cache-Control"] == "no-store"
    finally:
        db.execute("DROP TRIGGER test_no_revoked_record")
        db.commit()
        db.close()
    assert "its audit record could not be written" in d.log_text()
    assert introspect(d, iss, at) == {"active": False}
    assert audited(d, iss, "token.revoked") == []


def _thumbprint(key):
    """RFC 7638 thumbprint of an EC P-256 key's public JWK."""
    import base64
    import hashlib
    j = jwk(key, "x")
    canon = json.dumps({"crv": j["crv"], "kty": j["kty"], "x": j["x"], "y": j["y"]},
                       separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()) \
        .rstrip(b"=").decode()


def test_subject_token_bound_or_delegated(start_daemon, tmp_path):
    """A subject token that names who may present it is taken from no one
    else: bound to a DPoP key (cnf.jkt, RFC 9449), it needs this request's
    proof by that key, or a stolen bound token would be exchanged as a
    bearer one; carrying act (RFC 8693 4.1), it was issued to an actor,
    who would drop out of the chain.  Both are invalid_request, audited."""
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(AUDIT_POLICY + """
@id("alice-delegates-to-bot")
permit (principal == Delegator::"alice", action == Action::"mandate:create_task",
        resource == Agent::"bot");
""")
    d = start_daemon(CONFIG)
    r = requests.post(d.url + "/v1/tasks", headers=bearer(iss.person()), timeout=5,
                      json={"agent": "bot", "objective": "o",
                            "intents": [{"action": "read_ticket"}]})
    assert r.status_code == 201, r.text
    task = r.json()["id"]
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    bound = iss.person(sub="bot", cnf={"jkt": _thumbprint(key)})
    tok = d.url + "/oauth2/token"

    def ask(subject, p=None, rid=None):
        f = form(iss, task, subject_token=subject)
        h = {"X-Request-ID": rid} if rid else {}
        if p:
            h["DPoP"] = p
        return requests.post(tok, data=f, headers=h, timeout=5)

    for rid, subject, p in (
            ("bound-no-proof", bound, None),
            ("bound-other-key", bound, proof(other, tok)),
            ("delegated", iss.person(sub="bot", act={"sub": "mallory"}), None),
            ("other-cnf", iss.person(sub="bot", cnf={"x5t#S256": "abc"}),
             proof(key, tok))):
        r = ask(subject, p, rid)
        assert r.status_code == 400, (rid, r.text)
        assert r.json() == {"error": "invalid_request",
                            "error_description": "subject_token unacceptable"}, rid
    refusals = audited_refusals(d, iss)
    for rid in ("bound-no-proof", "bound-other-key", "delegated", "other-cnf"):
        assert refusals[rid]["error"] == "invalid_request", rid
    assert "DPoP-bound" in refusals["bound-no-proof"]["reason"]
    assert "act" in refusals["delegated"]["reason"]
    # the holder of the key, with its proof: a token bound to the same key
    r = ask(bound, proof(key, tok))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    assert introspect(d, iss, r.json()["access_token"])["cnf"]["jkt"] == \
        _thumbprint(key)
    # an unbound token of the same agent is still a plain subject token
    assert ask(iss.person(sub="bot")).status_code == 200
