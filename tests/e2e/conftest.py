"""Fixtures for the daemon's end-to-end tests: the real `mandate serve`.

MANDATE_BIN names the built binary (meson sets it).  Each daemon runs on a
free 127.0.0.1 port in its own temporary directory (its data dir and, for
the development instance, its working directory), and is always stopped at
teardown: SIGTERM, then a kill if it has not exited in time.
"""
import base64
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

BIN = os.path.abspath(os.environ.get("MANDATE_BIN", "build/src/mandate"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def b64(n):
    """A P-256 coordinate as JWK base64url (32 bytes, unpadded)."""
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


def jwk(key, kid, use=None):
    """The public JWK of an EC P-256 private key (cryptography), ES256."""
    pub = key.public_key().public_numbers()
    k = {"kty": "EC", "crv": "P-256", "x": b64(pub.x), "y": b64(pub.y),
         "kid": kid, "alg": "ES256"}
    if use:
        k["use"] = use
    return k


def wait_for(pred, timeout=10.0, step=0.05):
    """Poll pred() every step seconds until it is true (True) or timeout
    seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One running daemon: .url, .proc, .log_text(), .stop()."""

    def __init__(self, workdir, config_text=None, preexec_fn=None):
        self.workdir = workdir
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(workdir, "daemon.log")
        self.was_ready = False
        args = [BIN, "serve"]
        if config_text is not None:
            cfg = os.path.join(workdir, "mandate.yaml")
            with open(cfg, "w") as f:
                f.write(config_text.replace("@PORT@", str(self.port))
                        .replace("@DIR@", workdir))
            args += ["--config", cfg]
        else:
            args += ["--listen", "127.0.0.1:%d" % self.port]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=workdir, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=preexec_fn)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("daemon not ready:\n" + self.log_text())

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=15.0):
        """SIGTERM, wait; kill on timeout.  Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start_daemon(tmp_path):
    """start_daemon(config_text=None) -> a ready Daemon; @PORT@ and @DIR@ in
    the configuration are replaced by its port and temporary directory."""
    started = []

    def start(config_text=None, ready=True):
        d = Daemon(str(tmp_path), config_text)
        started.append(d)
        if ready:
            d.wait_ready()
            d.was_ready = True
        return d

    yield start
    codes = [(d, d.stop()) for d in started]
    for d, code in codes:
        # a daemon that became ready must stop cleanly (also: no leak
        # reports under the sanitizers)
        if d.was_ready:
            assert code == 0, d.log_text()


@pytest.fixture
def dev(start_daemon):
    """The development instance (no configuration)."""
    return start_daemon()


@pytest.fixture
def agentdojo_data():
    """The AgentDojo ground truth's directory (agentdojo_replay.find_data);
    the test is skipped when it is absent."""
    import agentdojo_replay as ar
    try:
        return ar.find_data()
    except ar.ReplayError:
        pytest.skip("AgentDojo data not found (set AGENTDOJO_DATA)")
