#!/usr/bin/env python3
"""Misbehaving clients of roamd's debug port, for tests/lab/inspect_abuse.sh and inspect_tls.sh. Each mode prints
one line per connection: what the server sent back (the error text found in its frame, "closed" or "nothing") and
how long it took. Only the error message text is looked at (no protobuf module needed)."""
import os
import re
import select
import selectors
import socket
import ssl
import sys
import threading
import time


def connect(target):
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
    else:
        host, port = target.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(15)
    return s


def read_all(s, limit=1 << 20):
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def tls_alerts_only(data):
    """True when `data` is nothing but whole TLS alert records (content type 21, version 3.x, 2-byte body): what
    OpenSSL sends back when garbage happens to look like the start of a TLS record. Not text, not a frame."""
    i = 0
    while i < len(data):
        if len(data) - i < 7 or data[i] != 21 or data[i + 1] != 3 or int.from_bytes(data[i + 3:i + 5], "big") != 2:
            return False
        i += 7
    return bool(data)


def words(data):
    """The printable runs of the frames the server sent (its error messages)."""
    if tls_alerts_only(data):
        return "a TLS alert"
    runs = re.findall(rb"[ -~]{12,}", data)
    return " | ".join(r.decode() for r in runs) if runs else ("nothing" if not data else "binary only")


def one(target, payload, trickle=None, skip_hello=True):
    t0 = time.monotonic()
    try:
        s = connect(target)
    except OSError as e:
        return "connect failed: %s" % e, 0.0
    try:
        if trickle:  # one byte per `trickle` seconds, until the server says something or closes
            for b in payload:
                s.sendall(bytes([b]))
                if select.select([s], [], [], trickle)[0]:
                    break
        else:
            s.sendall(payload)
    except OSError:
        pass
    data = read_all(s)
    s.close()
    return words(data), time.monotonic() - t0


def client_hello_start(n):
    """The first `n` bytes of a real TLS ClientHello (a handshake begun and never finished)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    outgoing = ssl.MemoryBIO()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()[:n]


def flood(target, n):
    """`n` connections at once: even ones send nothing, odd ones half a ClientHello. Each waits for the server to
    close it; prints how each ended and when."""
    hello = client_hello_start(1 << 16)
    partial = hello[: len(hello) // 2] or b"\x16\x03\x01\x00\xff\x01"
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    ended = {}
    for i in range(n):
        try:
            s = connect(target)
        except OSError as e:
            ended[i] = ("connect failed: %s" % e, 0.0)
            continue
        if i % 2:
            s.sendall(partial)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    while sel.get_map() and time.monotonic() - t0 < 30:
        for key, _ in sel.select(timeout=1):
            try:
                data = key.fileobj.recv(65536)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                ended[key.data] = ("closed", time.monotonic() - t0)
                sel.unregister(key.fileobj)
                key.fileobj.close()
    for key in list(sel.get_map().values()):
        ended[key.data] = ("still open", time.monotonic() - t0)
    for i in sorted(ended):
        print("flood %d: %s (%.2fs)" % ((i,) + ended[i]))


def tls_without_certificate(target, cafile):
    """A TLS client that trusts the server but presents no certificate of its own."""
    host, port = target.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    try:
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10)) as s:
            data = s.recv(65536)
            return "answered: " + words(data)
    except (ssl.SSLError, OSError) as e:
        return "refused: %s" % e


def main():
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "garbage":
        for i in range(int(sys.argv[3])):
            print("garbage %d: %s (%.2fs)" % ((i,) + one(target, os.urandom(1 + (i * 997) % 8192))))
    elif mode == "oversized":
        print("oversized: %s (%.2fs)" % one(target, b"\x7f\xff\xff\xff"))
    elif mode == "truncated":
        print("truncated: %s (%.2fs)" % one(target, b"\x00\x00\x00\x64" + b"0123456789"))
    elif mode == "query":  # a well-formed status query without authentication
        print("query: %s (%.2fs)" % one(target, b"\x00\x00\x00\x04\x08\x01\x10\x01"))
    elif mode == "badauth":
        print("badauth: %s (%.2fs)" % one(target, b"\x00\x00\x00\x24\x08\x01\x1a\x20" + b"\x00" * 32))
    elif mode == "slow":  # N connections at once, each trickling a 100-byte frame one byte per second
        n = int(sys.argv[3])
        results = [None] * n

        def run(i):
            results[i] = one(target, b"\x00\x00\x00\x64" + b"x" * 100, trickle=1.0)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
            time.sleep(0.005)
        for t in threads:
            t.join()
        for i, (text, secs) in enumerate(results):
            print("slow %d: %s (%.2fs)" % (i, text, secs))
    elif mode == "flood":  # N half-open TLS handshakes at once
        flood(target, int(sys.argv[3]))
    elif mode == "tls_nocert":
        print("tls_nocert: %s" % tls_without_certificate(target, sys.argv[3]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
