"""The tamper-evident audit log, end to end (docs/audit.md).

The real daemon makes audit events (tasks, token exchanges); its signed
checkpoints and RFC 9162 proofs are checked here with an independent
implementation of the RFC's verification algorithms and of the record
encoding.  Then the daemon is stopped and the database file is tampered
with directly (sqlite3), one kind of tampering per copy: `mandate audit
verify` must fail and name the record, and pass on an untouched copy.
"""
import base64
import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import threading
import time

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import BIN

AGENT = "spiffe://dev.local/agents/demo"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def mandate(*args, cwd=None):
    return subprocess.run([BIN] + list(args), cwd=cwd, capture_output=True,
                          text=True, timeout=60)


# --- RFC 9162 section 2.1, written from the RFC's text -------------------

def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, proof):
    if first == second:
        return not proof and first_hash == second_hash
    if first > second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# --- the record encoding (docs/audit.md) ---------------------------------

def leaf_hash(row):
    """row: (id, time, type, request_id, agent, task_id, fields_json)."""
    def s(v):
        b = v.encode()
        return struct.pack(">I", len(b)) + b
    enc = (s("mandate.audit.record.v1") + struct.pack(">qq", row[0], row[1])
           + b"".join(s(v) for v in row[2:]))
    return hashlib.sha256(b"\x00" + enc).digest()


def verify_checkpoint(jws, jwk):
    h, p, sig = jws.split(".")
    header = json.loads(b64d(h))
    assert header["alg"] == "ES256" and header["typ"] == "mandate-checkpoint+jws"
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(jwk["x"]), "big"),
        int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    raw = b64d(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                               int.from_bytes(raw[32:], "big"))
    pub.verify(der, (h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    return json.loads(b64d(p))


# --- making a log ----------------------------------------------------------

def make_events(d, n_tasks):
    ids = []
    for i in range(n_tasks):
        r = requests.post(d.url + "/v1/tasks", timeout=10, json={
            "agent": AGENT, "objective": "audit test %d" % i,
            "intents": [{"action": "read_ticket"}]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    svid = mandate("dev", "svid", "--agent", "demo", cwd=d.workdir)
    assert svid.returncode == 0, svid.stderr
    for tid in ids[:2]:
        r = requests.post(d.url + "/oauth2/token", timeout=10, data={
            "grant_type": EXCHANGE, "subject_token": svid.stdout.strip(),
            "subject_token_type": JWT_TYPE,
            "authorization_details": json.dumps(
                [{"type": "mandate_task", "task_id": tid}])})
        assert r.status_code == 200, r.text
    return ids


def checkpoint(d):
    r = requests.get(d.url + "/v1/audit/checkpoint", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_checkpoints_and_proofs(dev):
    r = requests.get(dev.url + "/v1/audit/checkpoint", timeout=10)
    # only the start-up records (config.loaded, policy.loaded) so far
    assert r.status_code == 200, r.text
    assert r.json()["size"] == 2
    make_events(dev, 3)
    c1 = checkpoint(dev)
    make_events(dev, 4)
    c2 = checkpoint(dev)
    assert c2["size"] > c1["size"] >= 4
    for c in (c1, c2):
        payload = verify_checkpoint(c["checkpoint"], c["public_jwk"])
        assert payload == {"log": "mandate.audit.v1", "size": c["size"],
                           "root": c["root"], "time": c["time"]}
    # the published key file is the one that signs
    with open(os.path.join(dev.workdir, "mandate-data", "audit",
                           "checkpoint-key.jwk")) as f:
        assert json.load(f)["x"] == c2["public_jwk"]["x"]
    # a tampered signature does not verify with the independent checker
    h, p, s = c2["checkpoint"].split(".")
    bad = b64d(s)
    bad = bytes([bad[0] ^ 1]) + bad[1:]
    try:
        verify_checkpoint(".".join([h, p, base64.urlsafe_b64encode(bad)
                                    .rstrip(b"=").decode()]), c2["public_jwk"])
        assert False, "a changed signature verified"
    except InvalidSignature:
        pass

    # every record's inclusion in both trees, against the signed roots
    db = sqlite3.connect(os.path.join(dev.workdir, "mandate-data", "mandate.db"))
    rows = db.execute("SELECT id, time, type, request_id, agent, task_id,"
                      " fields_json FROM audit_events ORDER BY id").fetchall()
    db.close()
    # the API gives what the leaf needs as stored (fields_json byte for
    # byte; fields, parsed, for reading), so an auditor without the
    # database recomputes the same leaves
    got = requests.get(dev.url + "/v1/audit", params={"limit": 1000},
                       timeout=10).json()["events"]
    assert len(got) == len(rows)
    for e, row in zip(got, rows):
        assert leaf_hash((e["id"], e["time"], e["type"], e["request_id"],
                          e["agent"], e["task_id"], e["fields_json"])) == leaf_hash(row)
        assert e["fields"] == json.loads(e["fields_json"])
    for c in (c1, c2):
        root = b64d(c["root"])
        for i in range(c["size"]):
            r = requests.get(dev.url + "/v1/audit/proof/inclusion", timeout=10,
                             params={"index": i, "size": c["size"]})
            assert r.status_code == 200, r.text
            j = r.json()
            assert j["event_id"] == rows[i][0]
            assert b64d(j["leaf_hash"]) == leaf_hash(rows[i])
            assert b64d(j["root"]) == root
            proof = [b64d(x) for x in j["proof"]]
            assert verify_inclusion(i, c["size"], leaf_hash(rows[i]), proof, root)
            if proof:
                proof[-1] = bytes(32)
                assert not verify_inclusion(i, c["size"], leaf_hash(rows[i]),
                                            proof, root)
    # consistency between the two signed heads, and every smaller size
    r = requests.get(dev.url + "/v1/audit/proof/consistency", timeout=10,
                     params={"from": c1["size"], "to": c2["size"]})
    assert r.status_code == 200, r.text
    j = r.json()
    assert b64d(j["from_root"]) == b64d(c1["root"])
    assert b64d(j["to_root"]) == b64d(c2["root"])
    proof = [b64d(x) for x in j["proof"]]
    assert verify_consistency(c1["size"], c2["size"], b64d(c1["root"]),
                              b64d(c2["root"]), proof)
    assert not verify_consistency(c1["size"], c2["size"], b64d(c1["root"]),
                                  b64d(c2["root"]), proof[:-1])
    for m in range(1, c2["size"] + 1):
        j = requests.get(dev.url + "/v1/audit/proof/consistency", timeout=10,
                         params={"from": m, "to": c2["size"]}).json()
        assert verify_consistency(m, c2["size"], b64d(j["from_root"]),
                                  b64d(c2["root"]),
                                  [b64d(x) for x in j["proof"]])

    # bad parameters: 400 with a reason, nothing else
    for path, params in [
            ("inclusion", {"index": 0}),
            ("inclusion", {"index": "-1", "size": 2}),
            ("inclusion", {"index": "x", "size": 2}),
            ("inclusion", {"index": 2, "size": 2}),
            ("inclusion", {"index": 0, "size": 0}),
            ("inclusion", {"index": 0, "size": 10 ** 6}),
            ("inclusion", {"index": "1" * 40, "size": 2}),
            ("consistency", {"from": 0, "to": 2}),
            ("consistency", {"from": 3, "to": 2}),
            ("consistency", {"from": 1, "to": 10 ** 6}),
            ("consistency", {"to": 2})]:
        r = requests.get(dev.url + "/v1/audit/proof/" + path, params=params,
                         timeout=10)
        assert r.status_code == 400, (path, params, r.text)
        assert r.json()["error"] == "invalid_request"
        assert r.json()["error_description"]
    # values past the log, however long, are refused as such
    for path, params, why in [
            ("inclusion", {"index": 0, "size": 2 ** 63 - 1}, "size is larger"),
            ("inclusion", {"index": 0, "size": "9" * 30}, "size is larger"),
            ("inclusion", {"index": "9" * 30, "size": "9" * 31},
             "size is larger"),
            ("inclusion", {"index": "9" * 30, "size": 2}, "index must be smaller"),
            ("consistency", {"from": 1, "to": 2 ** 63 - 1}, "to is larger"),
            ("consistency", {"from": "9" * 30, "to": "9" * 30}, "to is larger")]:
        r = requests.get(dev.url + "/v1/audit/proof/" + path, params=params,
                         timeout=10)
        assert r.status_code == 400, (path, params, r.text)
        assert why in r.json()["error_description"], (params, r.text)
    # leading zeros are a decimal integer like any other
    r = requests.get(dev.url + "/v1/audit/proof/inclusion", timeout=10,
                     params={"index": "00000000000000000001",
                             "size": "0000000000000000000000002"})
    assert r.status_code == 200, r.text
    assert (r.json()["index"], r.json()["size"]) == (1, 2)
    r = requests.get(dev.url + "/v1/audit/proof/consistency", timeout=10,
                     params={"from": "0001", "to": "00000000000000000002"})
    assert r.status_code == 200, r.text


def test_proofs_of_records_just_read(dev):
    """A record that GET /v1/audit has shown can be proved at once: the
    store's tree head is published just after the commit that makes the
    record readable, and a proof asked for in between used to be refused
    as "larger than the audit log" (a tenth of the rounds at a few
    thousand records a second)."""
    stop = threading.Event()

    def write():
        with requests.Session() as s:
            while not stop.is_set():
                s.post(dev.url + "/access/v1/evaluation", timeout=10, json={
                    "subject": {"type": "Agent", "id": "a"},
                    "action": {"name": "read_ticket"},
                    "resource": {"type": "Ticket", "id": "t"}})

    writers = [threading.Thread(target=write) for _ in range(2)]
    for t in writers:
        t.start()
    refused, rounds = [], 0
    try:
        with requests.Session() as s:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and rounds < 600:
                rounds += 1
                e = s.get(dev.url + "/v1/audit", timeout=10,
                          params={"order": "desc", "limit": 1}).json()["events"][0]
                # ids are dense from 1: record id N is leaf N - 1
                r = s.get(dev.url + "/v1/audit/proof/inclusion", timeout=10,
                          params={"index": e["id"] - 1, "size": e["id"]})
                if r.status_code != 200:
                    refused.append(r.text)
                    continue
                assert r.json()["event_id"] == e["id"]
                r = s.get(dev.url + "/v1/audit/proof/consistency", timeout=10,
                          params={"from": 1, "to": e["id"]})
                if r.status_code != 200:
                    refused.append(r.text)
    finally:
        stop.set()
        for t in writers:
            t.join()
    assert rounds >= 50
    assert not refused, "%d of %d rounds refused: %s" % (
        len(refused), rounds, refused[0])
    # a size past the log is still refused
    e = requests.get(dev.url + "/v1/audit", timeout=10,
                     params={"order": "desc", "limit": 1}).json()["events"][0]
    r = requests.get(dev.url + "/v1/audit/proof/inclusion", timeout=10,
                     params={"index": 0, "size": e["id"] + 1000})
    assert r.status_code == 400 and "size is larger" in r.text, r.text


def verify(data_dir, *extra):
    return mandate("audit", "verify", "--data-dir", data_dir, *extra)


def tampered_copy(src, dst, *sql, fn=None):
    shutil.copytree(src, dst)
    db = sqlite3.connect(os.path.join(dst, "mandate.db"))
    # the attacker first drops the append-only triggers
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type ="
                              " 'trigger'").fetchall():
        db.execute('DROP TRIGGER "%s"' % name)
    for s in sql:
        db.execute(s)
    if fn is not None:
        fn(db)
    db.commit()
    db.close()
    return dst


def test_tampering_is_detected(start_daemon, tmp_path):
    d = start_daemon()
    data = os.path.join(d.workdir, "mandate-data")
    make_events(d, 3)
    mid = checkpoint(d)
    # an old state of the database, to roll back to later
    old = str(tmp_path / "old")
    os.mkdir(old)
    src = sqlite3.connect(os.path.join(data, "mandate.db"))
    dst = sqlite3.connect(os.path.join(old, "mandate.db"))
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copytree(os.path.join(data, "audit"), os.path.join(old, "audit"))
    make_events(d, 4)
    assert d.stop() == 0                  # the final checkpoint is made
    r = mandate("audit", "checkpoint", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    saved = str(tmp_path / "saved.jsonl")   # kept out of the daemon's reach
    with open(saved, "w") as f:
        f.write(r.stdout)
    last = json.loads(r.stdout)
    key = str(tmp_path / "audit-key.jwk")
    shutil.copy(os.path.join(data, "audit", "checkpoint-key.jwk"), key)

    db = sqlite3.connect(os.path.join(data, "mandate.db"))
    n = db.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    assert db.execute("SELECT max(id) FROM audit_events").fetchone()[0] == n
    stored = db.execute("SELECT tree_size FROM audit_checkpoints").fetchall()
    db.close()
    assert last["size"] == n and n >= 10
    assert (mid["size"],) in stored and (n,) in stored

    # untouched: verifies, also against the saved checkpoint
    r = verify(data, "--key", key, "--checkpoint", saved)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified: %d records" % n in r.stdout
    # the same line as a store that formats its JSON keeps it
    spaced = str(tmp_path / "saved-spaced.jsonl")
    with open(spaced, "w") as f:
        f.write(json.dumps(last, indent=None) + "\n")
    r = verify(data, "--key", key, "--checkpoint", spaced)
    assert r.returncode == 0, r.stdout + r.stderr

    t = str(tmp_path)
    cols = "time, type, request_id, agent, task_id, fields_json"

    def shift_and_insert(db):
        db.execute("UPDATE audit_events SET id = id + 1000 WHERE id >= 5")
        db.execute("UPDATE audit_events SET id = id - 999 WHERE id >= 1005")
        db.execute("INSERT INTO audit_events (id, %s) VALUES (5, 1, 'task.created',"
                   " 'r', 'agent', '', '{}')" % cols)

    def swap(db):
        a = db.execute("SELECT %s FROM audit_events WHERE id = 2" % cols).fetchone()
        b = db.execute("SELECT %s FROM audit_events WHERE id = 3" % cols).fetchone()
        for rid, row in ((2, b), (3, a)):
            db.execute("UPDATE audit_events SET time=?, type=?, request_id=?,"
                       " agent=?, task_id=?, fields_json=? WHERE id=?", row + (rid,))

    def rewrite_with_leaf(db):
        # a careful attacker recomputes the leaf too: only the signed
        # checkpoints can tell
        db.execute("UPDATE audit_events SET fields_json = '{\"by\":\"nobody\"}'"
                   " WHERE id = 3")
        row = db.execute("SELECT id, %s FROM audit_events WHERE id = 3"
                         % cols).fetchone()
        db.execute("UPDATE audit_leaves SET leaf_hash = ? WHERE event_id = 3",
                   (leaf_hash(row),))

    MAX = 2 ** 63 - 1
    forged = ("1795944950, 'agent.revoked', 'r', 'spiffe://dev.local/agents/evil',"
              " '', '{\"by\":\"dev:loopback\",\"reason\":\"forged\"}'")

    def at_max_id(db, extra_leaf=False):
        # a record of the largest id, with the leaf it should have: the
        # record pages must end there (no id follows INT64_MAX)
        row = (MAX, 1795945000, "task.created", "r", "a", "t", "{}")
        db.execute("INSERT INTO audit_events (id, %s) VALUES (?,?,?,?,?,?,?)"
                   % cols, row)
        db.execute("INSERT INTO audit_leaves VALUES (?, ?, ?)",
                   (n, MAX, leaf_hash(row)))
        if extra_leaf:
            db.execute("INSERT INTO audit_leaves VALUES (?, ?, ?)",
                       (n + 1, MAX, bytes(32)))

    def not_strict(db, blob_id=None):
        # rebuilt without STRICT, same columns: then the same bytes can be
        # stored as a blob (same leaf), which the filters' text equality
        # does not match
        db.execute("ALTER TABLE audit_events RENAME TO ae_old")
        db.execute("CREATE TABLE audit_events (id INTEGER PRIMARY KEY, time"
                   " INTEGER NOT NULL, type TEXT NOT NULL, request_id TEXT"
                   " NOT NULL, agent TEXT NOT NULL, task_id TEXT NOT NULL,"
                   " fields_json TEXT NOT NULL)")
        db.execute("INSERT INTO audit_events SELECT * FROM ae_old ORDER BY id")
        db.execute("DROP TABLE ae_old")
        if blob_id is not None:
            db.execute("UPDATE audit_events SET agent = CAST(agent AS BLOB),"
                       " task_id = CAST(task_id AS BLOB), type = CAST(type AS"
                       " BLOB) WHERE id = ?", (blob_id,))

    cases = [
        ("blob-columns", [], lambda db: not_strict(db, 6),
         "record id 6 (leaf 5): its type is stored as blob, not as text"),
        ("not-strict", [], not_strict,
         "table audit_events is not a STRICT table"),
        ("negative-id", ["INSERT INTO audit_events (id, %s) VALUES (-1, %s)"
                         % (cols, forged)], None,
         "record id -1 is not part of the log"),
        ("id-zero", ["INSERT INTO audit_events (id, %s) VALUES (0, %s)"
                     % (cols, forged)], None, "record id 0 is not part of the log"),
        ("max-id-then-leaf", [], lambda db: at_max_id(db, True),
         "record id %d (leaf %d) is missing" % (MAX, n + 1)),
        ("changed", ["UPDATE audit_events SET fields_json = '{\"x\":1}' WHERE id = 3"],
         None, "record id 3 (leaf 2) does not match"),
        ("deleted", ["DELETE FROM audit_events WHERE id = 4"], None,
         "record id 4 (leaf 3) is missing"),
        ("inserted-middle", [], shift_and_insert, "record id 5 (leaf 4) does not match"),
        ("inserted-end", ["INSERT INTO audit_events (%s) VALUES (1, 'task.created',"
                          " 'r', 'agent', '', '{}')" % cols], None,
         "record id %d has no leaf" % (n + 1)),
        ("reordered", [], swap, "record id 2 (leaf 1) does not match"),
        ("truncated", ["DELETE FROM audit_events WHERE id > %d" % (n - 2)], None,
         "record id %d (leaf %d) is missing" % (n - 1, n - 2)),
        ("truncated-with-leaves", ["DELETE FROM audit_events WHERE id > %d" % (n - 3),
                                   "DELETE FROM audit_leaves WHERE idx >= %d" % (n - 3)],
         None, "covers %d records but the log has only %d" % (n, n - 3)),
        ("rewritten-with-leaf", [], rewrite_with_leaf,
         "a record among ids 1..%d" % mid["size"]),
        ("leaf-deleted", ["DELETE FROM audit_leaves WHERE idx = 7"], None,
         "leaf 7 is missing from the tree"),
        ("checkpoint-forged", ["UPDATE audit_checkpoints SET root_hash ="
                               " zeroblob(32) WHERE tree_size = %d" % n], None,
         "stored checkpoint of size %d: the stored size or root differs" % n),
        ("checkpoint-time", ["UPDATE audit_checkpoints SET time = 42"
                             " WHERE tree_size = %d" % n], None,
         "stored checkpoint of size %d: the stored time 42 differs from the"
         " signed one (%d)" % (n, last["time"])),
    ]
    for name, sql, fn, want in cases:
        copy = tampered_copy(data, os.path.join(t, name), *sql, fn=fn)
        r = verify(copy, "--key", key)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert want in r.stdout, (name, r.stdout)

    # `mandate audit checkpoint` prints the signed fields, not the
    # table's copies, and says that they differ
    r = mandate("audit", "checkpoint", "--data-dir",
                os.path.join(t, "checkpoint-time"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert json.loads(r.stdout) == last
    assert "differs from what it signed" in r.stderr

    # a forged record of negative id fails with the saved checkpoint too
    r = verify(os.path.join(t, "negative-id"), "--key", key, "--checkpoint",
               saved)
    assert r.returncode == 2 and "record id -1 " in r.stdout, r.stdout
    # a record of id INT64_MAX that matches its leaf is checked like any
    # record after the last checkpoint (against its leaf only)
    copy = tampered_copy(data, os.path.join(t, "max-id"), fn=at_max_id)
    r = verify(copy, "--key", key)
    assert r.returncode == 0, r.stdout
    assert "verified: %d records" % (n + 1) in r.stdout
    assert "the last 1 records are not yet covered" in r.stdout

    # truncation of everything (records, leaves and checkpoints) is
    # caught by the checkpoint file the daemon keeps beside the database
    # by default ...
    copy = tampered_copy(data, os.path.join(t, "truncated-all"),
                         "DELETE FROM audit_events WHERE id > 5",
                         "DELETE FROM audit_leaves WHERE idx >= 5",
                         "DELETE FROM audit_checkpoints WHERE tree_size > 5")
    r = verify(copy, "--key", key)
    assert r.returncode == 2 and "rolled back or truncated" in r.stdout, r.stdout
    assert "checkpoints.jsonl" in r.stdout, r.stdout
    # ... which whoever rewrites the data directory removes too: then it
    # passes on its own, and is caught by a checkpoint saved elsewhere
    os.unlink(os.path.join(copy, "audit", "checkpoints.jsonl"))
    assert verify(copy, "--key", key).returncode == 0
    r = verify(copy, "--key", key, "--checkpoint", saved)
    assert r.returncode == 2, r.stdout
    assert "covers %d records but the log has only 5" % n in r.stdout
    assert "rolled back or truncated" in r.stdout

    # every stored checkpoint deleted and the file beside removed: the
    # records can only be checked against their leaves, which whoever
    # deleted the checkpoints can recompute; verify passes, but must say
    # that nothing covers them, as it does for records after the last
    copy = tampered_copy(data, os.path.join(t, "no-checkpoints"),
                         "DELETE FROM audit_checkpoints")
    os.unlink(os.path.join(copy, "audit", "checkpoints.jsonl"))
    r = verify(copy, "--key", key)
    assert r.returncode == 0, r.stdout
    assert "none of the %d records is covered by a checkpoint" % n in r.stdout, r.stdout
    r = verify(copy, "--key", key, "--checkpoint", saved)
    assert r.returncode == 0 and "none of the" not in r.stdout, r.stdout

    # the schema version set back: verify would migrate again over tables
    # that exist; the mismatch is a changed file (exit 2), said as such,
    # not an I/O error
    copy = tampered_copy(data, os.path.join(t, "schema-version"),
                         "UPDATE schema_version SET version = 3")
    r = verify(copy, "--key", key)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "schema version 3 does not match its tables" in r.stderr, r.stderr
    assert "schema version does not match the tables" in r.stdout, r.stdout

    # roll back to the older database: consistent in itself, caught by the
    # saved checkpoint
    assert verify(old, "--key", key).returncode == 0
    r = verify(old, "--key", key, "--checkpoint", saved)
    assert r.returncode == 2, r.stdout
    assert "rolled back or truncated" in r.stdout

    # an empty or blank checkpoint file is an error, not a silent pass
    for name, text in (("empty.jsonl", ""), ("blank.jsonl", "\n \n\r\n")):
        f = str(tmp_path / name)
        with open(f, "w") as fh:
            fh.write(text)
        r = verify(data, "--key", key, "--checkpoint", saved, "--checkpoint", f)
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        assert "no checkpoint in it" in r.stderr, r.stderr
        assert "verified" not in r.stdout

    # a checkpoint signed by another key is refused
    other = str(tmp_path / "other.jwk")
    k = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    with open(other, "w") as f:
        json.dump({"kty": "EC", "crv": "P-256",
                   "x": base64.urlsafe_b64encode(k.x.to_bytes(32, "big")).rstrip(b"=").decode(),
                   "y": base64.urlsafe_b64encode(k.y.to_bytes(32, "big")).rstrip(b"=").decode()}, f)
    r = verify(data, "--key", other)
    assert r.returncode == 2 and "bad signature" in r.stdout, r.stdout


def test_verify_usage(tmp_path):
    r = mandate("audit", "verify", "--help")
    assert r.returncode == 0 and "--checkpoint FILE" in r.stdout
    r = mandate("audit", "verify", "--data-dir", str(tmp_path))
    assert r.returncode == 1
    assert not os.path.exists(os.path.join(str(tmp_path), "mandate.db"))
    r = mandate("audit", "frobnicate")
    assert r.returncode == 1


def test_verify_names_what_is_missing(tmp_path):
    """A missing database is reported as such (not as a missing key), and
    options that would be ignored are refused."""
    missing = str(tmp_path / "x" / "missing.db")
    r = mandate("audit", "verify", "--db", missing)
    assert r.returncode == 1
    assert "%s: no such database file" % missing in r.stderr, r.stderr
    assert "audit key" not in r.stderr
    r = mandate("audit", "verify", "--data-dir", str(tmp_path), "--db", missing)
    assert r.returncode == 1
    assert "--data-dir and --db are alternatives" in r.stderr, r.stderr
    cfg = tmp_path / "m.yaml"
    cfg.write_text("data_dir: %s\n" % tmp_path)
    r = mandate("audit", "verify", "--data-dir", str(tmp_path), "--config",
                str(cfg))
    assert r.returncode == 1 and "alternatives" in r.stderr, r.stderr


@pytest.mark.parametrize("args,want", [
    (["--since", "yesterday"], "--since 'yesterday': expected Unix seconds"),
    (["--until", "2026-13-01T00:00:00Z"], "--until '2026-13-01T00:00:00Z'"),
    (["--since", "200", "--until", "100"], "--until is before --since"),
])
def test_export_names_its_own_options(args, want):
    # refused before any request (no daemon needed), in the CLI's terms
    r = mandate("audit", "export", "--server", "http://127.0.0.1:9", *args)
    assert r.returncode == 1
    assert want in r.stderr, r.stderr
    assert "from:" not in r.stderr and "to:" not in r.stderr


EXPORT_CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
policies:
  platform: [%s]
api_auth:
  open_on_loopback: true
audit:
  checkpoint_every: 3
  checkpoint_interval: 1h
  checkpoint_file: @DIR@/export/checkpoints.jsonl
  key_file: @DIR@/audit-keys/ck.pem
"""


def test_checkpoint_missing_from_the_file_is_exported_at_start(start_daemon, tmp_path):
    """A checkpoint is stored, then appended to audit.checkpoint_file: a
    daemon stopped between the two (or an export that failed) leaves the
    file's anchor behind the database.  The next start appends the latest
    stored checkpoint the file lacks."""
    from conftest import ROOT
    os.mkdir(str(tmp_path / "export"))
    cfg = EXPORT_CONFIG % os.path.join(ROOT, "examples", "policies",
                                       "mandate.cedar")
    exported = str(tmp_path / "export" / "checkpoints.jsonl")
    d = start_daemon(cfg)
    for i in range(4):
        r = requests.post(d.url + "/v1/tasks", timeout=10, json={
            "agent": AGENT, "objective": "export %d" % i,
            "intents": [{"action": "read_ticket"}]})
        assert r.status_code == 201, r.text
    assert d.stop() == 0
    with open(exported) as f:
        lines = f.read().splitlines()
    assert [json.loads(x)["size"] for x in lines] == [3, 6]
    with open(exported, "w") as f:          # the last export never made
        f.write(lines[0] + "\n")
    d2 = start_daemon(cfg)
    assert "lacked the latest stored checkpoint (6 records" in d2.log_text()
    assert d2.stop() == 0
    with open(exported) as f:
        sizes = [json.loads(x)["size"] for x in f.read().splitlines()]
    assert sizes == [3, 6, 8], sizes        # 8: the restart's shutdown
    r = mandate("audit", "verify", "--config", os.path.join(d2.workdir, "mandate.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    # a file that has it already gets nothing more
    d3 = start_daemon(cfg)
    assert "lacked" not in d3.log_text()
    assert d3.stop() == 0


def test_checkpoint_every_and_export(start_daemon, tmp_path):
    from conftest import ROOT
    os.mkdir(str(tmp_path / "export"))
    cfg = EXPORT_CONFIG % os.path.join(ROOT, "examples", "policies",
                                       "mandate.cedar")
    d = start_daemon(cfg)
    db_path = str(tmp_path / "data" / "mandate.db")
    old = str(tmp_path / "old.db")
    for i in range(7):
        r = requests.post(d.url + "/v1/tasks", timeout=10, json={
            "agent": AGENT, "objective": "export %d" % i,
            "intents": [{"action": "read_ticket"}]})
        assert r.status_code == 201, r.text
        if i == 3:
            src, dst = sqlite3.connect(db_path), sqlite3.connect(old)
            src.backup(dst)
            src.close()
            dst.close()
    assert d.stop() == 0
    keydir = str(tmp_path / "audit-keys")
    assert oct(os.stat(os.path.join(keydir, "ck.pem")).st_mode & 0o777) == "0o600"
    with open(os.path.join(keydir, "ck.jwk")) as f:
        jwk = json.load(f)
    with open(str(tmp_path / "export" / "checkpoints.jsonl")) as f:
        lines = [json.loads(x) for x in f.read().splitlines()]
    # every 3 records, and the rest at shutdown (2 start-up records and
    # 7 tasks)
    assert [x["size"] for x in lines] == [3, 6, 9]
    for x in lines:
        p = verify_checkpoint(x["checkpoint"], jwk)
        assert (p["size"], p["root"], p["time"]) == (x["size"], x["root"], x["time"])
    r = mandate("audit", "verify", "--data-dir", str(tmp_path / "data"),
                "--key", os.path.join(keydir, "ck.jwk"),
                "--checkpoint", str(tmp_path / "export" / "checkpoints.jsonl"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok: saved checkpoint") == 3
    assert "verified: 9 records, 3 stored checkpoints" in r.stdout
    # the configuration names the database, the key and the export file
    r = mandate("audit", "verify", "--config", os.path.join(d.workdir,
                                                            "mandate.yaml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok: saved checkpoint") == 3
    # the private key is not what verify needs, but it is accepted too
    r = mandate("audit", "verify", "--data-dir", str(tmp_path / "data"),
                "--key", os.path.join(keydir, "ck.pem"), "--quiet")
    assert r.returncode == 0 and r.stdout.startswith("verified"), r.stdout

    # a restart over the same log is fine ...
    d2 = start_daemon(cfg)
    assert d2.stop() == 0
    good = str(tmp_path / "good.db")
    src, dst = sqlite3.connect(db_path), sqlite3.connect(good)
    src.backup(dst)
    src.close()
    dst.close()
    exported = str(tmp_path / "export" / "checkpoints.jsonl")
    # ... a database rolled back below the exported checkpoint is refused
    for ext in ("", "-wal", "-shm"):
        if os.path.exists(db_path + ext):
            os.unlink(db_path + ext)
    shutil.copy(old, db_path)
    d3 = start_daemon(cfg, ready=False)
    assert d3.proc.wait(timeout=15) != 0
    assert "rolled back or truncated" in d3.log_text()
    # 9 records, then the restart's own two (its shutdown checkpoint: 11)
    assert "covers 11" in d3.log_text()
    # an older line of the file appended again (an append-only file
    # allows it) does not hide the larger ones
    with open(exported) as f:
        first = f.readline()
    with open(exported, "a") as f:
        f.write(first)
    d4 = start_daemon(cfg, ready=False)
    assert d4.proc.wait(timeout=15) != 0
    assert "the largest exported checkpoint covers 11" in d4.log_text()
    # nor does a line that is not a checkpoint pass unnoticed
    with open(exported, "a") as f:
        f.write("garbage\n")
    d4b = start_daemon(cfg, ready=False)
    assert d4b.proc.wait(timeout=15) != 0
    assert "not a checkpoint" in d4b.log_text()

    def restore(fn=None):
        for ext in ("", "-wal", "-shm"):
            if os.path.exists(db_path + ext):
                os.unlink(db_path + ext)
        shutil.copy(good, db_path)
        if fn is not None:
            db = sqlite3.connect(db_path)
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE"
                                      " type = 'trigger'").fetchall():
                db.execute('DROP TRIGGER "%s"' % name)
            fn(db)
            db.commit()
            db.close()

    # the latest stored checkpoint is trusted only as signed: a row that
    # differs from its JWS is an edited database
    os.rename(exported, exported + ".old")
    restore(lambda db: db.execute(
        "UPDATE audit_checkpoints SET time = 42 WHERE tree_size ="
        " (SELECT max(tree_size) FROM audit_checkpoints)"))
    d5 = start_daemon(cfg, ready=False)
    assert d5.proc.wait(timeout=15) != 0
    assert "differs from what it signed" in d5.log_text()
    restore(lambda db: db.execute(
        "UPDATE audit_checkpoints SET signed = 'x' || signed WHERE tree_size ="
        " (SELECT max(tree_size) FROM audit_checkpoints)"))
    d6 = start_daemon(cfg, ready=False)
    assert d6.proc.wait(timeout=15) != 0
    assert "does not verify with the audit key" in d6.log_text()
    # a replaced audit key (and a new checkpoint file) still starts: the
    # old key's checkpoint is checked by its row, and that is said.  A key
    # file that is only missing is a lost key, not a replaced one
    # (test_storage_damage.py): the new key is put in place on purpose
    restore()
    from cryptography.hazmat.primitives import serialization
    new_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    ck = os.path.join(keydir, "ck.pem")
    os.unlink(ck)
    fd = os.open(ck, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, new_key)
    os.close(fd)
    d7 = start_daemon(cfg)
    assert "signed by another audit key" in d7.log_text()
    assert d7.stop() == 0


def test_bad_audit_configuration(start_daemon, tmp_path):
    cfg = EXPORT_CONFIG.replace("checkpoint_interval: 1h",
                                "checkpoint_interval: 0") % "/nonexistent"
    d = start_daemon(cfg, ready=False)
    assert d.proc.wait(timeout=15) != 0
    assert "checkpoint_interval" in d.log_text()


def export_policy():
    from conftest import ROOT
    return os.path.join(ROOT, "examples", "policies", "mandate.cedar")


def start_refused_with_checkpoint_file(start_daemon, path):
    """Start with audit.checkpoint_file at path; the daemon must exit
    non-zero within 15 s (not start, not hang).  Its log."""
    d = start_daemon((EXPORT_CONFIG % export_policy()).replace(
        "@DIR@/export/checkpoints.jsonl", path), ready=False)
    try:
        code = d.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("started or hung:\n" + d.log_text())
    assert code != 0, d.log_text()
    return d.log_text()


def test_checkpoint_file_that_cannot_be_written_is_refused_at_start(start_daemon, tmp_path):
    """audit.checkpoint_file is first written at the first checkpoint (or
    at shutdown): one whose directory cannot be made (two levels missing:
    only one is made) used to let the daemon start and serve without the
    anchor it was configured to keep, with an error at each checkpoint.
    Refused at start now, naming the setting and the path; a directory
    one level missing is still made, and nothing else is created."""
    bad = str(tmp_path / "no" / "such" / "checkpoints.jsonl")
    log = start_refused_with_checkpoint_file(start_daemon, bad)
    assert "audit.checkpoint_file %s" % bad in log, log
    assert "not starting" in log, log
    assert not os.path.exists(str(tmp_path / "no"))
    # one level missing: made at start, the file itself only at export
    d = start_daemon(EXPORT_CONFIG % export_policy())
    assert os.path.isdir(str(tmp_path / "export"))
    assert not os.path.exists(str(tmp_path / "export" / "checkpoints.jsonl"))
    assert d.stop() == 0
    assert os.path.exists(str(tmp_path / "export" / "checkpoints.jsonl"))


def test_checkpoint_file_that_is_a_pipe_is_refused_at_start(start_daemon, tmp_path):
    """The start reads audit.checkpoint_file back (its largest checkpoint
    must still be in the log), which a named pipe cannot give: opening
    one to read waited for a writer, so the daemon hung before listening,
    saying nothing.  Refused at once now, naming the setting."""
    fifo = str(tmp_path / "checkpoints.pipe")
    os.mkfifo(fifo)
    log = start_refused_with_checkpoint_file(start_daemon, fifo)
    assert "audit.checkpoint_file %s: not a regular file" % fifo in log, log


def test_a_daemon_that_does_not_start_signs_nothing(start_daemon, tmp_path):
    """A second daemon pointed at another's store.path (its own data_dir,
    so its own audit key) that refuses to start must leave no checkpoint
    in that log: one signed by its key would fail the log's verify."""
    from conftest import ROOT
    pol = os.path.join(ROOT, "examples", "policies", "mandate.cedar")

    def cfg(name):
        return ("data_dir: @DIR@/data-%s\nserver:\n  listen: 127.0.0.1:@PORT@\n"
                "store:\n  path: %s\npolicies:\n  platform: [%s]\n"
                "api_auth:\n  open_on_loopback: true\n"
                % (name, tmp_path / "shared.db", pol))
    a = start_daemon(cfg("a"))
    b = start_daemon(cfg("b"), ready=False)      # no signing keys: refused
    assert b.proc.wait(timeout=15) != 0, b.log_text()
    key = os.path.join(a.workdir, "data-a", "audit", "checkpoint-key.jwk")
    r = mandate("audit", "verify", "--db", str(tmp_path / "shared.db"),
                "--key", key)
    assert r.returncode == 0, r.stdout + r.stderr
    assert a.stop() == 0


def test_audit_key_readable_by_others_is_refused(start_daemon, tmp_path):
    """audit.key_file signs the checkpoints: one that group or others may
    read is refused at start (naming the setting, the path and the mode),
    as a token key is; at 0600 the same key starts."""
    from conftest import ROOT
    cfg = EXPORT_CONFIG % os.path.join(ROOT, "examples", "policies",
                                       "mandate.cedar")
    os.mkdir(str(tmp_path / "export"))
    d = start_daemon(cfg)                   # creates the key, 0600
    assert d.stop() == 0
    key = tmp_path / "audit-keys" / "ck.pem"
    for mode in (0o644, 0o640):
        key.chmod(mode)
        d = start_daemon(cfg, ready=False)
        assert d.proc.wait(timeout=15) != 0, d.log_text()
        assert ("audit.key_file %s: mode 0%o: a private key must not be "
                "readable or writable by group or others" % (key, mode)
                in d.log_text()), d.log_text()
    key.chmod(0o600)
    d = start_daemon(cfg)
    assert d.stop() == 0


def test_endpoints_need_a_caller(start_daemon, tmp_path):
    from conftest import ROOT
    cfg = (EXPORT_CONFIG % os.path.join(ROOT, "examples", "policies",
                                        "mandate.cedar")).replace(
        "open_on_loopback: true", "open_on_loopback: false")
    d = start_daemon(cfg)
    for path in ("/v1/audit/checkpoint",
                 "/v1/audit/proof/inclusion?index=0&size=1",
                 "/v1/audit/proof/consistency?from=1&to=1"):
        r = requests.get(d.url + path, timeout=10)
        assert r.status_code == 401, (path, r.text)
        assert "WWW-Authenticate" in r.headers


def test_killed_under_load_then_verified(start_daemon, tmp_path):
    """SIGKILL while tasks are being created from several threads: every
    record that was answered is in the log, the restarted daemon accepts
    its own log, and verify passes."""
    import threading
    from conftest import ROOT
    os.mkdir(str(tmp_path / "export"))
    cfg = (EXPORT_CONFIG % os.path.join(ROOT, "examples", "policies",
                                        "mandate.cedar")).replace(
        "checkpoint_every: 3", "checkpoint_every: 5")
    d = start_daemon(cfg)
    created, lock = [], threading.Lock()

    def worker(k):
        for i in range(40):
            try:
                r = requests.post(d.url + "/v1/tasks", timeout=5, json={
                    "agent": AGENT, "objective": "load %d %d" % (k, i),
                    "intents": [{"action": "read_ticket"}]})
            except requests.RequestException:
                return
            if r.status_code == 201:
                with lock:
                    created.append(r.json()["id"])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    key = str(tmp_path / "audit-keys" / "ck.jwk")
    exported = str(tmp_path / "export" / "checkpoints.jsonl")
    deadline = time.monotonic() + 60

    def wait_for(count):
        while time.monotonic() < deadline:
            with lock:
                if len(created) >= count:
                    return
            time.sleep(0.01)
        raise AssertionError("only %d tasks created" % len(created))

    wait_for(10)
    # verify beside the running daemon, while it appends
    r = mandate("audit", "verify", "--data-dir", str(tmp_path / "data"),
                "--key", key, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(30)
    d.proc.kill()
    d.was_ready = False                    # killed on purpose
    for t in threads:
        t.join(timeout=30)
    d.proc.wait()
    d.log.close()
    db = sqlite3.connect(str(tmp_path / "data" / "mandate.db"))
    logged = {t for (t,) in db.execute("SELECT task_id FROM audit_events"
                                       " WHERE type = 'task.created'")}
    db.close()
    assert set(created) <= logged
    r = mandate("audit", "verify", "--data-dir", str(tmp_path / "data"),
                "--key", key, "--checkpoint", exported, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    d2 = start_daemon(cfg)                 # accepts its own log
    assert requests.get(d2.url + "/readyz", timeout=5).status_code == 200
    assert d2.stop() == 0
    r = mandate("audit", "verify", "--data-dir", str(tmp_path / "data"),
                "--key", key, "--checkpoint", exported)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not yet covered" not in r.stdout   # the shutdown checkpoint
