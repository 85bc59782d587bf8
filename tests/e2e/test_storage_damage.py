"""Damaged storage, not tampering (test_audit_log.py covers edits made
with sqlite3): a database file cut short or overwritten with garbage, a
page SQLite cannot read, an audit table gone, an audit key file lost,
a file that cannot grow (a full disk).

The rule in every case: the daemon fails closed (it refuses to start and
names the file, or answers decisions with a deny and says not ready on
/readyz), and `mandate audit verify` reports the problem with a non-zero
status; neither crashes, hangs, or passes on a state it cannot read.

Each test makes a small log with a real daemon, stops it (or, for the
full disk, limits it while it runs), damages one thing, and looks.
"""
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import BIN, Daemon

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  threads: 2
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
logging:
  level: info
audit:
  checkpoint_every: 5
"""

# every request is permitted: a deny below is the daemon failing closed
POLICY = "permit(principal, action, resource);\n"


def evaluate(d):
    r = requests.post(d.url + "/access/v1/evaluation", timeout=10, json={
        "subject": {"type": "User", "id": "alice"},
        "action": {"name": "read"},
        "resource": {"type": "Doc", "id": "d1"}})
    assert r.status_code == 200, r.text
    return r.json()["decision"]


def verify(tmp_path, *extra):
    return subprocess.run([BIN, "audit", "verify", "--data-dir",
                           str(tmp_path / "data")] + list(extra),
                          capture_output=True, text=True, timeout=60)


def start(tmp_path, ready=True, preexec_fn=None):
    d = Daemon(str(tmp_path), CONFIG, preexec_fn=preexec_fn)
    if ready:
        d.wait_ready()
        d.was_ready = True
    return d


def refused(d, timeout=20):
    """The daemon exits non-zero without ever being ready; its log."""
    try:
        code = d.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        d.stop()
        raise AssertionError("the daemon did not refuse to start:\n"
                             + d.log_text())
    d.log.close()
    assert code not in (0, None) and code > 0, (code, d.log_text())
    return d.log_text()


def make_log(tmp_path):
    """A daemon that permits everything, after 20 evaluations (some 25
    records, 5 checkpoints); running.  Stopped if an evaluation fails."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    d = start(tmp_path)
    try:
        for _ in range(20):
            assert evaluate(d) is True
    except BaseException:
        d.stop()
        raise
    return d


@pytest.fixture
def logged(tmp_path):
    """A data directory with a log of some 25 records and 5 checkpoints,
    the daemon stopped.  Yields tmp_path; stops anything still running."""
    d = make_log(tmp_path)
    assert d.stop() == 0, d.log_text()
    r = verify(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    yield tmp_path


def db_path(tmp_path):
    return str(tmp_path / "data" / "mandate.db")


def page_of(tmp_path, table):
    """The first page of a table's b-tree, and the page size."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path(tmp_path), uri=True)
    try:
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                          (table,)).fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    finally:
        db.close()
    return root, size


def overwrite_page(tmp_path, page, page_size, seed):
    rnd = random.Random(seed)
    with open(db_path(tmp_path), "r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(bytes(rnd.getrandbits(8) for _ in range(page_size)))


# --- mandate audit verify on a damaged file -------------------------------

@pytest.mark.parametrize("table", ["tasks_by_expiry", "health",
                                   "audit_checkpoints"])
def test_verify_fails_on_a_page_sqlite_cannot_read(logged, table):
    """A page of garbage in the middle of the file (a disk returning bad
    data).  Some pages are never read by the pass over the records: the
    log must not be reported verified from a file SQLite itself calls
    damaged (PRAGMA integrity_check)."""
    page, size = page_of(logged, table)
    overwrite_page(logged, page, size, seed=page)
    db = sqlite3.connect("file:%s?mode=ro" % db_path(logged), uri=True)
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
        assert rows != [("ok",)]
    except sqlite3.DatabaseError:
        pass                             # damaged beyond the pragma
    finally:
        db.close()
    r = verify(logged)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "the database file is damaged" in r.stdout, r.stdout + r.stderr
    assert "verified:" not in r.stdout


def test_verify_on_an_empty_database_file(logged):
    """A file cut to 0 bytes is not an empty log, and verify must not
    write a new schema into the file it examines."""
    os.truncate(db_path(logged), 0)
    r = verify(logged)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "the database file is empty (0 bytes)" in r.stderr
    assert os.path.getsize(db_path(logged)) == 0


@pytest.mark.parametrize("cut", [50, 4096, "half", "last"])
def test_verify_on_a_truncated_database_file(logged, cut):
    """Cut short: verify says SQLite's finding and exits non-zero (1: the
    file cannot be opened as a database; 2: it opens but is damaged)."""
    size = os.path.getsize(db_path(logged))
    n = {"half": size // 2, "last": size - 4096}.get(cut, cut)
    os.truncate(db_path(logged), n)
    r = verify(logged)
    assert r.returncode in (1, 2), r.stdout + r.stderr
    assert "malformed" in r.stderr or "damaged" in r.stdout, \
        r.stdout + r.stderr
    assert "verified:" not in r.stdout


@pytest.mark.parametrize("table", ["audit_events", "audit_leaves",
                                   "audit_checkpoints"])
def test_verify_names_a_missing_audit_table(logged, table):
    db = sqlite3.connect(db_path(logged))
    db.execute("DROP TABLE " + table)
    db.commit()
    db.close()
    r = verify(logged)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "table %s is missing" % table in r.stdout, r.stdout + r.stderr


# --- the daemon on a damaged file -----------------------------------------

@pytest.mark.parametrize("cut", [0.5, "header"])
def test_daemon_refuses_a_damaged_database(logged, cut):
    if cut == "header":
        with open(db_path(logged), "r+b") as f:
            f.write(b"\0" * 100)
    else:
        os.truncate(db_path(logged), int(os.path.getsize(db_path(logged))
                                         * cut))
    log = refused(start(logged, ready=False))
    assert "cannot open the store %s" % db_path(logged) in log, log


@pytest.mark.parametrize("edit, says", [
    ("DROP TABLE task_sessions", "no such table: task_sessions"),
    ("ALTER TABLE credentials RENAME COLUMN cnf_jkt TO jkt",
     "no column named cnf_jkt"),
])
def test_daemon_refuses_a_schema_missing_a_part(logged, edit, says):
    """A table or column the schema version promises, gone (dropped or
    renamed by hand): the start is refused and SQLite's words name it,
    rather than the first request that needs it failing hours later."""
    db = sqlite3.connect(db_path(logged))
    db.execute(edit)
    db.commit()
    db.close()
    log = refused(start(logged, ready=False))
    assert "the database does not have what its schema version promises" \
        in log, log
    assert says in log, log
    # the audit log itself is intact, and verify still says so
    r = verify(logged)
    assert r.returncode == 0, r.stdout + r.stderr


def test_full_disk_denies_and_recovers(logged):
    """A file that cannot grow (RLIMIT_FSIZE: the write fails with EFBIG
    as on a full disk): decisions are denies, /readyz says not ready, and
    once the limit is lifted the daemon is ready again and the log
    verifies.  SIGXFSZ is left at its default action, as ulimit -f or
    systemd's LimitFSIZE= leave it (subprocess restores it): the daemon
    must ignore it itself, or the first write past the limit ends it."""
    d = start(logged)
    try:
        data = str(logged / "data")
        biggest = max(os.path.getsize(os.path.join(data, f))
                      for f in os.listdir(data)
                      if os.path.isfile(os.path.join(data, f)))
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                         (biggest + 40000, resource.RLIM_INFINITY))
        decisions = [evaluate(d) for _ in range(300)]
        assert False in decisions, "the file never reached its limit"
        first = decisions.index(False)
        assert all(x is False for x in decisions[first:]), decisions
        r = requests.get(d.url + "/readyz", timeout=5)
        assert r.status_code == 503 and "audit_log" in r.json()["failing"]
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 10
        while requests.get(d.url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, d.log_text()
            time.sleep(0.1)
        assert evaluate(d) is True
        assert "fail closed" in d.log_text()
    finally:
        assert d.stop() == 0, d.log_text()
    r = verify(logged)
    assert r.returncode == 0, r.stdout + r.stderr


# --- key files --------------------------------------------------------------

def test_a_lost_audit_key_is_not_replaced_silently(logged):
    """The audit key file gone while the log has signed checkpoints (a
    damaged disk, a restore that left it out): the daemon used to make a
    new key and go on, with only a warning that the last checkpoint was
    signed by another key.  It must refuse and name the file; a key put
    in its place on purpose is still taken (test_audit_log.py)."""
    key = str(logged / "data" / "audit" / "checkpoint-key.pem")
    os.rename(key, key + ".saved")
    log = refused(start(logged, ready=False))
    assert ("the audit key %s is missing, but the log already has signed "
            "checkpoints" % key) in log, log
    assert not os.path.exists(key)          # no new key was made
    os.rename(key + ".saved", key)          # restored: starts, verifies
    d = start(logged)
    assert evaluate(d) is True
    assert d.stop() == 0, d.log_text()
    r = verify(logged)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("damage", ["empty", "truncated", "directory",
                                    "dangling-symlink", "mode-0644"])
def test_a_damaged_audit_key_refuses_the_start(logged, damage):
    key = str(logged / "data" / "audit" / "checkpoint-key.pem")
    if damage == "empty":
        open(key, "w").close()
    elif damage == "truncated":
        os.truncate(key, os.path.getsize(key) // 2)
    elif damage == "directory":
        os.unlink(key)
        os.mkdir(key, 0o700)
    elif damage == "dangling-symlink":
        os.unlink(key)
        os.symlink(key + ".gone", key)
    else:
        os.chmod(key, 0o644)
    log = refused(start(logged, ready=False))
    assert key in log and "not starting" in log, log


def test_a_lost_wal_is_found_by_the_default_checkpoint_file(tmp_path):
    """Checkpoints are exported by default to <data_dir>/audit/
    checkpoints.jsonl.  A database that lost its last commits (its WAL
    deleted after a crash, as a careless clean-up or a damaged disk would)
    silently goes back to an older state in SQLite; that file is how the
    next start, and `mandate audit verify --data-dir`, find out."""
    d = make_log(tmp_path)
    try:
        exported = tmp_path / "data" / "audit" / "checkpoints.jsonl"
        assert exported.exists() and exported.read_text().count("\n") >= 3
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
    finally:
        d.stop()
    for ext in ("-wal", "-shm"):
        if os.path.exists(db_path(tmp_path) + ext):
            os.unlink(db_path(tmp_path) + ext)
    d2 = start(tmp_path, ready=False)
    log = refused(d2)
    assert "rolled back or truncated" in log, log
    r = verify(tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "checkpoints.jsonl" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_lost_redaction_key_is_not_replaced_silently(logged):
    """The redaction key gone while the log has records: a new key would
    make the HMAC of a value differ from the same value's in the older
    records, silently.  The start refuses and names the file; restored,
    it starts; a key put in its place on purpose is taken."""
    key = str(logged / "data" / "audit-redact.key")
    os.rename(key, key + ".saved")
    log = refused(start(logged, ready=False))
    assert ("the audit redaction key %s is missing, but the log already "
            "has" % key) in log, log
    assert not os.path.exists(key)          # no new key was made
    os.rename(key + ".saved", key)          # restored: starts
    d = start(logged)
    assert evaluate(d) is True
    assert d.stop() == 0, d.log_text()
    with open(key, "w") as f:               # a new key on purpose
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)
    d = start(logged)
    assert evaluate(d) is True
    assert d.stop() == 0, d.log_text()


@pytest.mark.parametrize("damage,why", [
    ("empty", "empty or larger than"),
    ("garbage", "not a PEM private key"),
    ("mode-0644", "mode 0644: a private key must not be readable"),
])
def test_a_damaged_signing_key_is_named(logged, damage, why):
    """The active signing key's PEM file damaged: the start refuses (as it
    did) and now names the file and what is wrong with it, rather than
    the key directory and a status ("limit exceeded")."""
    keydir = logged / "data" / "keys"
    pems = sorted(p for p in os.listdir(str(keydir)) if p.endswith(".pem"))
    assert len(pems) == 1, pems
    path = str(keydir / pems[0])
    if damage == "empty":
        open(path, "w").close()
    elif damage == "garbage":
        with open(path, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot base64\n"
                    "-----END PRIVATE KEY-----\n")
    else:
        os.chmod(path, 0o644)
    log = refused(start(logged, ready=False))
    assert "the active key %s: %s" % (path, why) in log, log


def test_a_checkpoint_file_that_cannot_grow_is_not_left_torn(logged):
    """A checkpoint append that fails part-way (a full disk, a file-size
    limit) used to leave the part it wrote: the next checkpoint's line
    was appended to it, and the start after refused the file ("not a
    checkpoint").  The failed append is taken back, so the file stays
    lines of checkpoints and the next start finds it whole.

    The limit must stop the checkpoint file and not the database: the file
    is padded with empty lines (skipped when read) past the database's
    size, and the limit set just above the padding."""
    exported = logged / "data" / "audit" / "checkpoints.jsonl"
    data = str(logged / "data")
    biggest = max(os.path.getsize(os.path.join(data, f))
                  for f in os.listdir(data)
                  if os.path.isfile(os.path.join(data, f)))
    with open(exported, "a") as f:
        f.write("\n" * (biggest + (8 << 20)))
    padded = os.path.getsize(exported)
    d = start(logged)
    try:
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                         (padded + 100, resource.RLIM_INFINITY))
        for _ in range(12):
            evaluate(d)
        assert "audit.checkpoint_file" in d.log_text(), d.log_text()
        assert os.path.getsize(exported) == padded
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        for _ in range(12):
            assert evaluate(d) is True
    finally:
        assert d.stop() == 0, d.log_text()
    assert os.path.getsize(exported) > padded
    d = start(logged)
    assert d.stop() == 0, d.log_text()
    r = verify(logged)
    assert r.returncode == 0, r.stdout + r.stderr


def caught(pid, sig):
    """Does the process catch sig (/proc/PID/status SigCgt)?"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


def test_a_signal_during_the_last_writes_does_not_end_them(tmp_path):
    """After the server has stopped, the daemon still writes what its
    async audit queue holds.  The default actions of SIGTERM and SIGINT
    were back by then, so a second Ctrl-C or a supervisor's repeated
    SIGTERM killed it there and the queued records were lost.  The
    records are held back by a write lock on the database from outside,
    so that the drain lasts while the signal is sent; released, they are
    written and the daemon exits 0."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    d = Daemon(str(tmp_path), CONFIG.replace(
        "logging:\n", "logging:\n  audit: async\n"))
    d.wait_ready()
    d.was_ready = True
    lock = sqlite3.connect(str(db_path(tmp_path)), isolation_level=None,
                           timeout=10)
    try:
        lock.execute("BEGIN IMMEDIATE")
        for _ in range(4):
            assert evaluate(d) is True      # answered; the record queued
        d.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while " stopped" not in d.log_text():
            assert d.proc.poll() is None, d.log_text()
            assert time.monotonic() < deadline, d.log_text()
            time.sleep(0.05)
        assert d.proc.poll() is None, "the drain was over: " + d.log_text()
        assert caught(d.proc.pid, signal.SIGTERM)
        assert caught(d.proc.pid, signal.SIGINT)
        d.proc.send_signal(signal.SIGINT)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert d.proc.wait(timeout=60) == 0, d.log_text()
    d.log.close()
    r = verify(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
