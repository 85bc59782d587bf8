"""Policy reload from the outside: what a refused reload answers, logs and
records whatever triggered it (POST /v1/policies/reload, SIGHUP), with the
last good set staying in force and decisions keeping its version hash."""
import json
import os
import signal
import threading
import sqlite3
import time

import requests

from conftest import wait_for

RELOAD_RULE = """
@id("platform-loopback-reloads")
permit (principal == Delegator::"dev:loopback",
        action == Action::"mandate:reload_policies", resource == Policies::"default");
"""

PLATFORM = """
@id("platform-read")
permit (principal is User, action == Action::"read", resource);
""" + RELOAD_RULE

MAIL = """
@id("mail-send")
permit (principal is User, action == Action::"send", resource);
"""

ENTITIES = [{"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": []}]

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [@DIR@/platform]
  tool_servers:
    mail: [@DIR@/mail]
  entities: [@DIR@/entities.json]
api_auth:
  open_on_loopback: true
"""


def layout(tmp):
    (tmp / "platform").mkdir()
    (tmp / "mail").mkdir()
    (tmp / "platform" / "p.cedar").write_text(PLATFORM)
    (tmp / "mail" / "m.cedar").write_text(MAIL)
    (tmp / "entities.json").write_text(json.dumps(ENTITIES))


def slow_layout(tmp):
    """layout() with 40,000 entities, which take a load a while to parse
    (about 0.1 s)."""
    layout(tmp)
    many = [{"uid": {"type": "User", "id": "u%d" % i}, "attrs": {},
             "parents": [{"type": "Group", "id": "g%d" % (i % 100)}]}
            for i in range(40000)]
    (tmp / "entities.json").write_text(json.dumps(ENTITIES + many))


def decide(d, action):
    r = requests.post(d.url + "/access/v1/evaluation", timeout=10, json={
        "subject": {"type": "User", "id": "alice"}, "action": {"name": action},
        "resource": {"type": "Doc", "id": "d1"}})
    assert r.status_code == 200, r.text
    return r.json()["decision"]


def records(d, *types):
    db = sqlite3.connect(os.path.join(d.workdir, "data", "mandate.db"), timeout=10)
    try:
        rows = db.execute("SELECT type, fields_json FROM audit_events ORDER BY id"
                          ).fetchall()
    finally:
        db.close()
    return [(t, json.loads(f)) for t, f in rows if not types or t in types]


def hash_in_force(d):
    """The version hash the last decision record carries."""
    assert decide(d, "read") is True
    return records(d, "decision")[-1][1]["policy_hash"]


def reload(d):
    return requests.post(d.url + "/v1/policies/reload", timeout=10)


def test_unreadable_path_is_refused_with_its_diagnostic(start_daemon, tmp_path):
    """A layer directory or an entity file that cannot be read is a refused
    set like any other (422 naming the path, recorded), not the 500 "the
    audit record could not be written" that a failed swap answers."""
    layout(tmp_path)
    d = start_daemon(CONFIG)
    good = hash_in_force(d)
    os.rename(tmp_path / "mail", tmp_path / "mail.away")
    r = reload(d)
    assert r.status_code == 422, r.text
    assert any("mail: error: No such file or directory" in x
               for x in r.json()["diagnostics"]), r.text
    assert hash_in_force(d) == good and decide(d, "send") is True
    os.rename(tmp_path / "mail.away", tmp_path / "mail")
    os.rename(tmp_path / "entities.json", tmp_path / "entities.away")
    os.mkdir(tmp_path / "entities.json")
    r = reload(d)
    assert r.status_code == 422, r.text
    assert any("entities.json: error: Is a directory" in x
               for x in r.json()["diagnostics"]), r.text
    refused = records(d, "policies.reload_refused")
    assert len(refused) == 2, refused
    assert hash_in_force(d) == good
    # the files put back, the next reload takes them
    os.rmdir(tmp_path / "entities.json")
    os.rename(tmp_path / "entities.away", tmp_path / "entities.json")
    (tmp_path / "mail" / "m.cedar").write_text(
        MAIL + '@id("mail-write")\npermit (principal, action == Action::"write", resource);\n')
    r = reload(d)
    assert r.status_code == 200, r.text
    assert decide(d, "write") is True and hash_in_force(d) != good


def metric(d, name):
    text = requests.get(d.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_refused_reload_is_recorded_whatever_asked(start_daemon, tmp_path):
    """A refused reload is an event of the audit log (policy.reload_refused,
    with what asked, why and the diagnostics) for SIGHUP and a file change
    too, as a replacement is (policy.reloaded); and it is counted."""
    layout(tmp_path)
    d = start_daemon(CONFIG)
    good = hash_in_force(d)
    (tmp_path / "mail" / "m.cedar").write_text(MAIL + "forbid (principal, action, resource) when { ;\n")
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: records(d, "policy.reload_refused")), d.log_text()
    [(_, f)] = records(d, "policy.reload_refused")
    assert f["origin"] == "SIGHUP" and f["status"] == "parse error", f
    assert any("m.cedar:4:" in x and "error" in x for x in f["diagnostics"]), f
    assert f["policy_hash"] == good      # the set that stays in force
    assert hash_in_force(d) == good
    r = reload(d)
    assert r.status_code == 422
    refused = records(d, "policy.reload_refused")
    assert len(refused) == 2 and refused[1][1]["origin"].startswith(
        "POST /v1/policies/reload by dev:loopback"), refused
    assert metric(d, 'mandate_policy_reloads_total{result="refused"}') == 2
    (tmp_path / "mail" / "m.cedar").write_text(MAIL)
    assert reload(d).status_code == 200
    assert metric(d, 'mandate_policy_reloads_total{result="reloaded"}') == 1


def test_named_pipe_is_refused_not_waited_on(start_daemon, tmp_path):
    """A named pipe where a policy or entity file is expected would block
    the load in open() until a writer came, holding the reload lock (and,
    for SIGHUP or the file watch, the daemon's main loop): refused."""
    layout(tmp_path)
    d = start_daemon(CONFIG)
    good = hash_in_force(d)
    os.mkfifo(tmp_path / "mail" / "pipe.cedar")
    r = requests.post(d.url + "/v1/policies/reload", timeout=5)
    assert r.status_code == 422, r.text
    assert any("pipe.cedar: error: not a regular file" in x
               for x in r.json()["diagnostics"]), r.text
    os.unlink(tmp_path / "mail" / "pipe.cedar")
    os.rename(tmp_path / "entities.json", tmp_path / "entities.away")
    os.mkfifo(tmp_path / "entities.json")
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: "entities.json: error: not a regular file"
                    in d.log_text()), d.log_text()
    assert hash_in_force(d) == good


def test_files_changing_during_the_load_are_not_put_in_force(start_daemon, tmp_path):
    """The load reads the files one after another: a set read while they
    change may be half one state and half another (new policies with old
    entities), which the files never were.  Such a read is tried again, and
    while the files keep changing the reload is refused."""
    slow_layout(tmp_path)     # the changes below fall inside every read
    d = start_daemon(CONFIG)
    good = hash_in_force(d)
    stop = threading.Event()

    def rewrite():
        i = 0
        while not stop.is_set():
            i += 1
            os.utime(tmp_path / "mail" / "m.cedar", ns=(i * 1000, i * 1000))
    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        r = reload(d)
    finally:
        stop.set()
        writer.join()
    assert r.status_code == 422, r.text
    assert any("changed while they were read" in x
               for x in r.json()["diagnostics"]), r.text
    assert hash_in_force(d) == good
    # once they are still, the same files load
    assert reload(d).status_code == 200


def test_reload_answer_names_the_set_it_put_in_force(start_daemon, tmp_path):
    """The 200 answer says which version is now in force, the hash that
    the policy.reloaded record and every later decision record carry."""
    layout(tmp_path)
    d = start_daemon(CONFIG)
    (tmp_path / "mail" / "m.cedar").write_text(MAIL + "// changed\n")
    r = reload(d)
    assert r.status_code == 200, r.text
    h = r.json()["policy_hash"]
    assert records(d, "policy.reloaded")[-1][1]["policy_hash"] == h
    assert hash_in_force(d) == h


def test_a_burst_of_sighups_is_one_reload(start_daemon, tmp_path):
    """SIGHUPs that arrive while a reload runs all ask for the files as
    they are after it: one more reload answers them all.  Taken one by one
    they queued a reload each (the self-pipe holds thousands), each
    recorded, with a SIGTERM waiting behind all of them."""
    slow_layout(tmp_path)
    d = start_daemon(CONFIG)
    for _ in range(40):
        os.kill(d.proc.pid, signal.SIGHUP)
        time.sleep(0.002)
    assert wait_for(lambda: records(d, "policy.reloaded"))
    time.sleep(0.5)                 # what is still queued would run now
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(timeout=10)
    n = len(records(d, "policy.reloaded"))
    assert 1 <= n <= 3, n


def test_an_empty_layer_directory_is_said(start_daemon, tmp_path):
    """A layer directory that holds no policy file (emptied by a deploy
    that removes before it copies, a volume not mounted yet) is a valid,
    smaller set, and its forbids are gone: the reload says so, in the
    answer and the log, as it does for what it does not read."""
    layout(tmp_path)
    d = start_daemon(CONFIG)
    os.unlink(tmp_path / "mail" / "m.cedar")
    r = reload(d)
    assert r.status_code == 200, r.text
    w = r.json().get("warnings", [])
    assert any("mail: warning: no .cedar file" in x for x in w), r.text
    assert "mail: warning: no .cedar file" in d.log_text()
    assert decide(d, "send") is False


def test_the_watch_does_not_replace_a_set_by_itself(start_daemon, tmp_path):
    """A file change that leaves the set as it is (a touch, the same text
    written again, an editor's file that is not read) replaces nothing and
    records nothing; a real change is put in force and recorded; SIGHUP,
    which someone asked for, always is."""
    layout(tmp_path)
    cfg = CONFIG.replace("  entities:", "  watch: true\n  reload_interval: 1s\n  entities:")
    d = start_daemon(cfg)
    first = hash_in_force(d)
    assert records(d, "policy.reloaded") == []
    m = tmp_path / "mail" / "m.cedar"
    # the same text, written again, and a touch: the watch sees them
    m.write_text(MAIL)
    os.utime(m, ns=(10**9, 10**9))
    (tmp_path / "mail" / ".m.cedar.swp").write_text("editor state")
    assert wait_for(lambda: 'result="unchanged"' in
                    requests.get(d.url + "/metrics", timeout=10).text)
    assert records(d, "policy.reloaded") == []
    assert hash_in_force(d) == first
    # a real change: replaced and recorded
    m.write_text(MAIL + "// changed\n")
    assert wait_for(lambda: records(d, "policy.reloaded"))
    changed = records(d, "policy.reloaded")[-1][1]["policy_hash"]
    assert changed != first and hash_in_force(d) == changed
    # SIGHUP with nothing changed: still a reload, recorded
    os.kill(d.proc.pid, signal.SIGHUP)
    assert wait_for(lambda: len(records(d, "policy.reloaded")) == 2)
