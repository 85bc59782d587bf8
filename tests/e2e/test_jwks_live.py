"""End to end: a JWKS fetched over HTTP, its rotation and its outage.

A small HTTP server in this test (127.0.0.1, plain HTTP is allowed for
loopback) serves the people issuer's key set.  The daemon must pick up a
rotated key (a token with a new kid), keep using the last good set while the
server is down, and reject every token of that issuer once the set is older
than jwks_max_stale (its minimum, 1 minute, so this test takes about two
minutes).  The server is stopped by the test in every case.
"""
import http.server
import json
import threading
import time

import pytest
import requests

from conftest import wait_for

from test_flow import jwk

jwt = pytest.importorskip("jwt")
ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

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
      jwks_uri: http://127.0.0.1:@JWKS_PORT@/jwks.json
      audiences: [mandate]
      algorithms: [ES256]
      jwks_refresh: 10s
      jwks_max_stale: 1m
api_auth:
  bearer_issuers: [people]
  open_on_loopback: false
"""


class JwksServer:
    def __init__(self):
        self.keys = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


@pytest.fixture
def jwks_server():
    s = JwksServer()
    yield s
    s.stop()


def person(key, kid):
    now = int(time.time())
    return jwt.encode({"iss": "https://people.test", "sub": "alice", "aud": "mandate",
                       "iat": now, "exp": now + 600}, key, algorithm="ES256",
                      headers={"kid": kid})


def authenticated(d, tok):
    """404 for an unknown task means the caller was verified; 401 means not."""
    r = requests.get(d.url + "/v1/tasks/0123456789abcdef0123456789abcdef",
                     headers={"Authorization": "Bearer " + tok}, timeout=5)
    assert r.status_code in (401, 404), r.text
    return r.status_code == 404


def test_rotation_and_outage(start_daemon, tmp_path, jwks_server):
    a = ec.generate_private_key(ec.SECP256R1())
    b = ec.generate_private_key(ec.SECP256R1())
    jwks_server.keys = [jwk(a, "A")]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(
        'permit(principal, action, resource) when { false };\n')
    d = start_daemon(CONFIG.replace("@JWKS_PORT@", str(jwks_server.port)))

    assert authenticated(d, person(a, "A"))
    assert not authenticated(d, person(b, "B"))          # not published yet

    # rotation: the issuer publishes B; a token with kid B is accepted once
    # the daemon refetches (unknown kid, rate-limited, or the 10 s refresh)
    jwks_server.keys = [jwk(a, "A"), jwk(b, "B")]
    assert wait_for(lambda: authenticated(d, person(b, "B")), 45, step=1.0)

    # outage: the last good set stays in use for a while ...
    jwks_server.stop()
    t_down = time.monotonic()
    assert authenticated(d, person(a, "A"))
    assert authenticated(d, person(b, "B"))
    # ... and once it is older than jwks_max_stale (1 min), every token of
    # the issuer is rejected: fail closed
    assert wait_for(lambda: not authenticated(d, person(b, "B")), 100, step=2.0)
    assert time.monotonic() - t_down >= 40      # not before the set went stale
    assert not authenticated(d, person(a, "A"))
