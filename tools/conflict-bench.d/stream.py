#!/usr/bin/python3
"""stream.py -- a steady query stream through a glibc-like stub resolver (tools/conflict-bench's load).

Every query reads /etc/resolv.conf first (glibc re-reads it whenever it changes, so this is what an application
sees at each instant: the file at that moment), then asks its nameservers in order the way glibc's res_send does:
a connected UDP socket with a fresh random port and ID per query, 1 s per server (one round: `attempts` is not
honoured), the next server on timeout, ECONNREFUSED, SERVFAIL, NOTIMP or REFUSED; no nameserver line means
127.0.0.1 (glibc's default). No EDNS, RD set, type A, names asked as given (they all have a dot: ndots:1).

  stream.py --out FILE [--rate N] [--internal NAME] [--tag TAG]
      alternates internal (NAME, default host.corp.example) and external (q<seq>-<tag>.example.net, unique, so no
      cache hides anything) names at N queries/s (default 250) until SIGTERM/SIGINT; queries still in flight then
      are then given up to 3.2 s to finish (anything left is written as "cut").
  stream.py --once NAME [--resolv-conf PATH]
      one query, the record on stdout; exit 0 if an address came back.

One line per finished query (wall-clock seconds, written as each one finishes):
  <seq> <int|ext> <name> <t_send> <t_done> <status> <address|-> <server asked last> <nameservers at send, comma>
status: ok (an A record), nodata, nxdomain (answered, no address), refused, servfail, timeout, connrefused,
neterr (failures: the last server's reason), cut (stopped while in flight).
"""
import argparse, heapq, os, random, resource, selectors, signal, socket, struct, sys, time

RCODES = {0: "ok", 1: "formerr", 2: "servfail", 3: "nxdomain", 4: "notimp", 5: "refused"}
NEXT_SERVER = {"servfail", "notimp", "refused", "timeout", "connrefused", "neterr", "formerr", "badreply"}
TIMEOUT_S = 1.0


def nameservers(path):
    ns = []
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0] == "nameserver" and len(ns) < 3:
                    ns.append(w[1])
    except OSError:
        pass
    return ns or ["127.0.0.1"]


def build_query(qid, name):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def skip_name(buf, off):
    while True:
        if off >= len(buf):
            raise ValueError("truncated name")
        n = buf[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
        if n == 0:
            return off


def parse_reply(buf, qid):
    """(status, address) or None when the datagram is not the answer to qid."""
    if len(buf) < 12:
        return None
    rid, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", buf)
    if rid != qid or not flags & 0x8000:
        return None
    rcode = flags & 0xF
    status = RCODES.get(rcode, f"rcode{rcode}")
    if rcode != 0:
        return status, None
    try:
        off = 12
        for _ in range(qd):
            off = skip_name(buf, off) + 4
        for _ in range(an):
            off = skip_name(buf, off)
            rtype, rclass, _, rdlen = struct.unpack_from("!HHIH", buf, off)
            off += 10
            if rtype == 1 and rclass == 1 and rdlen == 4:
                return "ok", socket.inet_ntoa(buf[off:off + 4])
            off += rdlen
    except (ValueError, struct.error):
        return "badreply", None
    return "nodata", None


class Query:
    __slots__ = ("seq", "kind", "name", "servers", "idx", "sock", "qid", "t_send", "deadline", "last")

    def __init__(self, seq, kind, name, servers):
        self.seq, self.kind, self.name, self.servers = seq, kind, name, servers
        self.idx, self.sock, self.qid, self.t_send, self.deadline, self.last = -1, None, 0, time.time(), 0.0, "-"


class Stream:
    def __init__(self, resolv_conf, out):
        self.resolv_conf, self.out = resolv_conf, out
        self.sel = selectors.DefaultSelector()
        self.timers = []  # (deadline, seq, idx)
        self.live = {}

    def start(self, q):
        self.live[q.seq] = q
        self.next_server(q, None)

    def next_server(self, q, why):
        if q.sock is not None:
            self.sel.unregister(q.sock)
            q.sock.close()
            q.sock = None
        q.idx += 1
        while q.idx < len(q.servers):
            q.last = q.servers[q.idx]
            q.qid = random.getrandbits(16)
            try:
                s = socket.socket(socket.AF_INET6 if ":" in q.last else socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.connect((q.last, 53))
                s.send(build_query(q.qid, q.name))
            except ConnectionRefusedError:
                s.close()
                why = "connrefused"
                q.idx += 1
                continue
            except OSError:
                s.close()
                why = "neterr"
                q.idx += 1
                continue
            q.sock, q.deadline = s, time.time() + TIMEOUT_S
            self.sel.register(s, selectors.EVENT_READ, q)
            heapq.heappush(self.timers, (q.deadline, q.seq, q.idx))
            return
        self.finish(q, why or "neterr", None)

    def finish(self, q, status, addr):
        if q.sock is not None:
            self.sel.unregister(q.sock)
            q.sock.close()
            q.sock = None
        self.live.pop(q.seq, None)
        self.out.write(f"{q.seq} {q.kind} {q.name} {q.t_send:.4f} {time.time():.4f} {status} {addr or '-'} "
                       f"{q.last} {','.join(q.servers)}\n")
        self.out.flush()

    def readable(self, q):
        try:
            buf = q.sock.recv(4096)
        except ConnectionRefusedError:
            return self.next_server(q, "connrefused")
        except OSError:
            return self.next_server(q, "neterr")
        r = parse_reply(buf, q.qid)
        if r is None:
            return  # not ours: keep waiting (glibc does the same)
        status, addr = r
        if status in NEXT_SERVER:
            return self.next_server(q, status)
        self.finish(q, status, addr)

    def poll(self, until):
        """Handles replies and timeouts until the wall time `until`."""
        while True:
            now = time.time()
            while self.timers and self.timers[0][0] <= now:
                _, seq, idx = heapq.heappop(self.timers)
                q = self.live.get(seq)
                if q is not None and q.idx == idx:
                    self.next_server(q, "timeout")
            if now >= until:
                return
            wait = until - now
            if self.timers:
                wait = min(wait, max(self.timers[0][0] - now, 0))
            for key, _ in self.sel.select(wait):
                self.readable(key.data)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="record file (stream mode)")
    ap.add_argument("--rate", type=float, default=250.0)
    ap.add_argument("--internal", default="host.corp.example")
    ap.add_argument("--tag", default=f"{random.getrandbits(32):08x}")
    ap.add_argument("--once", metavar="NAME")
    ap.add_argument("--resolv-conf", default="/etc/resolv.conf")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    if a.once:
        class Buf:
            line = ""
            def write(self, s): self.line += s
            def flush(self): pass
        b = Buf()
        st = Stream(a.resolv_conf, b)
        st.start(Query(0, "once", a.once, nameservers(a.resolv_conf)))
        while st.live:
            st.poll(time.time() + 0.05)
        sys.stdout.write(b.line)
        return 0 if b.line.split()[5] == "ok" else 1

    if not a.out:
        ap.error("--out FILE or --once NAME")
    stop = []
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.append(1))
    with open(a.out, "w", buffering=1 << 16) as out:
        st = Stream(a.resolv_conf, out)
        interval, t0, seq = 1.0 / a.rate, time.time(), 0
        while not stop:
            due = t0 + seq * interval
            if time.time() >= due:
                kind = "int" if seq % 2 == 0 else "ext"
                name = a.internal if kind == "int" else f"q{seq}-{a.tag}.example.net"
                st.start(Query(seq, kind, name, nameservers(a.resolv_conf)))
                seq += 1
                continue
            st.poll(due)
        # drain: the queries in flight get their real outcome (at most 3 servers x 1 s), then the rest is cut
        end = time.time() + 3 * TIMEOUT_S + 0.2
        while st.live and time.time() < end:
            st.poll(min(end, time.time() + 0.05))
        for q in list(st.live.values()):
            st.finish(q, "cut", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
