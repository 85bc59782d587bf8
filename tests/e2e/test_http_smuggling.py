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
