#!/usr/bin/env python3
"""A stand-in for systemd-journald's native socket, for tests/lab/journald.sh.

Usage: journal_receiver.py SOCKET OUT.jsonl

Binds an AF_UNIX datagram socket at SOCKET and writes every entry it receives as one JSON object per line to
OUT.jsonl (flushed at once). The native protocol (systemd's "Native Journal Protocol"): a datagram is a sequence of
fields, each either `NAME=value\\n` or, for values with a newline or other binary data,
`NAME\\n<64-bit little-endian length><value>\\n`. An entry too big for one datagram arrives as an empty datagram
carrying a sealed memfd (SCM_RIGHTS) that holds the same bytes. Besides the entry's own fields, each object has
_PID (the sender, from SCM_CREDENTIALS) and _LAB_TRANSPORT ("datagram" or "memfd"); a field sent twice becomes a
list; an entry that does not parse is written as {"_LAB_ERROR": reason, ...}.
"""
import array
import json
import os
import socket
import struct
import sys

MAX_DATAGRAM = 16 * 1024 * 1024


def parse(data):
    """The fields of one entry in the native protocol; raises ValueError on malformed input."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:
            raise ValueError("field at offset %d has no newline" % i)
        line = data[i:nl]
        eq = line.find(b"=")
        if eq >= 0:
            name, value, i = line[:eq], line[eq + 1:], nl + 1
        else:
            name = line
            if nl + 9 > len(data):
                raise ValueError("binary field %r: truncated length" % name)
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            start = nl + 9
            end = start + size
            if end >= len(data) or data[end:end + 1] != b"\n":
                raise ValueError("binary field %r: %d bytes and a newline do not fit" % (name, size))
            value, i = data[start:end], end + 1
        if not name:
            raise ValueError("empty field name at offset %d" % i)
        key = name.decode("ascii", "replace")
        text = value.decode("utf-8", "replace")
        if key in fields:
            old = fields[key]
            fields[key] = (old if isinstance(old, list) else [old]) + [text]
        else:
            fields[key] = text
    return fields


def read_memfd(fd):
    """All bytes of a passed file descriptor, from its start."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def main():
    path, out_path = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    buf = bytearray(MAX_DATAGRAM)
    ancillary = socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(struct.calcsize("iII"))
    with open(out_path, "a", encoding="utf-8") as out:
        while True:
            size, anc, flags, _ = sock.recvmsg_into([buf], ancillary)
            fds, pid = [], None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(array.array("i", cdata[:len(cdata) - len(cdata) % 4]))
                elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            transport = "datagram"
            data = bytes(buf[:size])
            try:
                if flags & socket.MSG_TRUNC:
                    raise ValueError("datagram truncated")
                if fds:
                    if size:
                        raise ValueError("a datagram with both data and a file descriptor")
                    data, transport = read_memfd(fds[0]), "memfd"
                entry = parse(data)
            except ValueError as e:
                entry = {"_LAB_ERROR": str(e)}
            finally:
                for fd in fds:
                    os.close(fd)
            entry["_PID"] = pid
            entry["_LAB_TRANSPORT"] = transport
            out.write(json.dumps(entry) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
