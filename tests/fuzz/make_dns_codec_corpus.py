#!/usr/bin/env python3
"""Writes the hand-made seed inputs of corpus/dns_codec/ (the seed_* files). Inputs found by fuzzing sit next to
them under their own names. Usage: make_dns_codec_corpus.py [OUT_DIR]"""
import os
import struct
import sys


def header(id_, flags, qd, an, ns, ar):
    return struct.pack(">6H", id_, flags, qd, an, ns, ar)


def name(dotted):
    out = b""
    for label in filter(None, dotted.split(".")):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def ptr(target):
    return struct.pack(">H", 0xC000 | target)


def question(dotted, qtype=1, qclass=1):
    return name(dotted) + struct.pack(">HH", qtype, qclass)


def rr(owner, rtype, ttl, rdata, rclass=1):
    return owner + struct.pack(">HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def opt(udp, flags=0, options=b"", version=0, ext=0):
    return b"\0" + struct.pack(">HHBBHH", 41, udp, ext, version, flags, len(options)) + options


def option(code, data):
    return struct.pack(">HH", code, len(data)) + data


RD, QR, RA, TC, DO = 0x0100, 0x8000, 0x0080, 0x0200, 0x8000
COOKIE = option(10, bytes(range(8)))
THEIR_ID = option(0x6942, b"OpenDNS" + bytes(8))
TSIG = rr(name("key.test"), 250, 0, name("hmac-sha256") + bytes(16), rclass=255)
SOA = name("ns.example") + name("h.example") + struct.pack(">5I", 1, 7200, 900, 1209600, 300)

seeds = {
    "query_a": header(0x1234, RD, 1, 0, 0, 0) + question("www.example.com"),
    "query_edns_do_cookie": header(0x1234, RD, 1, 0, 0, 1) + question("Mixed.Case.TEST", 28) + opt(4096, DO, COOKIE),
    "query_edns_client_identity": header(1, RD, 1, 0, 0, 1) + question("a.test") + opt(1232, 0, COOKIE + THEIR_ID),
    "query_badvers": header(2, RD, 1, 0, 0, 1) + question("a.test") + opt(1232, DO, b"", version=1),
    "query_tsig": header(3, RD, 1, 0, 0, 2) + question("a.test") + opt(1232, 0, THEIR_ID) + TSIG,
    "query_opcode_status": header(4, 0x1000 | RD, 1, 0, 0, 0) + question("a.test"),
    "query_name_255": header(5, RD, 1, 0, 0, 0) + question(".".join(["a" * 63] * 3 + ["b" * 61])),
    "query_two_opts": header(6, RD, 1, 0, 0, 2) + question("a.test") + opt(1232) + opt(4096),
    "query_reserved_label_0x40": header(7, RD, 1, 0, 0, 0) + b"\x40ab\x00" + struct.pack(">HH", 1, 1),
    "query_question_loop": header(8, RD, 1, 0, 0, 0) + b"\x01a" + ptr(16) + ptr(12) + struct.pack(">HH", 1, 1),
    "query_truncated_question": (header(9, RD, 1, 0, 0, 0) + question("www.example.com"))[:20],
    "query_trailing_garbage": header(10, RD, 1, 0, 0, 0) + question("a.test") + b"\xde\xad",
    "header_only_short": header(11, RD, 1, 0, 0, 0)[:7],
    # 12: www.example.com A; answers: CNAME -> cdn.example.com (rdata "cdn" + ptr(16)), A under it; NS; glue; OPT.
    "response_compressed": header(0x4242, QR | RD | RA, 1, 2, 1, 2) + question("www.example.com")
    + rr(ptr(12), 5, 300, b"\x03cdn" + ptr(16))
    + rr(ptr(45), 1, 60, bytes([192, 0, 2, 1]))
    + rr(ptr(16), 2, 3600, b"\x02ns" + ptr(16))
    + rr(ptr(79), 1, 3600, bytes([192, 0, 2, 53]))
    + opt(1232, DO),
    "response_nxdomain_soa": header(0x4343, QR | RD | RA | 3, 1, 0, 1, 1) + question("gone.example.com")
    + rr(ptr(17), 6, 900, ptr(17) + b"\x01h" + ptr(17) + struct.pack(">5I", 1, 2, 3, 4, 60))
    + opt(4096),
    "response_ttl_top_bit": header(0x4444, QR | RD | RA, 1, 1, 1, 0) + question("a.test")
    + rr(ptr(12), 1, 0x80000000, bytes(4)) + rr(name("test"), 6, 60, SOA),
    "response_forward_pointer": header(0x4545, QR | RD | RA, 1, 1, 0, 0) + question("a.test")
    + rr(ptr(36), 16, 60, b"\x01x\x00\x00"),
    "response_pointer_loop": header(0x4646, QR | RD | RA, 0, 1, 0, 0) + ptr(14) + ptr(12)
    + struct.pack(">HHIH", 1, 1, 60, 4) + bytes(4),
    "response_truncated_tc": header(0x4747, QR | RD | RA | TC, 1, 0, 0, 0) + question("big.test", 16),
}

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "dns_codec")
os.makedirs(out_dir, exist_ok=True)
for key, data in seeds.items():
    with open(os.path.join(out_dir, "seed_" + key), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {out_dir}")
