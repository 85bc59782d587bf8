"""End-to-end tests of the development instance: its identity keys, the
`mandate dev svid|login` tokens driving the README walkthrough, and a
configured instance that does not trust them.
"""
import base64
import json
import os
import re
import shutil
import stat
import subprocess
import time

import pytest
import requests

from conftest import BIN, ROOT, free_port

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
AGENT = "spiffe://dev.local/agents/demo"


def mandate(*args, cwd=None, env=None):
    return subprocess.run([BIN] + list(args), cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30)


def claims(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def dev_token(d, kind, name, *extra):
    r = mandate("dev", kind, "--agent" if kind == "svid" else "--user", name,
                *extra, cwd=d.workdir)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def create_task(d, person, agent=AGENT):
    return requests.post(d.url + "/v1/tasks", headers=bearer(person), json={
        "agent": agent, "objective": "triage",
        "intents": [{"action": "read_ticket"}]}, timeout=10)


def exchange(d, svid, task_id):
    return requests.post(d.url + "/oauth2/token", data={
        "grant_type": EXCHANGE, "subject_token": svid,
        "subject_token_type": JWT_TYPE,
        "authorization_details": json.dumps(
            [{"type": "mandate_task", "task_id": task_id}])}, timeout=10)


def introspect(d, person, tok):
    r = requests.post(d.url + "/oauth2/introspect", headers=bearer(person),
                      data={"token": tok}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_dev_keys_exist_with_right_modes(start_daemon):
    dev = start_daemon()
    ddir = os.path.join(dev.workdir, "mandate-data", "dev")
    assert stat.S_IMODE(os.stat(ddir).st_mode) == 0o700
    for key in ("spiffe.key.pem", "oidc.key.pem"):
        assert stat.S_IMODE(os.stat(os.path.join(ddir, key)).st_mode) == 0o600
    for pub in ("spiffe-bundle.json", "oidc-jwks.json"):
        with open(os.path.join(ddir, pub)) as f:
            keys = json.load(f)["keys"]
        assert len(keys) == 1 and keys[0]["crv"] == "P-256"
        assert "d" not in keys[0]
    with open(os.path.join(ddir, "instance.json")) as f:
        inst = json.load(f)
    assert inst["audience"] == dev.url
    assert inst["oidc_issuer"] == dev.url + "/dev"
    assert inst["trust_domain"] == "dev.local"
    # a restart keeps the same keys
    with open(os.path.join(ddir, "spiffe.key.pem")) as f:
        before = f.read()
    assert "development issuers" in dev.log_text()
    assert "mandate dev login --user alice" in dev.log_text()
    assert dev.stop() == 0
    again = start_daemon()
    with open(os.path.join(ddir, "spiffe.key.pem")) as f:
        assert f.read() == before
    with open(os.path.join(ddir, "instance.json")) as f:
        assert json.load(f)["audience"] == again.url


def test_dev_tokens_claims(dev):
    svid = claims(dev_token(dev, "svid", "demo"))
    assert svid["sub"] == AGENT and svid["aud"] == dev.url
    assert 299 <= svid["exp"] - svid["iat"] <= 300
    person = claims(dev_token(dev, "login", "alice", "--ttl", "2m"))
    assert person["sub"] == "dev-user:alice"
    assert person["iss"] == dev.url + "/dev"
    assert person["exp"] - person["iat"] == 120


def test_flow_with_dev_tokens(dev):
    alice = dev_token(dev, "login", "alice")
    r = create_task(dev, alice)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["delegator"] == "dev-user:alice"
    # another agent of dev.local cannot use the task; a forged token fails
    r = exchange(dev, dev_token(dev, "svid", "other"), task["id"])
    assert r.json()["error"] == "invalid_grant"
    svid = dev_token(dev, "svid", "demo")
    forged = svid[:-4] + ("AAAA" if not svid.endswith("AAAA") else "BBBB")
    assert exchange(dev, forged, task["id"]).status_code == 400
    endpoint = dev_token(dev, "svid", "demo", "--audience",
                         dev.url + "/oauth2/token")
    assert exchange(dev, endpoint, task["id"]).status_code == 200
    wrong_aud = dev_token(dev, "svid", "demo", "--audience", "elsewhere")
    assert exchange(dev, wrong_aud, task["id"]).status_code == 400
    r = exchange(dev, svid, task["id"])
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    info = introspect(dev, alice, at)
    assert info["active"] is True and info["sub"] == AGENT
    assert info["task"] == task["id"] and info["act"]["sub"] == "dev-user:alice"
    # bob cannot see or end alice's task
    bob = dev_token(dev, "login", "bob")
    r = requests.post(dev.url + "/v1/tasks/%s/end" % task["id"],
                      headers=bearer(bob), json={}, timeout=10)
    assert r.status_code == 404
    r = requests.post(dev.url + "/v1/tasks/%s/end" % task["id"],
                      headers=bearer(alice), json={"reason": "done"}, timeout=10)
    assert r.status_code == 200, r.text
    assert introspect(dev, alice, at) == {"active": False}
    # a person token for an agent outside dev.local: denied by the policies
    r = create_task(dev, alice, "spiffe://acme.test/agents/x")
    assert r.status_code == 403
    # a tampered person token: 401
    assert create_task(dev, alice[:-4] + "AAAA").status_code in (401,)


def readme_blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    out = []
    for tag in ("walkthrough", "walkthrough-curl"):
        blk = text[text.index("<!-- %s:begin -->" % tag):
                   text.index("<!-- %s:end -->" % tag)]
        out.append(re.search(r"```sh\n(.*?)```", blk, re.S).group(1))
    return out


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed")
def test_readme_walkthrough(dev):
    """Exactly the README's commands, against this daemon."""
    script = "\n".join(readme_blocks())
    script = script.replace("http://127.0.0.1:8700", dev.url)
    script = script.replace('export PATH="$PWD/build/src:$PATH"',
                            'export PATH="%s:$PATH"' % os.path.dirname(BIN))
    env = {k: v for k, v in os.environ.items()
           if k not in ("MANDATE_TOKEN", "MANDATE_SERVER")}
    r = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", script],
                       cwd=dev.workdir, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert '"active": true' in out and '"dev-user:alice"' in out
    assert AGENT in out
    assert "\nended\n" in out
    assert '{"active":false}' in out
    # step 6: inside the intent, outside it; step 8: after the end
    decisions = re.findall(r'^\{"decision":(true|false),"id":"[0-9a-f]{32}"\}$',
                           out, re.M)
    assert decisions == ["true", "false", "false"], out
    assert out.rstrip().endswith("true")      # the curl variant


def test_dev_cli_usage_and_refusals(tmp_path):
    r = mandate("dev", "svid", "--help")
    assert r.returncode == 0 and "--agent" in r.stdout
    r = mandate("dev", "login", "--help")
    assert r.returncode == 0 and "--user" in r.stdout
    assert mandate("dev").returncode == 1
    assert mandate("dev", "nope").returncode == 1
    assert mandate("dev", "svid").returncode == 1
    for bad in (["--agent", "../x"], ["--agent", "a/b"], ["--agent", ""],
                ["--agent", "x" * 65], ["--agent", "a", "--ttl", "0"],
                ["--agent", "a", "--ttl", "25h"], ["--agent", "a", "--ttl", "5x"],
                ["--agent", "a", "--bogus", "1"]):
        assert mandate("dev", "svid", *bad, "--data-dir",
                       str(tmp_path)).returncode == 1, bad
    # no development key: a clear message, exit 1
    r = mandate("dev", "svid", "--agent", "a", "--data-dir", str(tmp_path))
    assert r.returncode == 1 and "mandate serve" in r.stderr
    r = mandate("dev", "login", "--user", "a", cwd=str(tmp_path))
    assert r.returncode == 1 and "mandate serve" in r.stderr


CONFIGURED = """
data_dir: @DIR@/mandate-data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/p.cedar]
api_auth:
  open_on_loopback: false
"""


def test_configured_instance_does_not_trust_dev_tokens(start_daemon, tmp_path):
    (tmp_path / "p.cedar").write_text(
        'permit (principal, action == Action::"mandate:create_task", resource);\n')
    # a fresh configured instance has no development keys: dev svid refuses
    conf = start_daemon(CONFIGURED)
    r = mandate("dev", "svid", "--agent", "demo", "--data-dir",
                os.path.join(str(tmp_path), "mandate-data"))
    assert r.returncode == 1 and "no development key" in r.stderr
    assert not os.path.exists(os.path.join(str(tmp_path), "mandate-data", "dev"))
    assert conf.stop() == 0

    # the same data dir once served a development instance: its keys are
    # there, but the configured instance still rejects their tokens
    dev = start_daemon()
    alice = dev_token(dev, "login", "alice")
    svid = dev_token(dev, "svid", "demo")
    assert create_task(dev, alice).status_code == 201
    assert dev.stop() == 0
    conf = start_daemon(CONFIGURED)
    ours = {"Authorization": "Bearer " + alice}
    r = requests.post(conf.url + "/v1/tasks", headers=ours, json={
        "agent": AGENT, "objective": "x",
        "intents": [{"action": "read_ticket"}]}, timeout=10)
    assert r.status_code == 401
    # tokens minted for this instance's address are refused too
    alice2 = dev_token(conf, "login", "alice", "--audience", conf.url)
    r = requests.post(conf.url + "/v1/tasks", headers=bearer(alice2), json={
        "agent": AGENT, "objective": "x",
        "intents": [{"action": "read_ticket"}]}, timeout=10)
    assert r.status_code == 401
    r = exchange(conf, svid, "0" * 32)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "development issuers" not in conf.log_text()


def test_configured_instance_with_dev_enabled(start_daemon, tmp_path):
    """dev.enabled in a configuration file: the development issuers exist
    only when asked for (and only on loopback)."""
    (tmp_path / "p.cedar").write_text(open(os.path.join(
        ROOT, "examples", "policies", "mandate.cedar")).read())
    d = start_daemon(CONFIGURED + "dev:\n  enabled: true\n")
    alice = dev_token(d, "login", "alice")
    assert create_task(d, alice).status_code == 201
    assert create_task(d, "x.y.z").status_code == 401


def test_listen_off_loopback_refused_for_dev_instance(tmp_path):
    """--listen is checked like server.listen: the development instance
    (no file, or dev.enabled) never listens beyond loopback."""
    port = free_port()
    r = mandate("serve", "--listen", "0.0.0.0:%d" % port, cwd=str(tmp_path))
    assert r.returncode == 1
    assert "--listen: error: '0.0.0.0:%d'" % port in r.stderr
    assert "loopback" in r.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_dir: %s/data\ndev: {enabled: true}\n" % tmp_path)
    r = mandate("serve", "--config", str(cfg), "--listen", "0.0.0.0:%d" % port)
    assert r.returncode == 1 and "--listen: error:" in r.stderr
    r = mandate("serve", "--listen", "0.0.0.0:%d" % port, "--print-config",
                cwd=str(tmp_path))
    assert r.returncode == 1 and "loopback" in r.stderr
    assert not os.path.exists(tmp_path / "mandate-data")
    assert not os.path.exists(tmp_path / "data")


def test_listen_override_is_the_default_issuer(start_daemon, tmp_path):
    """A configured instance moved by --listen names itself after where it
    listens (metadata, instance.json), as --print-config says."""
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data_dir: %s/data\ndev: {enabled: true}\n" % tmp_path)
    r = mandate("serve", "--config", str(cfg), "--listen",
                "127.0.0.1:%d" % port, "--print-config")
    assert r.returncode == 0, r.stderr
    assert 'listen: "127.0.0.1:%d"' % port in r.stdout
    assert '  issuer: "http://127.0.0.1:%d"' % port in r.stdout
    assert "8700" not in r.stdout
    proc = subprocess.Popen([BIN, "serve", "--config", str(cfg), "--listen",
                             "127.0.0.1:%d" % port], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        meta = wait_metadata(url, proc)
        assert meta["issuer"] == url
        inst = json.loads((tmp_path / "data" / "dev" / "instance.json").read_text())
        assert inst["url"] == url and inst["oidc_issuer"] == url + "/dev"
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_listen_port_zero_issuer_names_the_bound_port(tmp_path):
    """--listen 127.0.0.1:0: the issuer and instance.json name the port the
    daemon actually listens on, not 0 nor 8700."""
    log = tmp_path / "log"
    with open(log, "w") as f:
        proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0"],
                                cwd=str(tmp_path), stdout=f,
                                stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(200):
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)",
                          log.read_text())
            if m:
                port = int(m.group(1))
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert port and port != 8700, log.read_text()
        url = "http://127.0.0.1:%d" % port
        assert wait_metadata(url, proc)["issuer"] == url
        inst = json.loads((tmp_path / "mandate-data" / "dev" /
                           "instance.json").read_text())
        assert inst["url"] == url
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def wait_metadata(url, proc):
    for _ in range(200):
        assert proc.poll() is None
        try:
            r = requests.get(url + "/.well-known/oauth-authorization-server",
                             timeout=1)
            if r.status_code == 200:
                return r.json()
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError("daemon not ready at " + url)
