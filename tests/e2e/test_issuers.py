"""Several OIDC issuers: a person is (issuer, sub), not sub alone.

A `sub` is unique only within its issuer (OIDC Core 5.7).  The daemon
trusts two people's issuers here, each with its own key pair and JWKS
file: the corporate one without a `subject_prefix` and a partner's with
`subject_prefix: "partner:"`, and both have an `alice`.  The partner's
alice is the principal `partner:alice`: she cannot read, end, name in an
evaluation or act on the corporate alice's task, nor report the outcome of
her decisions, and the policies, `api_auth.bearer_subjects` and the tokens
issued for her own tasks see her by that name.  A configuration with two
OIDC issuers without a prefix does not start at all.
"""
import json
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import jwk

jwt = pytest.importorskip("jwt")            # Debian: python3-jwt
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

AGENT = "spiffe://acme.test/agents/triage"
PARTNER_BOT = "spiffe://acme.test/agents/partner-bot"
CORP = "https://corp.test"
PARTNER = "https://partner.test"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT_JWT = "urn:ietf:params:oauth:token-type:jwt"


class Issuers:
    """Two people's issuers and one SPIFFE trust domain, keys made here."""

    def __init__(self, tmp_path):
        self.keys = {CORP: ec.generate_private_key(ec.SECP256R1()),
                     PARTNER: ec.generate_private_key(ec.SECP256R1())}
        self.agents = ec.generate_private_key(ec.SECP256R1())
        (tmp_path / "corp.jwks").write_text(
            json.dumps({"keys": [jwk(self.keys[CORP], "corp-1")]}))
        (tmp_path / "partner.jwks").write_text(
            json.dumps({"keys": [jwk(self.keys[PARTNER], "partner-1")]}))
        (tmp_path / "acme.bundle").write_text(json.dumps(
            {"keys": [jwk(self.agents, "a1", "jwt-svid")]}))

    def person(self, iss, sub="alice"):
        now = int(time.time())
        kid = "corp-1" if iss == CORP else "partner-1"
        return jwt.encode({"iss": iss, "sub": sub, "aud": "mandate",
                           "iat": now, "exp": now + 300},
                          self.keys[iss], algorithm="ES256", headers={"kid": kid})

    def svid(self, sub=AGENT):
        now = int(time.time())
        return jwt.encode({"sub": sub, "aud": ["mandate"], "iat": now,
                           "exp": now + 300},
                          self.agents, algorithm="ES256", headers={"kid": "a1"})


# The corporate alice may give tasks to any agent of acme.test, the
# partner's only to the partner's bot: had the partner's token been taken
# for "alice", the first permit would let it through.
POLICY = """
@id("corp-alice-delegates")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent"],
        resource)
when { context.agent.trust_domain == "acme.test" };

@id("partner-alice-delegates-to-her-bot")
permit (principal == Delegator::"partner:alice",
        action == Action::"mandate:create_task", resource)
when { context.agent.id == "spiffe://acme.test/agents/partner-bot" &&
       context.caller.issuer == "partner" };

@id("tickets")
permit (principal, action == Action::"read_ticket", resource);

@id("corp-alice-reads-the-audit-log")
permit (principal == Delegator::"alice", action == Action::"mandate:read_audit",
        resource);
"""

ISSUERS = """
identity:
  issuers:
    - name: corp
      kind: oidc
      issuer: https://corp.test
      jwks_file: @DIR@/corp.jwks
      audiences: [mandate]
      algorithms: [ES256]
    - name: partner
      kind: oidc
      issuer: https://partner.test
      jwks_file: @DIR@/partner.jwks
      audiences: [mandate]
      algorithms: [ES256]
@PREFIX@
    - name: agents
      kind: spiffe
      trust_domain: acme.test
      bundle_file: @DIR@/acme.bundle
      audiences: [mandate]
"""

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
""" + ISSUERS.replace("@PREFIX@", '      subject_prefix: "partner:"') + """
tokens:
  audience: tools
api_auth:
  bearer_issuers: [corp, partner]
  bearer_subjects: [alice, "partner:alice", "partner:bob"]
  open_on_loopback: false
"""


@pytest.fixture
def two(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    return start_daemon(CONFIG), iss


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def create_task(d, tok, agent=AGENT):
    return requests.post(d.url + "/v1/tasks", headers=bearer(tok), timeout=5,
                         json={"agent": agent, "objective": "triage",
                               "intents": [{"action": "read_ticket"}]})


def exchange(d, subject_token, task_id, **extra):
    form = {"grant_type": EXCHANGE, "subject_token": subject_token,
            "subject_token_type": TT_JWT, "audience": "tools",
            "authorization_details": json.dumps(
                [{"type": "mandate_task", "task_id": task_id}])}
    form.update(extra)
    return requests.post(d.url + "/oauth2/token", data=form, timeout=5)


def evaluate(d, tok, task_id, agent=AGENT):
    r = requests.post(d.url + "/access/v1/evaluation", headers=bearer(tok), timeout=5,
                      json={"subject": {"type": "Agent", "id": agent},
                            "action": {"name": "read_ticket"},
                            "resource": {"type": "Tool", "id": "tickets"},
                            "context": {"mandate": {"task": task_id}}})
    assert r.status_code == 200, r.text
    return r.json()["decision"], r.json().get("context", {}).get("id")


def audit(d, tok, task_id):
    """{event type: fields} of the task's records."""
    r = requests.get(d.url + "/v1/audit", headers=bearer(tok), timeout=5,
                     params={"task": task_id})
    assert r.status_code == 200, r.text
    return {e["type"]: e["fields"] for e in r.json()["events"]}


def test_same_sub_from_another_issuer_is_another_principal(two):
    d, iss = two
    corp, partner = iss.person(CORP), iss.person(PARTNER)

    r = create_task(d, corp)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["delegator"] == "alice"
    url = d.url + "/v1/tasks/" + task["id"]

    # the partner's alice can neither read nor end it: to her it does not exist
    assert requests.get(url, headers=bearer(partner), timeout=5).status_code == 404
    r = requests.post(url + "/end", headers=bearer(partner), timeout=5,
                      json={"reason": "mine now"})
    assert r.status_code == 404, r.text
    r = requests.get(url, headers=bearer(corp), timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "active"

    # nor name it in an evaluation, nor report on the corporate alice's decisions
    ok, did = evaluate(d, corp, task["id"])
    assert ok is True and did
    ok, _ = evaluate(d, partner, task["id"])
    assert ok is False
    r = requests.post(d.url + "/v1/decisions/%s/outcome" % did, headers=bearer(partner),
                      json={"status": "success", "labels": ["confidential"]}, timeout=5)
    assert r.status_code == 404, r.text

    # nor act for the agent on it: the actor must be the task's delegator
    r = exchange(d, iss.svid(), task["id"], actor_token=partner, actor_token_type=TT_JWT)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = exchange(d, iss.svid(), task["id"], actor_token=corp, actor_token_type=TT_JWT)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["act"] == {"sub": "alice"}

    # the policies see her as partner:alice: the corporate alice's permit
    # does not apply to her, her own does
    assert create_task(d, partner).status_code == 403
    r = create_task(d, partner, agent=PARTNER_BOT)
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["delegator"] == "partner:alice"
    r = exchange(d, iss.svid(PARTNER_BOT), mine["id"])
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["act"] == {"sub": "partner:alice"}
    # ... and her task is not the corporate alice's either
    r = requests.get(d.url + "/v1/tasks/" + mine["id"], headers=bearer(corp), timeout=5)
    assert r.status_code == 404
    r = requests.post(d.url + "/v1/tasks/%s/end" % mine["id"], headers=bearer(partner),
                      json={"reason": "done"}, timeout=5)
    assert r.status_code == 200 and r.json()["state"] == "ended"

    # the kill switch is the corporate alice's alone
    r = requests.post(d.url + "/v1/agents/%s/revoke" % urllib.parse.quote(AGENT, safe=""),
                      headers=bearer(partner), timeout=5)
    assert r.status_code == 403
    assert requests.get(url, headers=bearer(corp), timeout=5).json()["state"] == "active"

    # the audit log says who did what, by principal
    recs = audit(d, corp, task["id"])
    assert recs["task.created"]["by"] == "alice"
    assert recs["task.read_denied"]["by"] == "partner:alice"
    assert recs["task.end_denied"]["by"] == "partner:alice"
    assert recs["task.end_denied"]["delegator"] == "alice"
    recs = audit(d, corp, mine["id"])
    assert recs["task.created"]["by"] == "partner:alice"
    assert recs["task.ended"]["by"] == "partner:alice"
    # and the partner's alice may not read it: the permit is the other alice's
    r = requests.get(d.url + "/v1/audit", headers=bearer(partner), timeout=5)
    assert r.status_code == 403


def test_bearer_subjects_name_principals(two):
    d, iss = two
    tasks = d.url + "/v1/tasks/" + "0" * 32
    # listed: alice of corp, partner:bob; not listed: corp's bob
    assert requests.get(tasks, headers=bearer(iss.person(PARTNER, "bob")),
                        timeout=5).status_code == 404
    assert requests.get(tasks, headers=bearer(iss.person(CORP, "bob")),
                        timeout=5).status_code == 401
    # the issuer without a prefix cannot spell another issuer's principal
    r = requests.get(tasks, headers=bearer(iss.person(CORP, "partner:alice")), timeout=5)
    assert r.status_code == 401
    assert "sub in another issuer's subject_prefix" in d.log_text()
    # nor may anyone be taken for a workload
    r = requests.get(tasks, headers=bearer(iss.person(PARTNER, "spiffe://acme.test/x")),
                     timeout=5)
    assert r.status_code == 401


UNPREFIXED = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/policies]
""" + ISSUERS.replace("@PREFIX@\n", "") + """
api_auth:
  bearer_issuers: [corp, partner]
  open_on_loopback: false
"""


def test_two_oidc_issuers_without_prefix_do_not_start(start_daemon, tmp_path):
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    d = start_daemon(UNPREFIXED, ready=False)
    try:
        code = d.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        # it started: show what that lets the partner's alice do
        d.wait_ready()
        task = create_task(d, iss.person(CORP)).json()
        url = d.url + "/v1/tasks/" + task["id"]
        read = requests.get(url, headers=bearer(iss.person(PARTNER)), timeout=5)
        end = requests.post(url + "/end", headers=bearer(iss.person(PARTNER)),
                            json={"reason": "mine now"}, timeout=5)
        pytest.fail("started with two oidc issuers without subject_prefix: the "
                    "partner's alice read (%d) and ended (%d: %s) the corporate "
                    "alice's task" % (read.status_code, end.status_code,
                                      end.json().get("state")))
    log = d.log_text()
    assert code == 1, log
    # file:line:col at the second issuer, and why
    assert ("mandate.yaml:16:7: error: identity.issuers[1]: oidc issuers 'corp' and "
            "'partner' both lack subject_prefix: the same sub from each would be one "
            "principal; set one, e.g. \"partner:\"") in log, log


# CONFIG with the open loopback caller and no subject allow-list
LOOPBACK_CONFIG = CONFIG.replace(
    '  bearer_subjects: [alice, "partner:alice", "partner:bob"]\n', "").replace(
    "open_on_loopback: false", "open_on_loopback: true")
assert LOOPBACK_CONFIG.count("open_on_loopback: true") == 1
assert "bearer_subjects" not in LOOPBACK_CONFIG


def test_no_issuer_mints_the_loopback_caller_at_the_token_endpoint(start_daemon, tmp_path):
    """`dev:loopback` is nobody's subject (docs/sts.md, "Identities"): the
    issuer without a prefix can write that sub, but its token is no more the
    open loopback caller at the token endpoint than on the API.  Otherwise it
    passes as the delegator of every task the loopback caller created and
    puts that name in the act chain of the agent's token."""
    iss = Issuers(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        'permit (principal == Delegator::"dev:loopback", '
        'action == Action::"mandate:create_task", resource);\n'
        'permit (principal, action == Action::"read_ticket", resource);\n')
    d = start_daemon(LOOPBACK_CONFIG)
    r = requests.post(d.url + "/v1/tasks", timeout=5,
                      json={"agent": AGENT, "objective": "triage",
                            "intents": [{"action": "read_ticket"}]})
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["delegator"] == "dev:loopback"

    forged = iss.person(CORP, sub="dev:loopback")
    # refused as an API caller already
    r = requests.get(d.url + "/v1/tasks/" + task["id"], headers=bearer(forged), timeout=5)
    assert r.status_code == 401, r.text
    # and as the actor or the subject of an exchange
    r = exchange(d, iss.svid(), task["id"], actor_token=forged, actor_token_type=TT_JWT)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = exchange(d, forged, task["id"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert "subject dev:loopback" in d.log_text()
    # the agent alone still gets its token
    r = exchange(d, iss.svid(), task["id"])
    assert r.status_code == 200, r.text
