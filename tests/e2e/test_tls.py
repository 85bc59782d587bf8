"""End to end: the daemon over TLS, and callers authenticated by mTLS.

The test makes its own PKI with python3-cryptography: a server CA and a
server certificate for 127.0.0.1, the CA of the SPIFFE trust domain
acme.test with X.509-SVIDs under it (URI SAN spiffe://acme.test/...), and
an unrelated CA.  The daemon asks for client certificates (require); the
SVID listed in api_auth.mtls_identities may create a task, others may not.
"""
import datetime
import ipaddress
import json

import pytest
import requests

from test_flow import Issuers

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

ORCH = "spiffe://acme.test/orchestrator"
AGENT = "spiffe://acme.test/agents/triage"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ku(ca):
    return x509.KeyUsage(digital_signature=not ca, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def make_ca(cn, uri=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
         .add_extension(_ku(True), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        False))
    if uri:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(uri)]), False)
    return key, b.sign(key, hashes.SHA256())


def make_leaf(ca_key, ca_cert, san, eku, valid=(-300, 3600), key=None):
    """valid: notBefore and notAfter in seconds from now; key: the leaf's
    private key (default: a new P-256 one)."""
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("leaf"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(seconds=valid[0]))
            .not_valid_after(now + datetime.timedelta(seconds=valid[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(_ku(False), True))
    if eku is not None:         # a list, or one OID
        cert = cert.add_extension(x509.ExtendedKeyUsage(
            eku if isinstance(eku, list) else [eku]), False)
    cert = (cert.add_extension(x509.SubjectAlternativeName(san), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def pem_cert(c):
    return c.public_bytes(serialization.Encoding.PEM)


def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM,
                           serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def write_pair(tmp_path, name, key, cert):
    c, k = tmp_path / (name + ".crt"), tmp_path / (name + ".key")
    c.write_bytes(pem_cert(cert))
    k.write_bytes(pem_key(key))
    k.chmod(0o600)
    return str(c), str(k)


POLICY = """
@id("orchestrator-delegates")
permit (principal == Delegator::"%s",
        action == Action::"mandate:create_task",
        resource)
when { context.agent.trust_domain == "acme.test" };
""" % ORCH

CONFIG = """
data_dir: @DIR@/data
server:
  listen: 127.0.0.1:@PORT@
  tls:
    cert_file: @DIR@/server.crt
    key_file: @DIR@/server.key
    client_ca_file: @DIR@/clients-ca.pem
    client_auth: %s
policies:
  platform: [@DIR@/policies]
identity:
  issuers:
    - name: agents
      kind: spiffe
      trust_domain: acme.test
      bundle_file: @DIR@/acme.bundle
      x509_ca_file: @DIR@/acme-ca.pem
      audiences: [mandate]
tokens:
  audience: mcp-gateway
api_auth:
  mtls_identities: [%s]
  open_on_loopback: false
"""


class PKI:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        srv_ca_key, self.srv_ca = make_ca("test server CA")
        self.srv_ca_key = srv_ca_key
        self.server_ca = tmp_path / "server-ca.pem"
        self.server_ca.write_bytes(pem_cert(self.srv_ca))
        k, c = make_leaf(srv_ca_key, self.srv_ca,
                         [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                          x509.DNSName("localhost")],
                         ExtendedKeyUsageOID.SERVER_AUTH)
        write_pair(tmp_path, "server", k, c)

        td_key, td_ca = make_ca("acme.test SPIFFE CA", "spiffe://acme.test")
        self.td_key = td_key
        (tmp_path / "acme-ca.pem").write_bytes(pem_cert(td_ca))
        other_key, other_ca = make_ca("someone else's CA")
        # TLS accepts both CAs' clients: the daemon's own SPIFFE check
        # must refuse the one outside the trust domain.
        (tmp_path / "clients-ca.pem").write_bytes(pem_cert(td_ca) + pem_cert(other_ca))

        def svid(name, ca_key, ca_cert, spiffe_id):
            k, c = make_leaf(ca_key, ca_cert, [x509.UniformResourceIdentifier(spiffe_id)],
                             ExtendedKeyUsageOID.CLIENT_AUTH)
            return write_pair(tmp_path, name, k, c)

        self.orch = svid("orch", td_key, td_ca, ORCH)
        self.stranger = svid("stranger", td_key, td_ca, "spiffe://acme.test/stranger")
        self.forged = svid("forged", other_key, other_ca, ORCH)


@pytest.fixture
def pki(tmp_path):
    Issuers(tmp_path)                       # writes acme.bundle
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.cedar").write_text(POLICY)
    return PKI(tmp_path)


def wait_tls_ready(d, pki):
    import time
    deadline = time.monotonic() + 10
    while True:
        assert d.proc.poll() is None, d.log_text()
        try:
            r = requests.get(d.https + "/readyz", verify=str(pki.server_ca),
                             cert=pki.orch, timeout=1)
            if r.status_code == 200:
                return
        except requests.exceptions.RequestException:
            pass
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)


@pytest.fixture
def tls_daemon(start_daemon, pki):
    d = start_daemon(CONFIG % ("require", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    return d


def create(d, pki, cert):
    return requests.post(d.https + "/v1/tasks", verify=str(pki.server_ca), cert=cert,
                         timeout=5, json={"agent": AGENT, "objective": "triage",
                                          "intents": [{"action": "read_ticket"}]})


def test_mtls_svid_creates_task(tls_daemon, pki):
    r = create(tls_daemon, pki, pki.orch)
    assert r.status_code == 201, r.text
    assert r.json()["delegator"] == ORCH
    # the task is readable by its delegator over the same channel
    g = requests.get(tls_daemon.https + "/v1/tasks/" + r.json()["id"],
                     verify=str(pki.server_ca), cert=pki.orch, timeout=5)
    assert g.status_code == 200, g.text
    meta = requests.get(tls_daemon.https + "/.well-known/oauth-authorization-server",
                        verify=str(pki.server_ca), cert=pki.orch, timeout=5).json()
    assert meta["issuer"].startswith("https://")


def test_mtls_refusals(tls_daemon, pki):
    # a certificate of another CA with the same SPIFFE ID
    r = create(tls_daemon, pki, pki.forged)
    assert r.status_code == 401, r.text
    # a valid SVID that is not in api_auth.mtls_identities
    r = create(tls_daemon, pki, pki.stranger)
    assert r.status_code == 401, r.text
    # no client certificate: client_auth require refuses the handshake
    with pytest.raises(requests.exceptions.RequestException):
        create(tls_daemon, pki, None)
    # plain HTTP to the TLS port is answered 400, in plain HTTP, and
    # nothing else (test_plain_http_to_the_tls_port_is_told)
    r = requests.get("http://127.0.0.1:%d/readyz" % tls_daemon.port, timeout=2)
    assert r.status_code == 400, r.text
    assert r.json()["error_description"] == "this port speaks TLS: use https://"
    # the server's certificate is checked by the client too
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_daemon.https + "/readyz", cert=pki.orch, timeout=5)


@pytest.mark.parametrize("name,eku,status", [
    ("serverauth-only", ExtendedKeyUsageOID.SERVER_AUTH, 403),
    ("codesigning-only", ExtendedKeyUsageOID.CODE_SIGNING, 403),
    ("clientauth", ExtendedKeyUsageOID.CLIENT_AUTH, 201),
    ("both", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], 201),
    ("any", ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, 201),
    ("no-eku", None, 201),
])
def test_mtls_extended_key_usage(tls_daemon, pki, name, eku, status):
    """RFC 5280 4.2.1.12: a client certificate with an extendedKeyUsage must
    allow clientAuth (or any); a server's certificate from the same CA, with
    the listed SPIFFE ID, is no caller.  No extension: any purpose."""
    td_ca = x509.load_pem_x509_certificate((pki.dir / "acme-ca.pem").read_bytes())
    k, c = make_leaf(pki.td_key, td_ca, [x509.UniformResourceIdentifier(ORCH)], eku)
    pair = write_pair(pki.dir, "eku-" + name, k, c)
    r = create(tls_daemon, pki, pair)
    assert r.status_code == status, r.text


def test_tls_optional_client_auth(start_daemon, pki):
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    # without a certificate: the handshake works, the API says 401
    r = requests.post(d.https + "/v1/tasks", verify=str(pki.server_ca), timeout=5,
                      json={"agent": AGENT, "objective": "x",
                            "intents": [{"action": "read_ticket"}]})
    assert r.status_code == 401, r.text
    assert requests.get(d.https + "/readyz", verify=str(pki.server_ca),
                        timeout=5).status_code == 200
    r = create(d, pki, pki.orch)
    assert r.status_code == 201, r.text


# Over TLS the daemon reads HTTP exactly as strictly as over plain HTTP
# (one engine, one parser): each of these is refused with the status
# docs/http-server.md gives, and the connection is closed.
STRICT_CASES = [
    ("two lengths", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\nabc", 400),
    ("length and chunked", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("gzip, chunked", b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("chunked in 1.0", b"POST /healthz HTTP/1.0\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs-fold", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("space before colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("no Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    ("LF alone", b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),
    ("CR alone", b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n", 400),
    ("chunked twice", b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("no coding", b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: ,\r\n\r\n", 400),
    ("control in target", b"GET /health\x01z HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("absolute form with userinfo", b"GET http://u@x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("HTTP/2.0", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("Expect", b"GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417),
]


def tls_raw(d, pki, data, read_all=True):
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=str(pki.server_ca))
    ctx.load_cert_chain(*pki.orch)
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(data)
            got = b""
            while True:
                try:
                    b = s.recv(65536)
                except (ssl.SSLError, ConnectionError):
                    break
                if not b:
                    break
                got += b
                if not read_all and got.count(b"HTTP/1.1 ") >= read_all:
                    break
            return got


@pytest.mark.parametrize("name,req,status", STRICT_CASES, ids=[c[0] for c in STRICT_CASES])
def test_tls_http_is_read_strictly(tls_daemon, pki, name, req, status):
    got = tls_raw(tls_daemon, pki, req)
    line = got.split(b"\r\n", 1)[0]
    assert line.startswith(b"HTTP/1.1 %d " % status), (name, got[:200])
    # refused: the answer says so, and the connection ends after it
    assert b"Connection: close\r\n" in got, got[:300]


def test_plain_http_to_the_tls_port_is_told(tls_daemon, pki):
    """Plain HTTP sent to the TLS port (http:// where https:// was meant)
    gets a plain-HTTP 400 that says what is wrong, not a reset; a TLS
    client on the next connection is served as ever."""
    import socket
    for req in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 2\r\n\r\n{}"):
        s = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=5)
        s.sendall(req)
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        assert got.startswith(b"HTTP/1.1 400 Bad Request\r\n"), got
        assert b"Connection: close" in got, got
        assert got.endswith(b"this port speaks TLS: use https://\"}"), got
    # a byte that is neither a letter nor TLS: closed, as before
    s = socket.create_connection(("127.0.0.1", tls_daemon.port), timeout=5)
    s.sendall(b"\x00\x01garbage")
    try:
        assert s.recv(4096) == b""
    except ConnectionResetError:
        pass
    s.close()
    assert create(tls_daemon, pki, pki.orch).status_code == 201


def test_tls_pipelined_and_large(tls_daemon, pki):
    # three requests in one TLS write: answered in order on the one
    # connection (the second and third wait in GnuTLS's buffer, not in
    # the socket, so the engine must read them without a new event)
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    got = tls_raw(tls_daemon, pki, one + one + last)
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 3, got
    # a body larger than a TLS record (16 KiB), in many records: read
    # whole, then refused by the API (not by the engine)
    body = b'{"agent": "' + b"a" * 100000 + b'"}'
    req = (b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    got = tls_raw(tls_daemon, pki, req)
    assert got.startswith(b"HTTP/1.1 400 "), got[:300]


def test_tls_setup_errors_are_named(start_daemon, pki):
    """A certificate and key that do not belong together, and a client CA
    file with no certificate in it: the daemon does not start, and says
    which setting is wrong and why."""
    import shutil
    other = ec.generate_private_key(ec.SECP256R1())
    (pki.dir / "other.key").write_bytes(pem_key(other))
    (pki.dir / "other.key").chmod(0o600)
    (pki.dir / "empty-ca.pem").write_text("no certificate here\n")
    for old, new, says in [
        ("@DIR@/server.key", "@DIR@/other.key", "server.tls: the certificate"),
        ("@DIR@/clients-ca.pem", "@DIR@/empty-ca.pem", "server.tls.client_ca_file"),
    ]:
        shutil.rmtree(pki.dir / "data", ignore_errors=True)
        d = start_daemon((CONFIG % ("require", ORCH)).replace(old, new), ready=False)
        assert d.proc.wait(timeout=10) != 0, d.log_text()
        log = d.log_text()
        assert "cannot set up the HTTP server: " in log and says in log, log


def test_tls_unreadable_files_are_named(start_daemon, pki):
    """A TLS file that cannot be read at start (missing, a directory): the
    error names the setting, the path and the reason, as at SIGHUP."""
    import shutil
    for old, new, says in [
        ("@DIR@/server.crt", "@DIR@/none.crt",
         "server.tls.cert_file %s/none.crt: No such file or directory"),
        ("@DIR@/server.key", "@DIR@/none.key",
         "server.tls.key_file %s/none.key: No such file or directory"),
        ("@DIR@/clients-ca.pem", "@DIR@/none.pem",
         "server.tls.client_ca_file %s/none.pem: No such file or directory"),
        ("@DIR@/server.key", "@DIR@/policies",
         "server.tls.key_file %s/policies: Is a directory"),
    ]:
        shutil.rmtree(pki.dir / "data", ignore_errors=True)
        d = start_daemon((CONFIG % ("require", ORCH)).replace(old, new), ready=False)
        assert d.proc.wait(timeout=10) != 0, d.log_text()
        log = d.log_text()
        assert "cannot set up the HTTP server: " + says % pki.dir in log, log


def test_tls_key_readable_by_others_is_refused(start_daemon, pki):
    """server.tls.key_file that group or others may read: the daemon does
    not start, naming the setting, the path and the mode (as it refuses
    such token keys); at SIGHUP it changes nothing, logged and audited."""
    import shutil
    import signal
    import sqlite3
    import time
    key = pki.dir / "server.key"
    for mode in (0o644, 0o640, 0o604, 0o620):
        key.chmod(mode)
        shutil.rmtree(pki.dir / "data", ignore_errors=True)
        d = start_daemon(CONFIG % ("require", ORCH), ready=False)
        assert d.proc.wait(timeout=10) != 0, d.log_text()
        assert ("cannot set up the HTTP server: server.tls.key_file %s: mode 0%o: "
                "a private key must not be readable or writable by group or "
                "others" % (key, mode) in d.log_text()), d.log_text()
    key.chmod(0o600)
    shutil.rmtree(pki.dir / "data", ignore_errors=True)
    d = start_daemon(CONFIG % ("require", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    key.chmod(0o644)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "not reloaded" not in d.log_text():
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    assert "server.tls.key_file %s: mode 0644: " % key in d.log_text(), d.log_text()
    assert "certificate reloaded" not in d.log_text()
    assert requests.get(d.https + "/readyz", verify=str(pki.server_ca),
                        cert=pki.orch, timeout=5).status_code == 200
    assert d.stop() == 0, d.log_text()
    db = sqlite3.connect(str(pki.dir / "data" / "mandate.db"))
    rows = [(t, json.loads(f)) for t, f in db.execute(
        "SELECT type, fields_json FROM audit_events WHERE type LIKE 'tls.%' ORDER BY id")]
    db.close()
    assert [t for t, _ in rows] == ["tls.reload_failed"], rows
    assert "server.tls.key_file" in rows[0][1]["error"], rows
    assert "mode 0644" in rows[0][1]["error"], rows


SERVER_SAN = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]


def test_tls_certificate_out_of_validity_is_refused_at_start(start_daemon, pki):
    """A server certificate that has expired, or is not valid yet, can serve
    no client: the daemon does not start, and says so."""
    import shutil
    for valid, says in [((-7200, -60), "the certificate expired at "),
                        ((3600, 7200), "the certificate is not valid before ")]:
        k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                         ExtendedKeyUsageOID.SERVER_AUTH, valid)
        write_pair(pki.dir, "server", k, c)
        shutil.rmtree(pki.dir / "data", ignore_errors=True)
        d = start_daemon(CONFIG % ("require", ORCH), ready=False)
        assert d.proc.wait(timeout=10) != 0, d.log_text()
        assert ("cannot set up the HTTP server: server.tls.cert_file %s/server.crt: "
                % pki.dir + says) in d.log_text(), d.log_text()


def test_tls_weak_server_key_is_refused_at_start(start_daemon, pki):
    """A server certificate whose key gives less than 112 bits of security
    (RSA-1024) is refused, as client certificate chains are: the daemon
    does not start, and says why; RSA-2048 starts (the RSA test below)."""
    import shutil
    from cryptography.hazmat.primitives.asymmetric import rsa
    k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                     ExtendedKeyUsageOID.SERVER_AUTH,
                     key=rsa.generate_private_key(65537, 1024))
    write_pair(pki.dir, "server", k, c)
    shutil.rmtree(pki.dir / "data", ignore_errors=True)
    d = start_daemon(CONFIG % ("require", ORCH), ready=False)
    assert d.proc.wait(timeout=10) != 0, d.log_text()
    assert ("server.tls.cert_file %s/server.crt: the certificate's RSA key of "
            "1024 bits gives 80 bits of security, below the 112 required"
            % pki.dir) in d.log_text(), d.log_text()


def test_tls_certificate_issued_by_a_clock_ahead_is_taken(start_daemon, pki):
    """A certificate whose notBefore is a minute ahead of our clock (its CA's
    clock is ahead) is taken, so that a renewal is not refused for seconds
    of skew; an hour ahead it is still refused (the test above).  (Clients
    with our clock refuse it for that minute, so the check here does not
    verify the chain.)"""
    import time
    import urllib3
    k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                     ExtendedKeyUsageOID.SERVER_AUTH, (60, 7200))
    write_pair(pki.dir, "server", k, c)
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    deadline = time.monotonic() + 10
    while True:
        assert d.proc.poll() is None, d.log_text()
        try:
            r = requests.get("https://127.0.0.1:%d/readyz" % d.port,
                             verify=False, cert=pki.orch, timeout=1)
            if r.status_code == 200:
                break
        except requests.exceptions.RequestException:
            pass
        assert time.monotonic() < deadline, d.log_text()
        time.sleep(0.05)
    d.was_ready = True
    assert "not valid before" not in d.log_text()


def test_tls_reload_keeps_a_valid_certificate(start_daemon, pki):
    """SIGHUP with a certificate that has expired or is not valid yet
    changes nothing: the one in use stays, logged and audited as
    tls.reload_failed; a certificate near its end is put in force with a
    warning (less than 7 days)."""
    import hashlib
    import signal
    import socket
    import sqlite3
    import ssl
    import time
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    ctx = ssl.create_default_context(cafile=str(pki.server_ca))

    def fingerprint():
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def hup_and_wait(count, what):
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while d.log_text().count(what) < count:
            assert time.monotonic() < deadline, d.log_text()
            time.sleep(0.05)

    fp0 = fingerprint()
    for n, valid in enumerate([(-7200, -60), (3600, 7200)], 1):
        k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                         ExtendedKeyUsageOID.SERVER_AUTH, valid)
        write_pair(pki.dir, "server", k, c)
        hup_and_wait(n, "not reloaded, the certificate in use stays")
        assert fingerprint() == fp0
    assert "EXPIRED" not in d.log_text()
    # a key too weak (RSA-1024) is refused at a reload as at start
    from cryptography.hazmat.primitives.asymmetric import rsa
    k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                     ExtendedKeyUsageOID.SERVER_AUTH,
                     key=rsa.generate_private_key(65537, 1024))
    write_pair(pki.dir, "server", k, c)
    hup_and_wait(3, "not reloaded, the certificate in use stays")
    assert fingerprint() == fp0
    k, c = make_leaf(pki.srv_ca_key, pki.srv_ca, SERVER_SAN,
                     ExtendedKeyUsageOID.SERVER_AUTH, (-60, 3 * 86400))
    write_pair(pki.dir, "server", k, c)
    hup_and_wait(1, "certificate reloaded")
    fp1 = hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert fingerprint() == fp1
    line = [x for x in d.log_text().splitlines() if "certificate reloaded" in x][0]
    assert " warn " in line and "less than 7 days from now" in line, line
    assert d.stop() == 0, d.log_text()
    db = sqlite3.connect(str(pki.dir / "data" / "mandate.db"))
    rows = [(t, json.loads(f)) for t, f in db.execute(
        "SELECT type, fields_json FROM audit_events WHERE type LIKE 'tls.%' ORDER BY id")]
    db.close()
    assert [t for t, _ in rows] == ["tls.reload_failed", "tls.reload_failed",
                                    "tls.reload_failed", "tls.reloaded"], rows
    assert "the certificate expired at" in rows[0][1]["error"], rows
    assert "is not valid before" in rows[1][1]["error"], rows
    assert "gives 80 bits of security" in rows[2][1]["error"], rows


def test_client_ca_file_without_client_auth_is_refused(start_daemon, pki):
    """server.tls.client_ca_file with client_auth none asks no client for a
    certificate: a configuration error at its location, not silence."""
    cfg = (CONFIG % ("none", ORCH)).replace(
        "api_auth:\n  mtls_identities: [%s]\n" % ORCH, "api_auth:\n")
    d = start_daemon(cfg, ready=False)
    assert d.proc.wait(timeout=10) != 0, d.log_text()
    log = d.log_text()
    assert "mandate.yaml:8:21: error: server.tls.client_ca_file is used only " \
        "with client_auth optional or require" in log, log


def test_tls_handshake_has_request_timeout(start_daemon, pki):
    """A client that connects and says nothing, or trickles its ClientHello
    a byte at a time, is cut off after server.request_timeout (1 s here):
    a handshake cannot hold a connection open longer than a request can."""
    import socket
    import time
    cfg = (CONFIG % ("optional", ORCH)).replace(
        "  listen: 127.0.0.1:@PORT@\n",
        "  listen: 127.0.0.1:@PORT@\n  request_timeout: 1s\n")
    d = start_daemon(cfg, ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    for trickle in (False, True):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        start = time.monotonic()
        closed = False
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 60
        i = 0
        while time.monotonic() - start < 6:
            try:
                if trickle and i < len(hello):
                    s.sendall(hello[i:i + 1])
                    i += 1
                s.settimeout(0.2)
                if s.recv(1) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except (ConnectionError, OSError):
                closed = True
                break
        took = time.monotonic() - start
        s.close()
        assert closed, "still open after %.1f s (trickle=%s)" % (took, trickle)
        assert 0.8 <= took <= 3.0, (took, trickle)


def test_tls_pipelined_held_answers(tls_daemon, pki):
    """Evaluations whose answers wait for their audit records (held), with
    more requests pipelined behind them in the same TLS records: every
    answer comes, in order, each naming its own request."""
    body = json.dumps({"subject": {"type": "User", "id": "alice"},
                       "action": {"name": "read"},
                       "resource": {"type": "Doc", "id": "d1"}}).encode()
    reqs = b""
    for i in range(6):
        reqs += (b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nX-Request-ID: pipe-%d\r\n"
                 b"Content-Length: %d\r\n\r\n" % (i, len(body))) + body
    reqs += b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-last\r\nConnection: close\r\n\r\n"
    got = tls_raw(tls_daemon, pki, reqs)
    heads = [h for h in got.split(b"HTTP/1.1 ")[1:]]
    assert len(heads) == 7, got
    for i, h in enumerate(heads[:6]):
        assert h.startswith(b"200 "), h[:200]
        assert b"X-Request-ID: pipe-%d\r\n" % i in h, h[:300]
        assert b'"decision":' in h, h[:400]
    assert heads[6].startswith(b"200 ") and b"X-Request-ID: pipe-last" in heads[6]


def test_tls_certificate_reload_on_sighup(start_daemon, pki):
    """SIGHUP reads the server certificate and key again: new connections get
    the new certificate, an open one keeps its session, files that cannot be
    used change nothing, and both outcomes are in the log and the audit log."""
    import hashlib
    import signal
    import socket
    import sqlite3
    import ssl
    import time

    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    ctx = ssl.create_default_context(cafile=str(pki.server_ca))

    def open_conn():
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def fingerprint():
        with open_conn() as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def healthz(s):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or not got.endswith(b"}") and b'"ok"' not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
            if b"Content-Length: " in got and got.index(b"\r\n\r\n") + 4 + int(
                    got.split(b"Content-Length: ")[1].split(b"\r\n")[0]) <= len(got):
                break
        return got

    def wait_for(pred, what):
        deadline = time.monotonic() + 10
        while not pred():
            assert time.monotonic() < deadline, what + "\n" + d.log_text()
            time.sleep(0.05)

    fp0 = fingerprint()
    assert ("SHA-256 " + fp0) in d.log_text()
    kept = open_conn()
    assert healthz(kept).startswith(b"HTTP/1.1 200 ")

    # a new leaf from the same CA, written over the files
    k, c = make_leaf(pki.srv_ca_key, pki.srv_ca,
                     [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                     ExtendedKeyUsageOID.SERVER_AUTH)
    write_pair(pki.dir, "server", k, c)
    fp1 = hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert fp1 != fp0
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: fingerprint() == fp1, "the new certificate is not served")
    # the connection opened before the reload goes on with its session
    assert healthz(kept).startswith(b"HTTP/1.1 200 ")
    kept.close()

    # a key that is not one: refused, the certificate in use stays
    (pki.dir / "server.key").write_text("not a key\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "not reloaded, the certificate in use stays" in d.log_text(),
             "no refusal in the log")
    assert fingerprint() == fp1
    assert requests.get(d.https + "/readyz", verify=str(pki.server_ca),
                        timeout=5).status_code == 200
    assert d.stop() == 0, d.log_text()
    db = sqlite3.connect(str(pki.dir / "data" / "mandate.db"))
    rows = [(t, json.loads(f)) for t, f in db.execute(
        "SELECT type, fields_json FROM audit_events WHERE type LIKE 'tls.%' ORDER BY id")]
    db.close()
    assert [t for t, _ in rows] == ["tls.reloaded", "tls.reload_failed"], rows
    assert rows[0][1]["cert_thumbprint"] == fp1 and rows[0][1]["origin"] == "SIGHUP"
    assert rows[0][1]["not_after"] > time.time()
    assert "server.tls" in rows[1][1]["error"], rows[1]


def test_cli_over_mtls(tls_daemon, pki):
    """The CLI talks to a TLS daemon with a private CA and mTLS:
    $MANDATE_CACERT, $MANDATE_CERT and $MANDATE_KEY."""
    import os
    import subprocess
    from conftest import BIN
    env = dict(os.environ, MANDATE_SERVER=tls_daemon.https)
    env.pop("MANDATE_TOKEN", None)
    args = [BIN, "task", "create", "--agent", AGENT, "--objective", "triage",
            "--intent", "read_ticket"]

    def run(**extra):
        e = dict(env)
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return subprocess.run(args, env=e, capture_output=True, text=True, timeout=30)

    ok = run(MANDATE_CACERT=str(pki.server_ca), MANDATE_CERT=pki.orch[0],
             MANDATE_KEY=pki.orch[1])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["delegator"] == ORCH
    # the server's CA not given: the system's does not know it
    r = run(MANDATE_CACERT=None, MANDATE_CERT=pki.orch[0], MANDATE_KEY=pki.orch[1])
    assert r.returncode == 1 and "certificate" in r.stderr.lower(), r.stderr
    # no client certificate: the handshake is refused (client_auth: require)
    r = run(MANDATE_CACERT=str(pki.server_ca), MANDATE_CERT=None, MANDATE_KEY=None)
    assert r.returncode == 1, r.stderr
    # a certificate without its key: said before anything is sent
    r = run(MANDATE_CACERT=str(pki.server_ca), MANDATE_CERT=pki.orch[0], MANDATE_KEY=None)
    assert r.returncode == 1 and "go together" in r.stderr, r.stderr


def handshake(port, pki, ciphers, tls12=True):
    """A handshake offering only the OpenSSL cipher list ciphers (TLS 1.2
    unless tls12 is false): the suite negotiated, or None when refused."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=str(pki.server_ca))
    ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.cipher()[0]
    except (ssl.SSLError, ConnectionError):
        return None


def test_tls12_offers_only_forward_secret_aead_suites(start_daemon, pki):
    """TLS 1.2 is negotiated only with ECDHE and an AEAD cipher: static RSA
    key transport (no forward secrecy, RFC 9325 4.1; deprecated by RFC
    10015), finite-field DHE (RFC 10015) and CBC with HMAC-SHA1 (RFC 9325
    4.2) are refused, with an ECDSA and with an RSA server certificate.
    (GnuTLS's NORMAL offered all three.)"""
    import shutil
    from cryptography.hazmat.primitives.asymmetric import rsa
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    assert handshake(d.port, pki, "ECDHE-ECDSA-AES128-GCM-SHA256") == \
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    assert handshake(d.port, pki, "ECDHE-ECDSA-CHACHA20-POLY1305") is not None
    for refused in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA"):
        assert handshake(d.port, pki, refused) is None, refused
    assert handshake(d.port, pki, "DEFAULT", tls12=False) is not None   # 1.3
    assert d.stop() == 0, d.log_text()

    # an RSA server certificate: static RSA and DHE would be possible
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("rsa server"))
            .issuer_name(pki.srv_ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(SERVER_SAN), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           False)
            .sign(pki.srv_ca_key, hashes.SHA256()))
    write_pair(pki.dir, "server", key, cert)
    shutil.rmtree(pki.dir / "data", ignore_errors=True)
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    assert handshake(d.port, pki, "ECDHE-RSA-AES256-GCM-SHA384") == \
        "ECDHE-RSA-AES256-GCM-SHA384"
    for refused in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA",
                    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-SHA",
                    "ECDHE-RSA-AES128-SHA"):
        assert handshake(d.port, pki, refused) is None, refused


def create_raw(port, pki, chain, key):
    """POST /v1/tasks with the client chain (leaf first) and key, from a
    client that would present even a weak certificate (OpenSSL's security
    level 0): the status, or None when the handshake fails."""
    import socket
    import ssl
    c, k = pki.dir / "raw-client.crt", pki.dir / "raw-client.key"
    c.write_bytes(b"".join(pem_cert(x) for x in chain))
    k.write_bytes(pem_key(key))
    k.chmod(0o600)
    ctx = ssl.create_default_context(cafile=str(pki.server_ca))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(str(c), str(k))
    body = json.dumps({"agent": AGENT, "objective": "triage",
                       "intents": [{"action": "read_ticket"}]}).encode()
    req = (b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(req)
                got = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    got += b
    except (ssl.SSLError, ConnectionError):
        return None
    return int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.1 ") else None


def test_mtls_weak_keys_and_signatures_are_refused(tls_daemon, pki):
    """A client chain with an RSA key under 2048 bits (leaf or intermediate)
    or a SHA-1 signature is under 112 bits of security (NIST SP 800-57,
    RFC 9325 4.5): it does not verify (403), though its SPIFFE ID is
    listed.  GnuTLS's default profile (80 bits) took RSA-1024."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    td_ca = x509.load_pem_x509_certificate((pki.dir / "acme-ca.pem").read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)

    def inter(key):
        return (x509.CertificateBuilder().subject_name(_name("acme intermediate"))
                .issuer_name(td_ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                .add_extension(_ku(True), True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    key.public_key()), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    pki.td_key.public_key()), False)
                .sign(pki.td_key, hashes.SHA256()))

    def leaf(key, ca_key, ca_cert, digest=hashes.SHA256()):
        return (x509.CertificateBuilder().subject_name(_name("leaf"))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(_ku(False), True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                               False)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(ORCH)]), False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), False)
                .sign(ca_key, digest))

    rsa2048 = rsa.generate_private_key(65537, 2048)
    rsa1024 = rsa.generate_private_key(65537, 1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    assert create_raw(tls_daemon.port, pki, [leaf(rsa2048, pki.td_key, td_ca)],
                      rsa2048) == 201
    assert create_raw(tls_daemon.port, pki, [leaf(rsa1024, pki.td_key, td_ca)],
                      rsa1024) == 403
    weak_ca = inter(rsa1024)
    assert create_raw(tls_daemon.port, pki, [leaf(ec_key, rsa1024, weak_ca), weak_ca],
                      ec_key) == 403
    strong_ca = inter(rsa2048)
    assert create_raw(tls_daemon.port, pki, [leaf(ec_key, rsa2048, strong_ca), strong_ca],
                      ec_key) == 201
    # SHA-1: refused by GnuTLS's defaults already; kept so that it stays so
    assert create_raw(tls_daemon.port, pki,
                      [leaf(ec_key, pki.td_key, td_ca, hashes.SHA1())], ec_key) == 403


def test_client_ca_removed_at_sighup_ends_trust_on_open_connections(start_daemon, pki):
    """SIGHUP with a client_ca_file that no longer holds a client's CA: the
    chain is verified again, against the new bundle, at the next request of
    a connection opened before; it gets 403 there as on a new connection.
    (Dropping a CA is how a compromised one is revoked; a keep-alive
    connection must not keep its trust for as long as it stays busy.)  A
    chain that still verifies is not troubled."""
    import signal
    import socket
    import ssl
    import time
    d = start_daemon(CONFIG % ("optional", ORCH), ready=False)
    d.https = "https://127.0.0.1:%d" % d.port
    wait_tls_ready(d, pki)
    d.was_ready = True
    body = json.dumps({"agent": AGENT, "objective": "triage",
                       "intents": [{"action": "read_ticket"}]}).encode()
    req = (b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body

    def status(s):
        s.sendall(req)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        head, rest = got.split(b"\r\n\r\n", 1)
        n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < n:
            rest += s.recv(4096)
        return int(head.split(b" ", 2)[1])

    def open_conn(cert):
        ctx = ssl.create_default_context(cafile=str(pki.server_ca))
        ctx.load_cert_chain(*cert)
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def hup_and_wait(count):
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while d.log_text().count("certificate reloaded") < count:
            assert time.monotonic() < deadline, d.log_text()
            time.sleep(0.05)

    kept, forged = open_conn(pki.orch), open_conn(pki.forged)
    assert status(kept) == 201
    assert status(forged) == 401      # verifies at TLS, not as an SVID
    # the same bundle again: both connections go on as before
    hup_and_wait(1)
    assert status(kept) == 201
    assert status(forged) == 401
    # acme.test's CA is dropped from client_ca_file; the other CA stays
    bundle = (pki.dir / "clients-ca.pem").read_bytes()
    acme = (pki.dir / "acme-ca.pem").read_bytes()
    (pki.dir / "clients-ca.pem").write_bytes(bundle.replace(acme, b""))
    hup_and_wait(2)
    assert status(kept) == 403, "trust kept across the reload"
    assert status(forged) == 401      # its CA is still in the bundle
    with open_conn(pki.orch) as s:
        assert status(s) == 403
    kept.close()
    forged.close()


def test_authorization_header_takes_precedence_over_the_certificate(tls_daemon, pki):
    """docs/api.md: a request with an Authorization header is judged by it
    alone; the listed client certificate of its connection does not rescue
    a bad token or another scheme (fail closed, no mixing of the two)."""
    for authz in ("Bearer abc.def.ghi", "Basic YTpi", "Bearer "):
        r = requests.post(tls_daemon.https + "/v1/tasks", verify=str(pki.server_ca),
                          cert=pki.orch, timeout=5, headers={"Authorization": authz},
                          json={"agent": AGENT, "objective": "triage",
                                "intents": [{"action": "read_ticket"}]})
        assert r.status_code == 401, (authz, r.text)
