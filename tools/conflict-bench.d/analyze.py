#!/usr/bin/python3
"""analyze.py DIR -- turns one conflict-bench scenario's files into DIR/result.json (tools/conflict-bench).

Reads, all in DIR: marks (lines "<name> <value>" written by the scenario, times in wall-clock ms), roamd.out,
stream.log (stream.py's records), vpnsim*.out / fighter.out (vpnsim's "<monotonic ms> write ..." lines), vpn.log
(the VPN resolver's dnsmasq log). Every time is converted to wall-clock ms: roamd's log stamps are local time,
vpnsim's are CLOCK_MONOTONIC (converted with the offset measured here; the run is minutes long, drift is nil).
"""
import datetime, glob, json, os, re, sys, time

ROAMD_IP, CLOUD_A, VPN_A = "127.0.2.53", "192.0.2.1", "203.0.113.80"
# The cloud answers only queries with roamd's identity option: 192.0.2.1, or 192.0.2.2 when the query also asked for
# DNSSEC records (DO bit; unbound as a local forwarder sets it on what it forwards).
CLOUD_TAGGED = ("192.0.2.1", "192.0.2.2")
LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) (\w+)\s+([a-z_]+): (.*)$")
WRITE_RE = re.compile(r"dns_enforcer: (verifying: took over|protecting: took the settings back: wrote)")
STATE_RE = re.compile(r"\[([a-z ]+)\]$")


def wall_ms(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1000


def read_marks(d):
    m = {}
    with open(os.path.join(d, "marks")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition(" ")
            m[k] = v
    return m


def roamd_lines(d):
    out = []
    with open(os.path.join(d, "roamd.out"), errors="replace") as f:
        for line in f:
            r = LOG_RE.match(line.rstrip("\n"))
            if r:
                out.append(dict(t=wall_ms(r[1]), level=r[2], comp=r[3], text=r[4], line=line.rstrip("\n")))
    return out


def vpn_writes(d):
    off = time.time() * 1000 - time.monotonic() * 1000
    ws = []
    for p in sorted(glob.glob(os.path.join(d, "vpnsim*.out")) + glob.glob(os.path.join(d, "fighter.out"))):
        with open(p, errors="replace") as f:
            for line in f:
                w = line.split()
                if len(w) >= 2 and w[0].isdigit() and w[1] == "write":
                    why = next((x[4:] for x in w if x.startswith("why=")), "?")
                    ws.append(dict(t=int(w[0]) + off, why=why, src=os.path.basename(p)))
    return sorted(ws, key=lambda x: x["t"])


def stream(d):
    recs = []
    with open(os.path.join(d, "stream.log")) as f:
        for line in f:
            w = line.split()
            if len(w) == 9:
                recs.append(dict(seq=int(w[0]), kind=w[1], name=w[2], ts=float(w[3]) * 1000, td=float(w[4]) * 1000,
                                 status=w[5], addr=w[6], server=w[7], ns=w[8]))
    return recs


def share(recs):
    sent = len(recs)
    ok = sum(1 for r in recs if r["status"] == "ok")
    return dict(sent=sent, answered=ok, pct=(100.0 * ok / sent) if sent else None)


def failures(recs):
    """{"<kind> <status> @<server asked last>": count} of the queries that got no address."""
    out = {}
    for r in recs:
        if r["status"] != "ok":
            key = f"{r['kind']} {r['status']} @{r['server']}"
            out[key] = out.get(key, 0) + 1
    return out


def main(d):
    m = read_marks(d)
    lines, writes_vpn, recs = roamd_lines(d), vpn_writes(d), stream(d)
    t_disc = float(m["t_disc"])
    res = dict(scenario=m.get("scenario", os.path.basename(d)))

    # roamd's settings writes: the first is its initial take
    rw = [l for l in lines if WRITE_RE.search(l["comp"] + ": " + l["text"])]
    res["roamd_writes_total"] = len(rw)
    res["roamd_writes"] = sum(1 for l in rw[1:] if l["t"] < t_disc)
    res["roamd_writes_after_disc"] = sum(1 for l in rw[1:] if l["t"] >= t_disc)

    # the VPN's writes before the disconnect; stability = the last change by anyone (VPN write, roamd decision)
    vw = [w for w in writes_vpn if w["t"] < t_disc]
    res["vpn_writes"] = len(vw)
    t_first = vw[0]["t"] if vw else float(m["t_play"])
    arb = [l for l in lines if l["comp"] == "conflict_arbiter" and STATE_RE.search(l["text"])]
    decisions = [l for l in arb if t_first <= l["t"] < t_disc]
    res["decisions"] = [l["text"].split(":")[0] for l in decisions]
    changes = [l["t"] for l in decisions] + [w["t"] for w in vw] + [l["t"] for l in rw[1:] if l["t"] < t_disc]
    t_stable = max(changes) if changes else t_first
    res["stable_ms"] = round(t_stable - t_first)
    before = [l for l in arb if l["t"] < t_disc]
    res["final_state"] = STATE_RE.search(before[-1]["text"])[1] if before else "?"
    res["final_resolv"] = m.get("resolv_at_disc", "?")

    # the storm window: from the VPN's first write (20 ms earlier: vpnsim stamps a write once it is done, and an
    # in-place write empties the file first) to one second after the last change
    w0, w1 = t_first - 20, max(t_stable, vw[-1]["t"] if vw else t_first) + 1000
    win = [r for r in recs if w0 <= r["ts"] < w1]
    res["window_ms"] = round(w1 - w0)
    res["window"] = share(win)
    res["window_by_status"] = failures(win)
    res["window_wrong"] = sum(1 for r in win if r["status"] == "ok" and r["ts"] >= t_first and
                              r["addr"] not in ((VPN_A,) if r["kind"] == "int" else CLOUD_TAGGED))
    # the whole time the VPN was there (first write to disconnect), for context
    res["vpn_period"] = share([r for r in recs if w0 <= r["ts"] < t_disc])
    # external names after the first 2 s of it: the share answered by the cloud with the identity
    ext2 = [r for r in recs if r["kind"] == "ext" and t_first + 2000 <= r["ts"] < t_disc]
    res["ext_after_2s"] = dict(n=len(ext2), cloud=sum(1 for r in ext2 if r["addr"] in CLOUD_TAGGED))
    res["ext_after_2s"]["pct"] = 100.0 * res["ext_after_2s"]["cloud"] / len(ext2) if ext2 else None
    res["baseline"] = share([r for r in recs if r["ts"] < t_first])

    # where names went in the steady window (after the settle period), and the one-shot probes
    s0, s1 = float(m["t_steady0"]), float(m["t_steady1"])
    steady = [r for r in recs if s0 <= r["ts"] < s1]
    si = [r for r in steady if r["kind"] == "int"]
    se = [r for r in steady if r["kind"] == "ext"]
    res["steady_int"] = dict(n=len(si), vpn=sum(1 for r in si if r["addr"] == VPN_A))
    res["steady_ext"] = dict(n=len(se), cloud=sum(1 for r in se if r["addr"] in CLOUD_TAGGED))
    res["vpn_log_new"] = int(m.get("vpnlog_steady_new", 0))
    res["vpn_log_not_tunnel"] = int(m.get("vpnlog_steady_not_tunnel", 0))
    res["probe_int"] = m.get("probe_int", "?")
    res["probe_int_seen"] = int(m.get("probe_int_seen", 0))
    res["probe_ext"] = m.get("probe_ext", "?")
    res["probe_int_line"], res["probe_ext_line"] = m.get("probe_int_line", "?"), m.get("probe_ext_line", "?")
    res["internal_ok"] = bool(res["probe_int"] == VPN_A and res["probe_int_seen"] > 0 and si and
                              res["steady_int"]["vpn"] == len(si) and res["vpn_log_new"] > 0 and
                              res["vpn_log_not_tunnel"] == 0)
    res["external_ok"] = bool(res["probe_ext"] in CLOUD_TAGGED and se and res["steady_ext"]["cloud"] == len(se))

    # protection back: roamd is (or logs it is again) protected by settings AND a query sent after the disconnect
    # through the system resolver, with resolv.conf naming roamd only, is answered with the cloud's tagged address
    after = [l for l in arb if l["t"] >= t_disc]
    if res["final_state"] == "protected by settings":
        t_state = t_disc
    else:
        back = [l for l in after if STATE_RE.search(l["text"])[1] == "protected by settings"]
        t_state = back[0]["t"] if back else None
    good = [r for r in recs if r["ts"] >= t_disc and r["kind"] == "ext" and r["ns"] == ROAMD_IP and
            r["server"] == ROAMD_IP and r["addr"] == CLOUD_A]
    t_query = min((r["td"] for r in good), default=None)
    res["back_state_ms"] = None if t_state is None else round(t_state - t_disc)
    res["back_query_ms"] = None if t_query is None else round(t_query - t_disc)
    res["back_ms"] = None if t_state is None or t_query is None else round(max(t_state, t_query) - t_disc)
    res["after_disc_decisions"] = [l["text"] for l in after]
    tail = [r for r in recs if r["ts"] >= t_disc]
    res["after_disc"] = share(tail)
    res["after_disc_by_status"] = failures(tail)
    res["after_disc_int"] = {}
    for r in tail:
        if r["kind"] == "int" and r["status"] == "ok":
            res["after_disc_int"][r["addr"]] = res["after_disc_int"].get(r["addr"], 0) + 1

    # roamd's own complaints
    res["roamd_warnings"] = [l["line"] for l in lines if l["level"] in ("warn", "warning", "error", "critical")]
    res["roamd_alive"] = m.get("roamd_alive", "?")

    w = res["window"]
    res["targets"] = dict(
        writes=res["roamd_writes"] <= 3,
        answered=w["pct"] is not None and w["pct"] >= 99.9,
        internal=res["internal_ok"],
        external=res["external_ok"],
        external_share=res["ext_after_2s"]["pct"] is not None and res["ext_after_2s"]["pct"] >= 95.0,
        back=res["back_ms"] is not None and res["back_ms"] <= 1000)
    res["pass"] = all(res["targets"].values())
    with open(os.path.join(d, "result.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
