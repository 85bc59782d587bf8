"""The daemon's HTTP/1.1 front door against what an attacker sends on a
raw socket: answers whose framing a client or a proxy in front could read
differently from ours (RFC 9112 6.3), and request targets whose decoded
segments a handler cannot carry (RFC 3629 text in JSON).  Each case names
the RFC section it holds the server to.
"""
import socket
import time


def exchange(port, data, wait=2.0):
    """Send data, read until the server closes (or wait runs out).  Returns
    (bytes read, closed)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.2)
    got, closed = b"", False
    try:
        s.sendall(data)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        s.close()
    return got, closed


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


def test_refused_head_requests_get_no_content(dev):
    """RFC 9110 9.3.2: a server MUST NOT send content in answer to HEAD,
    and RFC 9112 6.3: an answer to HEAD ends at its empty line whatever
    its Content-Length.  A HEAD refused before routing (its head could
    not be read whole) got the error's JSON after the head all the same:
    a client, or a proxy that pools connections, reads those bytes as the
    start of the next answer."""
    cases = [
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nExpect: nope\r\n\r\n", 417),
        (b"HEAD /healthz HTTP/1.2\r\nHost: x\r\n\r\n", 505),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: z\r\n\r\n",
         400),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 99999999999\r\n\r\n", 413),
        (b"HEAD /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        # a request line that does not fit server.connection_memory
        (b"HEAD /" + b"a" * 20000, 414),
    ]
    for req, want in cases:
        got, closed = exchange(dev.port, req)
        head, sep, rest = got.partition(b"\r\n\r\n")
        assert sep, (req[:40], got)
        assert status_of(head) == want, (req[:40], head)
        assert b"\r\nConnection: close" in head
        assert closed
        assert rest == b"", (req[:40], rest)


def test_path_segments_must_decode_to_utf8(dev):
    """A path parameter is text that handlers put in JSON (the answer, the
    audit record), which must be UTF-8 (RFC 8259 8.1, RFC 3629).  A
    segment that decodes to anything else (a stray byte, an overlong
    form, a surrogate) names nothing the daemon can hold, and is refused
    400 before routing.  The kill switch answered such an agent 500 and
    logged "out of memory"."""
    for path in (b"/v1/agents/%C0%AE/revoke", b"/v1/agents/%ff%fe/revoke",
                 b"/v1/agents/%ED%A0%80/revoke"):
        body = b'{"reason":"x"}'
        got, _ = exchange(dev.port, b"POST %s HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (path, len(body), body))
        assert status_of(got) == 400, (path, got)
        assert b"bad request path" in got
    got, _ = exchange(dev.port, b"GET /v1/tasks/%C0%AE HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
    assert status_of(got) == 400, got
    # text that is UTF-8 still reaches the handler
    body = b'{"reason":"x"}'
    got, _ = exchange(dev.port, b"POST /v1/agents/%s/revoke HTTP/1.1\r\n"
                      b"Host: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (b"%C3%A9", len(body), body))
    assert status_of(got) in (200, 403), got


def test_absolute_form_targets_are_taken(dev):
    """RFC 9112 3.2.2: a server MUST accept a request target in absolute-
    form; it names the same resource as the origin-form of its path, and
    its authority is used instead of Host (which this server does not use
    either).  One with userinfo, no host or another scheme stays 400, and
    so does the asterisk-form outside OPTIONS' server-wide sense."""
    port = dev.port
    ok = [
        b"GET http://127.0.0.1:%d/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % port,
        b"GET HTTP://localhost/healthz?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET http://[::1]:1/healthz HTTP/1.0\r\n\r\n",
    ]
    for req in ok:
        got, _ = exchange(port, req)
        assert status_of(got) == 200, (req, got[:200])
        assert b'"status":"ok"' in got or b"ok" in got, got[:300]
    got, _ = exchange(port, b"GET http://x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(got) == 404, got[:200]    # the path "/", which no route has
    for bad in (b"http://u@h/healthz", b"http:///healthz", b"ftp://h/healthz",
                b"http://h h/healthz", b"http://[::1/healthz"):
        got, closed = exchange(port, b"GET " + bad + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(got) == 400 and closed, (bad, got[:200])
