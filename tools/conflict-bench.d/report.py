#!/usr/bin/python3
"""report.py OUTDIR SCENARIO... -- prints tools/conflict-bench's per-scenario details and the markdown table from
OUTDIR/<scenario>/result.json (a scenario whose lab failed is shown as such)."""
import json, os, sys

TARGETS = ("targets: <= 3 writes by roamd (after its initial take) in any scenario; >= 99.9% of the stream answered "
           "through the storm; internal names via the VPN's server through the tunnel and external names via the "
           "cloud with identity in every scenario, the latter for >= 95% of the stream's external names from 2 s "
           "after the first write on; protection back <= 1 s after disconnect")


def yn(b):
    return "yes" if b else "no"


def pct(s):
    return "-" if s["pct"] is None else f"{s['answered']}/{s['sent']} ({s['pct']:.2f}%)"


def main(out, scenarios):
    rows, details = [], []
    for sc in scenarios:
        p = os.path.join(out, sc, "result.json")
        if not os.path.exists(p):
            rows.append(f"| {sc} | lab failed: see {os.path.join(out, sc, 'run.out')} | | | | | | | | FAIL |")
            continue
        with open(p) as f:
            r = json.load(f)
        t = r["targets"]
        failed = [k for k, v in t.items() if not v]
        writes = str(r["roamd_writes"]) + (f" (+{r['roamd_writes_after_disc']} after disc.)"
                                           if r["roamd_writes_after_disc"] else "")
        back = "never" if r["back_ms"] is None else str(r["back_ms"])
        state = r["final_state"] + f" ({r['final_resolv']})"
        verdict = "pass" if r["pass"] else "FAIL: " + ", ".join(failed)
        e2 = r.get("ext_after_2s", {})
        ext2 = "-" if e2.get("pct") is None else f"{e2['cloud']}/{e2['n']} ({e2['pct']:.1f}%)"
        rows.append(f"| {sc} | {writes} | {r['stable_ms']} | {state} | {pct(r['window'])} | "
                    f"{yn(r['internal_ok'])} | {yn(r['external_ok'])} | {ext2} | {back} | {verdict} |")
        d = [f"-- {sc}: VPN writes {r['vpn_writes']}, roamd decisions {r['decisions'] or 'none'}; "
             f"window {r['window_ms']} ms"]
        if r["window_by_status"]:
            d.append("   unanswered in the window: " +
                     ", ".join(f"{k} x{v}" for k, v in sorted(r["window_by_status"].items())))
        if r["window_wrong"]:
            d.append(f"   answered with an unexpected address in the window: {r['window_wrong']}")
        d.append(f"   whole VPN period {pct(r['vpn_period'])}; baseline before it {pct(r['baseline'])}; "
                 f"after the disconnect {pct(r['after_disc'])}, internal answers then: "
                 + (", ".join(f"{k} x{v}" for k, v in sorted(r["after_disc_int"].items())) or "none"))
        if r["after_disc_by_status"]:
            d.append("   unanswered after the disconnect: " +
                     ", ".join(f"{k} x{v}" for k, v in sorted(r["after_disc_by_status"].items())))
        d.append(f"   steady: internal {r['steady_int']['vpn']}/{r['steady_int']['n']} -> 203.0.113.80, VPN log "
                 f"+{r['vpn_log_new']} (not from the tunnel: {r['vpn_log_not_tunnel']}); external "
                 f"{r['steady_ext']['cloud']}/{r['steady_ext']['n']} -> 192.0.2.1/.2 (tagged); probes: internal "
                 f"{r.get('probe_int_line', r['probe_int'])} (VPN log saw it: {r['probe_int_seen']}), external "
                 f"{r.get('probe_ext_line', r['probe_ext'])}")
        d.append(f"   after disconnect: state {r['back_state_ms']} ms, first answer via roamd "
                 f"{r['back_query_ms']} ms; decisions: " + (" | ".join(r["after_disc_decisions"]) or "none"))
        if r["roamd_alive"] != "yes":
            d.append("   roamd was not running at the end")
        for w in r["roamd_warnings"]:
            d.append("   roamd: " + w)
        details.append("\n".join(d))
    print("\n".join(details))
    print()
    print("| scenario | roamd writes | stable after (ms) | final state | answered during storm | internal via VPN "
          "(tunnel) | external via cloud (identity) | external via cloud after 2 s | protection back (ms) | vs targets |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(TARGETS)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
