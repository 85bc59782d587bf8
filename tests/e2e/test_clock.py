"""The wall clock stepped while the daemon runs (an NTP step, a VM
restored from a snapshot).  The system clock cannot be changed by a test,
so the daemon runs under clock_shift.c (LD_PRELOAD), which adds an offset
the test sets to every wall-clock read; timeouts that should not depend on
the wall clock must not move with it.  Skipped without a C compiler.
"""
import os
import shutil
import sqlite3
import struct
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, Daemon

HERE = os.path.dirname(os.path.abspath(__file__))

POLICY = "permit(principal, action, resource);\n"


@pytest.fixture
def shifted(tmp_path, monkeypatch):
    """set(seconds) moves the wall clock of daemons started afterwards
    (and, while they run, of those already started)."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler for the clock shim")
    so = str(tmp_path / "clock_shift.so")
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", so,
                    os.path.join(HERE, "clock_shift.c"), "-ldl"],
                   check=True, timeout=60)
    shift_file = tmp_path / "clock_shift"
    shift_file.write_bytes(struct.pack("=q", 0))
    monkeypatch.setenv("LD_PRELOAD", so)
    monkeypatch.setenv("CLOCK_SHIFT_FILE", str(shift_file))
    # a sanitizer build wants its runtime first; the shim only wraps libc
    monkeypatch.setenv("ASAN_OPTIONS", "verify_asan_link_order=0:" +
                       os.environ.get("ASAN_OPTIONS", ""))

    def set_shift(seconds):
        with open(shift_file, "r+b") as f:
            f.write(struct.pack("=q", seconds))
    return set_shift


def start(tmp_path, config):
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    d = Daemon(str(tmp_path), config)
    d.wait_ready()
    d.was_ready = True
    return d


def evaluate(d, timeout=30):
    r = requests.post(d.url + "/access/v1/evaluation", timeout=timeout,
                      json={"subject": {"type": "User", "id": "alice"},
                            "action": {"name": "read"},
                            "resource": {"type": "Doc", "id": "d1"}})
    assert r.status_code == 200, r.text
    return r.json()["decision"]


def stored_checkpoints(tmp_path):
    db = sqlite3.connect("file:%s?mode=ro" % (tmp_path / "data" / "mandate.db"),
                         uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM audit_checkpoints").fetchone()[0]
    finally:
        db.close()


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


CHECKPOINT_BY_TIME = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  threads: 2
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
audit:
  checkpoint_every: 0
  checkpoint_interval: 1s
"""


def test_checkpoints_by_time_go_on_after_the_clock_is_set_back(
        tmp_path, shifted):
    """audit.checkpoint_interval was measured by the wall clock from the
    last checkpoint's time: set back a day, no checkpoint by time was made
    for a day (with checkpoint_every: 0, none at all), and the log went
    that long without a signed tree head."""
    d = start(tmp_path, CHECKPOINT_BY_TIME)
    try:
        assert evaluate(d) is True
        assert wait_until(lambda: stored_checkpoints(tmp_path) >= 1, 10)
        before = stored_checkpoints(tmp_path)
        shifted(-86400)
        time.sleep(1.2)
        assert evaluate(d) is True
        assert wait_until(lambda: stored_checkpoints(tmp_path) > before, 6), \
            d.log_text()
    finally:
        assert d.stop() == 0, d.log_text()
    r = subprocess.run([BIN, "audit", "verify", "--data-dir",
                        str(tmp_path / "data")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


QUEUE_OF_ONE = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  threads: 4
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
logging:
  audit: async
audit:
  queue_size: 1
"""


def test_a_full_audit_queue_refuses_after_two_seconds_whatever_the_clock(
        tmp_path, shifted):
    """A record that finds the audit queue full waits at most 2 s, then is
    refused and its decision denied (docs/configuration.md,
    audit.queue_size).  The wait's deadline was on the wall clock: set
    back just after a deadline was taken, the wait lasted as much longer,
    holding a worker thread (all of them, under load) for as long as the
    writer made no progress.  The shim's clock, a day ahead of the
    kernel's, is such a deadline on every wait.  The writer is kept from
    progressing by a write lock held on the database from outside."""
    shifted(86400)
    d = start(tmp_path, QUEUE_OF_ONE)
    lock = sqlite3.connect(str(tmp_path / "data" / "mandate.db"),
                           isolation_level=None, timeout=10)
    answers = []
    try:
        lock.execute("BEGIN IMMEDIATE")

        def one():
            t0 = time.monotonic()
            try:
                answers.append((evaluate(d, timeout=40),
                                time.monotonic() - t0))
            except requests.RequestException as e:
                answers.append((repr(e), time.monotonic() - t0))
        clients = [threading.Thread(target=one) for _ in range(6)]
        for c in clients:
            c.start()
            time.sleep(0.05)
        # every answer well before the lock goes (at 15 s): the record
        # that finds the queue full is refused at 2 s
        deadline = time.monotonic() + 15
        for c in clients:
            c.join(timeout=max(0, deadline - time.monotonic()))
        lock.execute("ROLLBACK")
        for c in clients:
            c.join(timeout=40)
        late = [a for a in answers if a[1] > 10]
        assert not late and len(answers) == 6, answers
        assert False in [a[0] for a in answers], answers
    finally:
        lock.close()
        assert d.stop() == 0, d.log_text()
