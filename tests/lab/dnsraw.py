#!/usr/bin/env python3
"""DNS traffic that dig cannot produce, for roamd's lab tests. Prints one result line per reply.

  dnsraw.py udp SERVER KIND            send one crafted datagram; print "rcode=NAME id=ok|bad" or "noreply"
  dnsraw.py pipeline SERVER NAME...    send A queries for all NAMEs in one write on one TCP connection;
                                       print "NAME RCODE ADDRESS..." per query, in the order sent
  dnsraw.py burst SERVER NAME...       the same as UDP datagrams sent back to back from one socket
  dnsraw.py slow SERVER NAME MS        send one TCP query a byte at a time, MS milliseconds apart
  dnsraw.py tcpjunk SERVER KIND        send junk on a TCP connection; print "closed", "open" or "rcode=NAME"
  dnsraw.py idle SERVER SECONDS        hold an idle TCP connection; print "closed ms=N" or "open"
  dnsraw.py hold SERVER N SECONDS      open N idle TCP connections, print "held N", keep them SECONDS
  dnsraw.py stream SERVER PREFIX WANT T0 LIMIT_MS
                                       a fresh A query (PREFIX-N.example.org) every 100 ms from one UDP socket,
                                       as clients keep asking; print the ms from T0 (Unix ms) at which the first
                                       answer holding WANT arrived, or "none" after LIMIT_MS from T0
  dnsraw.py tally SERVER PREFIX STOPFILE
                                       the same stream until STOPFILE exists (and 1 s more for late answers);
                                       print "sent N", then one "OUTCOME COUNT" line per outcome (the rcode and
                                       first address, e.g. "NOERROR 192.0.2.1"; "noanswer" for no reply)
  dnsraw.py forward LISTEN UPSTREAM MARK
                                       another DNS agent: a UDP forwarder on LISTEN that sends each query as it is
                                       (options included, no merging of equal questions) to UPSTREAM from a fresh
                                       socket carrying SO_MARK MARK, and relays the answer; prints "forward N" per
                                       query; runs until killed
"""
import select
import os
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
PORT = 53


def name_wire(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def query(qid, name, qtype=1, flags=0x0100):
    return header(qid, flags) + name_wire(name) + struct.pack("!HH", qtype, 1)


def datagram(kind):
    """The crafted datagrams; the lab test names the reply it expects for each."""
    q = name_wire("garbage.example") + struct.pack("!HH", 1, 1)
    return {
        "random": os.urandom(64),
        "1byte": b"\x42",
        "11byte": header(0x1111)[:11],
        "header-only": header(0x2222),                                 # qdcount=1, question missing
        "qdcount0": header(0x2323, qd=0),
        "qdcount2": header(0x3333, qd=2) + q + q,
        "loop": header(0x4444) + b"\xc0\x0c" + struct.pack("!HH", 1, 1),  # qname points at itself
        "badlabel": header(0x4545) + b"\x47" + b"x" * 7 + b"\0" + struct.pack("!HH", 1, 1),  # label type 01
        "cut-question": header(0x4646) + name_wire("garbage.example") + b"\0",  # qtype/qclass missing
        "response": header(0x5555, flags=0x8180) + q,                  # QR=1
        "update": header(0x6666, flags=5 << 11) + q,                   # opcode 5 (UPDATE)
        "opcode15": header(0x6767, flags=15 << 11) + q,                # unassigned opcode
    }[kind]


def skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n >= 0xC0:
            return i + 2
        i += n + 1


def parse(msg):
    """(id, rcode name, [A addresses]) of a response."""
    qid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(msg, i)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[i:i + 4]))
        i += rdlen
    return qid, RCODES.get(flags & 0xF, str(flags & 0xF)), addrs


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def recv_tcp_message(sock):
    size = recv_exact(sock, 2)
    return recv_exact(sock, struct.unpack("!H", size)[0]) if size else None


def tcp_connect(server, timeout=5.0):
    sock = socket.create_connection((server, PORT), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def cmd_udp(server, kind):
    pkt = datagram(kind)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)  # "no reply" means nothing within 1 s; roamd answers others in well under that
    sock.sendto(pkt, (server, PORT))
    try:
        reply = sock.recv(65535)
    except socket.timeout:
        print("noreply")
        return
    if len(reply) < 12:
        print(f"short-reply len={len(reply)}")
        return
    qid, flags = struct.unpack("!HH", reply[:4])
    same_id = len(pkt) >= 2 and reply[:2] == pkt[:2]
    print(f"rcode={RCODES.get(flags & 0xF, flags & 0xF)} id={'ok' if same_id else 'bad'} qr={flags >> 15}")


def collect(names, receive):
    """Calls receive() (a DNS message, or None once nothing more comes) until every query of `names` (IDs 0x100 + n)
    is answered or 5 s have passed; prints "NAME RCODE ADDRESS..." per query, in the order sent."""
    results = {}
    deadline = time.monotonic() + 5
    while len(results) < len(names) and time.monotonic() < deadline:
        try:
            msg = receive()
        except socket.timeout:
            break
        if msg is None:
            break
        qid, rcode, addrs = parse(msg)
        results[qid] = f"{rcode} {' '.join(addrs)}".strip()
    for n, name in enumerate(names):
        print(f"{name} {results.get(0x100 + n, 'NOREPLY')}")


def cmd_pipeline(server, *names):
    sock = tcp_connect(server)
    wire = b"".join(struct.pack("!H", len(q)) + q for q in (query(0x100 + n, name) for n, name in enumerate(names)))
    sock.sendall(wire)
    collect(names, lambda: recv_tcp_message(sock))


def cmd_burst(server, *names):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((server, PORT))
    sock.settimeout(5.0)
    for n, name in enumerate(names):
        sock.send(query(0x100 + n, name))
    collect(names, lambda: sock.recv(65535))


def cmd_slow(server, name, ms):
    sock = tcp_connect(server)
    q = query(0x7777, name)
    for b in struct.pack("!H", len(q)) + q:
        sock.send(bytes([b]))
        time.sleep(int(ms) / 1000)
    msg = recv_tcp_message(sock)
    if msg is None:
        print(f"{name} CLOSED")
    else:
        _, rcode, addrs = parse(msg)
        print(f"{name} {rcode} {' '.join(addrs)}".strip())


def closed_within(sock, seconds):
    """Reads until the peer closes; returns ms until close, or None if still open after `seconds`."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return int((time.monotonic() - start) * 1000)


def cmd_tcpjunk(server, kind):
    sock = tcp_connect(server)
    junk = {
        "random": os.urandom(300),
        "zero-length": b"\0\0",
        "short-message": b"\0\x05hello",                          # a 5-byte "DNS message"
        "huge-length": b"\xff\xff" + os.urandom(100),            # announces 65535 bytes, sends 100
    }[kind]
    sock.sendall(junk)
    ms = closed_within(sock, 3.0)
    print("open" if ms is None else f"closed ms={ms}")


def cmd_idle(server, seconds):
    sock = tcp_connect(server)
    ms = closed_within(sock, float(seconds))
    print("open" if ms is None else f"closed ms={ms}")


def cmd_hold(server, n, seconds):
    socks = [tcp_connect(server) for _ in range(int(n))]
    print(f"held {len(socks)}", flush=True)
    time.sleep(float(seconds))


def cmd_stream(server, prefix, want, t0, limit_ms):
    t0, limit = int(t0), int(limit_ms)
    now = lambda: int(time.time() * 1000)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, PORT))
    n, next_send = 0, now()
    while now() - t0 < limit:
        if now() >= next_send:
            n += 1
            s.send(query(n & 0xFFFF, f"{prefix}-{n}.example.org"))
            next_send += 100
        ready, _, _ = select.select([s], [], [], max(0, next_send - now()) / 1000)
        if ready:
            try:
                _, rcode, addrs = parse(s.recv(4096))
            except (OSError, struct.error, IndexError):
                continue
            if rcode == "NOERROR" and want in addrs:
                print(now() - t0)
                return
    print("none")


def cmd_tally(server, prefix, stopfile):
    now = time.monotonic
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, PORT))
    sent, outcomes, stop_at = 0, {}, None
    next_send = now()
    while stop_at is None or now() < stop_at:
        if stop_at is None and os.path.exists(stopfile):
            stop_at = now() + 1.0
        if stop_at is None and now() >= next_send:
            sent += 1
            s.send(query(sent & 0xFFFF, f"{prefix}-{sent}.example.org"))
            next_send += 0.1
        ready, _, _ = select.select([s], [], [], 0.02)
        if ready:
            try:
                _, rcode, addrs = parse(s.recv(4096))
            except (OSError, struct.error, IndexError):
                continue
            key = rcode + (" " + addrs[0] if addrs else "")
            outcomes[key] = outcomes.get(key, 0) + 1
    print(f"sent {sent}")
    for key, count in sorted(outcomes.items()):
        print(f"{key} {count}")
    print(f"noanswer {sent - sum(outcomes.values())}")


def cmd_forward(listen, upstream, mark):
    import threading
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind((listen, PORT))
    n = 0

    def one(q, client):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, 36, int(mark, 0))  # SO_MARK
        u.settimeout(3)
        try:
            u.sendto(q, (upstream, PORT))
            srv.sendto(u.recv(4096), client)
        except OSError:
            pass
        u.close()

    print("listening", flush=True)
    while True:
        q, client = srv.recvfrom(4096)
        n += 1
        print(f"forward {n}", flush=True)
        threading.Thread(target=one, args=(q, client), daemon=True).start()


def main():
    commands = {"forward": cmd_forward, "udp": cmd_udp, "pipeline": cmd_pipeline, "burst": cmd_burst, "slow": cmd_slow, "tcpjunk": cmd_tcpjunk,
                "idle": cmd_idle, "hold": cmd_hold, "stream": cmd_stream, "tally": cmd_tally}
    if len(sys.argv) < 3 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]](*sys.argv[2:])
    except OSError as e:
        print(f"error {e.__class__.__name__}: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
