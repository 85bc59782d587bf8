"""End to end: signing-key rotation through the API and the CLI.

A configured daemon (test issuers from test_flow) with a 1 s publish delay:
rotate, the JWKS shows both keys at once, a token signed before the
rotation still introspects active, and once the delay has passed new
tokens carry the new kid while the old key stays published.
"""
import json
import os
import subprocess
import time

import pytest
import requests

from test_flow import AGENT, Issuers, bearer, exchange, introspect, new_task

jwt = pytest.importorskip("jwt")

POLICY = """
@id("alice-delegates")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent"],
        resource)
when { context.agent.trust_domain == "acme.test" };

@id("alice-manages-keys")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:list_keys", Action::"mandate:rotate_keys"],
        resource == SigningKeys::"default");
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
  publish_delay: 4s
api_auth:
  bearer_issuers: [people]
  open_on_loopback: false
"""


@pytest.fixture
def keyed(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    return start_daemon(CONFIG), iss


def kid_of(token):
    return jwt.get_unverified_header(token)["kid"]


def jwks_kids(d):
    return [k["kid"] for k in
            requests.get(d.url + "/.well-known/jwks.json", timeout=5).json()["keys"]]


def audit_types(d):
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.workdir, "data",
                                                          "mandate.db"), uri=True)
    try:
        return [r[0] for r in db.execute("SELECT type FROM audit_events")]
    finally:
        db.close()


def test_rotation(keyed):
    d, iss = keyed
    task = new_task(d, iss)
    r = exchange(d, iss.svid(), task["id"])
    assert r.status_code == 200, r.text
    old_tok = r.json()["access_token"]
    old_kid = kid_of(old_tok)

    ks = requests.get(d.url + "/v1/keys", headers=bearer(iss.person()), timeout=5)
    assert ks.status_code == 200, ks.text
    assert ks.json()["active_kid"] == old_kid
    assert [k["state"] for k in ks.json()["keys"]] == ["active"]

    rot = requests.post(d.url + "/v1/keys/rotate", headers=bearer(iss.person()),
                        timeout=5)
    assert rot.status_code == 200, rot.text
    new_kid = rot.json()["kid"]
    assert new_kid != old_kid
    # published at once, but the old key still signs
    assert set(jwks_kids(d)) == {old_kid, new_kid}
    assert rot.json()["active_kid"] == old_kid
    # a second rotation while one is in progress (the 4 s publish delay
    # has not passed) is refused
    again = requests.post(d.url + "/v1/keys/rotate", headers=bearer(iss.person()),
                          timeout=5)
    assert again.status_code == 409, again.text

    deadline = time.monotonic() + 20
    while True:
        r = exchange(d, iss.svid(), task["id"])
        assert r.status_code == 200, r.text
        if kid_of(r.json()["access_token"]) == new_kid:
            break
        assert time.monotonic() < deadline, "the new key never signed"
        time.sleep(0.25)
    new_tok = r.json()["access_token"]
    # both keys published; both tokens active
    assert set(jwks_kids(d)) == {old_kid, new_kid}
    assert introspect(d, iss, old_tok)["active"] is True
    assert introspect(d, iss, new_tok)["active"] is True
    states = {k["kid"]: k for k in requests.get(
        d.url + "/v1/keys", headers=bearer(iss.person()), timeout=5).json()["keys"]}
    assert states[new_kid]["state"] == "active"
    assert states[old_kid]["state"] == "retired"
    assert states[old_kid]["published_until"] >= int(time.time()) + 3000
    assert "signing key %s published by alice" % new_kid in d.log_text()
    # the rotation is in the audit table
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.workdir, "data",
                                                          "mandate.db"), uri=True)
    rows = db.execute("SELECT fields_json FROM audit_events WHERE type = ?",
                      ("keys.rotated",)).fetchall()
    db.close()
    assert len(rows) == 1
    f = json.loads(rows[0][0])
    assert f["by"] == "alice" and f["kid"] == new_kid and f["previous_kid"] == old_kid
    assert f["policies"], f          # the policies that allowed it
    # ... and so is the moment the new key started signing (the next
    # maintenance tick records it)
    deadline = time.monotonic() + 10
    while True:
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(
            d.workdir, "data", "mandate.db"), uri=True)
        rows = db.execute("SELECT fields_json FROM audit_events WHERE "
                          "type = 'keys.activated'").fetchall()
        db.close()
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(rows) == 1, rows
    f = json.loads(rows[0][0])
    assert f["kid"] == new_kid and f["previous_kid"] == old_kid


def test_rotation_needs_authorization(keyed):
    d, iss = keyed
    # no caller
    assert requests.post(d.url + "/v1/keys/rotate", timeout=5).status_code == 401
    # a caller the policies do not allow
    r = requests.post(d.url + "/v1/keys/rotate", headers=bearer(iss.person("bob")),
                      timeout=5)
    assert r.status_code == 403, r.text
    r = requests.get(d.url + "/v1/keys", headers=bearer(iss.person("bob")), timeout=5)
    assert r.status_code == 403, r.text
    assert len(jwks_kids(d)) == 1
    assert "keys.rotate_denied" in audit_types(d)


def test_cli_keys(dev):
    from conftest import BIN
    env = dict(os.environ, MANDATE_SERVER=dev.url)
    r = subprocess.run([BIN, "keys", "list"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert len(first["keys"]) == 1
    r = subprocess.run([BIN, "keys", "rotate", "--server", dev.url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    rot = json.loads(r.stdout)
    assert rot["active_kid"] == first["active_kid"]   # 5 min publish delay
    assert {k["state"] for k in rot["keys"]} == {"active", "next"}
    assert set(jwks_kids(dev)) == {first["active_kid"], rot["kid"]}
    r = subprocess.run([BIN, "keys", "rotate"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 1 and "409" in r.stderr


def test_key_file_open_to_group_is_named_with_its_mode(start_daemon, tmp_path):
    """A tokens.key_files file others may read is refused (fail closed),
    and the refusal names the setting, the file and its mode: the key
    directory, which explicit key files do not use, is not what is
    wrong."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    kf = tmp_path / "signing.pem"
    kf.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    cfg = ("data_dir: @DIR@/data\nserver:\n  listen: 127.0.0.1:@PORT@\n"
           "policies:\n  platform: [@DIR@/policies]\n"
           "tokens:\n  key_files: [%s]\n" % kf)
    os.chmod(kf, 0o640)
    d = start_daemon(cfg, ready=False)
    assert d.proc.wait(timeout=30) == 1
    log = d.log_text()
    assert ("signing keys unusable (tokens.key_files: %s: mode 0640: a "
            "private key must not be readable or writable by group or "
            "others (chmod 600)); not starting" % kf) in log, log
    assert "key dir" not in log, log
    os.chmod(kf, 0o600)
    d = start_daemon(cfg)
    kids = jwks_kids(d)
    assert len(kids) == 1, kids
