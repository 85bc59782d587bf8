"""Crash consistency beyond the decisions' records (test_audit_crash.py):
the daemon is killed with SIGKILL, then started again on the same data;
the start must need no repair and the log must verify.

- the first start killed at each of its first writes (strace): the next
  start works.
"""
import os
import shutil
import subprocess

import pytest
from conftest import BIN, ROOT, free_port

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  threads: 4
dev:
  enabled: true
policies:
  platform: [@DIR@/policies]
api_auth:
  open_on_loopback: true
tokens:
  issuer: http://127.0.0.1:8799
  publish_delay: 1s
logging:
  level: warn
audit:
  checkpoint_every: 7
  checkpoint_interval: 1s
  checkpoint_file: @DIR@/checkpoints.jsonl
"""


def setup_dir(tmp_path):
    os.makedirs(str(tmp_path / "policies"))
    shutil.copy(os.path.join(ROOT, "examples", "policies", "mandate.cedar"),
                str(tmp_path / "policies"))


def verify(tmp_path):
    ck = str(tmp_path / "checkpoints.jsonl")
    args = [BIN, "audit", "verify", "--data-dir", str(tmp_path / "data"),
            "--quiet"]
    if os.path.exists(ck) and os.path.getsize(ck) > 0:
        args += ["--checkpoint", ck]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


FIRST_WRITES = 8


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_first_start_killed_at_each_write(start_daemon, tmp_path):
    """The first start (keys made, database created) killed at each of its
    first writes: the next start works, and the log verifies."""
    setup_dir(tmp_path)
    cfg = str(tmp_path / "first.yaml")
    failed = []
    for n in range(1, FIRST_WRITES + 1):
        shutil.rmtree(str(tmp_path / "data"), ignore_errors=True)
        if os.path.exists(str(tmp_path / "checkpoints.jsonl")):
            os.unlink(str(tmp_path / "checkpoints.jsonl"))
        with open(cfg, "w") as f:
            f.write(CONFIG.replace("@DIR@", str(tmp_path))
                    .replace("@PORT@", str(free_port())))
        subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "-e",
                        "trace=write", "-e",
                        "inject=write:signal=KILL:when=%d" % n,
                        BIN, "serve", "--config", cfg],
                       capture_output=True, timeout=30)
        try:
            d = start_daemon(CONFIG)
        except AssertionError as e:
            failed.append((n, str(e)[-300:]))
            continue
        assert d.stop() == 0
        verify(tmp_path)
    assert failed == [], failed
