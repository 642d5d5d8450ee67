#!/usr/bin/env python3
"""Misbehaving clients of roamd's debug port, for tests/lab/inspect_abuse.sh. Each mode prints one line per
connection: what the server sent back (the error text found in its frame, "closed" or "nothing") and how long it
took. Only the error message text is looked at (no protobuf module needed)."""
import os
import re
import select
import socket
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


def words(data):
    """The printable runs of the frames the server sent (its error messages)."""
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
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
