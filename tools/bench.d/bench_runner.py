"""The measurement loop: repetitions x workloads x systems, interleaved, every system restarted for every run."""
import os
import platform
import shutil
import sys
import time

import bench_measure as measure
import bench_peers as peers
import bench_report as report



def latency_text(args):
    if args.latency == "inline":
        return ("latency: p50/p99 (nearest rank over completed queries) from dnsperf -v per-query lines of the "
                "measured run itself; -v costs ~10% q/s at 100k q/s, more for faster systems")
    return (f"latency: p50/p99 (nearest rank over completed queries) from a separate {latency_duration(args)} s "
            f"dnsperf -v run at the same -c/-q right after each measured run, same daemon, fresh names for misses; "
            f"q/s, CPU and RSS come from the measured run without -v (-v costs ~10% q/s at 100k q/s)")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def select_systems(wanted, roamd_path):
    chosen = []
    for s in wanted:
        if peers.binary_for(s, roamd_path):
            chosen.append(s)
        elif s == "roamd":
            log(f"roamd: SKIPPED, no executable at {roamd_path} (build it, or pass --roamd PATH)")
        else:
            log(f"{s}: SKIPPED, its executable is not installed")
    return chosen


def one_run(args, d, logdir, rep, workload, system, hit_files, quiet):
    """Starts fresh upstreams and a fresh forwarder, measures, stops everything; returns the run record.

    With --latency separate (the default) the measured run has no -v, and a second, shorter run with -v on fresh
    names right after it gives p50/p99; with --latency inline the one measured run has -v."""
    direct = system in peers.DIRECT_SYSTEMS
    background = quiet()
    inline = args.latency == "inline"
    ups = fwd = front = None
    run_logs = os.path.join(logdir, f"rep{rep}-{workload}-{system}")
    os.makedirs(run_logs)
    try:
        ups = peers.start_upstreams(d, run_logs, args.start_timeout, system)
        if peers.needs_frontend(system):
            front = peers.start_dot_frontend(d, run_logs, args.start_timeout)
        if not direct:
            fwd = peers.start_forwarder(system, workload, d, run_logs, args.roamd, args.start_timeout)
        addr = peers.ADDRESS[system]
        routing = peers.routing_check(system)
        bad = {z: rc for z, rc in routing.items() if rc != "NOERROR"}
        if bad:
            log(f"  WARNING {system}: routing probe answered {bad}; the run's rcode errors will show it")
        warmed = None
        if workload == "hit":
            warmed = measure.warm(addr, hit_files[direct])
            if warmed["rcodes"].get("NOERROR") != measure.HIT_NAMES:
                log(f"  WARNING {system}: warming got {warmed['rcodes']} for {measure.HIT_NAMES} names")
        measured, procs = fwd or front or ups["cloud"], [fwd, front, ups["cloud"], ups["corp"]]
        upstreams = {k: p.pid for k, p in ups.items()}

        def dnsperf(duration, verbose):
            if workload == "miss":
                datafile = os.path.join(d, "names-miss.txt")
                count, token = measure.write_miss_names(datafile, duration, direct)
            else:
                datafile, count, token = hit_files[direct], measure.HIT_NAMES, "hit"
            outfile = os.path.join(d, "dnsperf-out.txt")
            try:
                r = measure.run_dnsperf(measured.pid, upstreams, addr, datafile, outfile, args.clients,
                                        args.outstanding, duration, once=(workload == "miss"), verbose=verbose,
                                        mode=peers.DNSPERF_MODE.get(system))
            finally:
                for f in [outfile] + ([datafile] if workload == "miss" else []):
                    if os.path.exists(f):
                        os.unlink(f)
            for p in procs:
                if p is not None and not p.alive():
                    raise p.failure("died during the measured run")
            if r["names_exhausted"]:
                log(f"  WARNING {system}: ran out of unique names before {duration} s; raise NAMES_PER_SECOND")
            r.update(names=count, token=token)
            return r

        result = dnsperf(args.duration, verbose=inline)
        if not inline:
            lat = dnsperf(latency_duration(args), verbose=True)
            result.update(p50_ms=lat["p50_ms"], p99_ms=lat["p99_ms"], latency_samples=lat["latency_samples"],
                          hwm_mb=lat["hwm_mb"],
                          latency_run={k: lat[k] for k in ("qps", "completed", "lost", "rcodes", "rcode_errors",
                                                           "p50_ms", "p99_ms", "latency_samples", "cpu_pct",
                                                           "names", "token", "run_time_s")})
    finally:
        peers.stop_all([fwd, front] + (list(ups.values()) if ups else []))
        _reap_orphans()
    return dict(rep=rep, workload=workload, system=system, label=peers.label(system, workload),
                background_busy_pct=background, routing=routing, warm=warmed and warmed["rcodes"], **result)


def latency_duration(args):
    return min(2, args.duration)


class QuietWaiter:
    """Before a run, samples the CPU other processes use (nothing of ours runs then) and waits up to `limit_s` for
    it to drop below a quarter core, so a run does not start in the middle of someone's compile. After two waits
    in a row that time out, the load is taken as persistent and it stops waiting (and says so)."""

    QUIET_PCT = 25.0

    def __init__(self, limit_s):
        self.limit_s, self.timeouts, self.gave_up = limit_s, 0, False

    def __call__(self):
        busy = measure.background_busy_pct()
        if self.gave_up or busy <= self.QUIET_PCT:
            return busy
        end = time.monotonic() + self.limit_s
        while busy > self.QUIET_PCT and time.monotonic() < end:
            busy = measure.background_busy_pct()
        self.timeouts = self.timeouts + 1 if busy > self.QUIET_PCT else 0
        if self.timeouts >= 2:
            self.gave_up = True
            log(f"  note: other processes keep using {busy:.0f}% CPU (100 = one core); no more waiting for quiet")
        return busy


def _reap_orphans():
    """We are pid 1 of the namespace: collect daemons' exited grandchildren (no Popen child is running now)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def run(args, d):
    logdir = os.path.join(d, "logs")
    os.makedirs(logdir, exist_ok=True)
    systems = select_systems(args.systems, args.roamd)
    if not systems:
        log("nothing to measure: no selected system is available")
        return 1
    peers.use_dot_server(args.dot_server)
    peers.write_zones(d)
    if any(s in peers.TLS_SYSTEMS for s in systems):
        peers.make_dot_certs(d)
    hit_files = {}
    for direct in (False, True):
        hit_files[direct] = os.path.join(d, f"names-hit{'-direct' if direct else ''}.txt")
        measure.write_hit_names(hit_files[direct], direct)

    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "kernel": platform.release(), "cpus": os.cpu_count(),
            "systems": systems, "workloads": args.workloads, "reps": args.reps, "duration_s": args.duration,
            "clients": args.clients, "outstanding": args.outstanding, "mix": measure.MIX_TEXT,
            "latency": latency_text(args), "versions": peers.versions(systems, args.roamd), "addresses": peers.ADDRESS,
            "dot_server": args.dot_server}
    header = [f"roamd bench {meta['date']}  kernel {meta['kernel']}, {meta['cpus']} CPUs, private net+pid namespace",
              f"dnsperf -c {args.clients} -q {args.outstanding} -l {args.duration}; {args.reps} repetitions, "
              f"systems interleaved and restarted every run; medians shown",
              measure.MIX_TEXT, latency_text(args),
              f"DoT server of roamd-dot and dot-direct: " + ("the cloud nsd's own (127.0.0.2:853)"
                                                              if args.dot_server == "nsd" else
                                                              "the dnsdist frontend (127.0.0.5:853)"),
              "CPU% = forwarder process tree utime+stime / run time (100 = one core); q/CPU-s = completed queries / "
              "its CPU seconds; RSS at the end of the measured run, HWM = VmHWM at the very end (latency run "
              "included); direct = dnsperf straight at the bench.test nsd (its CPU and memory are nsd's); lost and "
              "rcode err are totals over all runs, latency runs included; bg% = median CPU other processes used just "
              "before the runs (100 = one core; > 25 means a shared, contended machine)",
              "versions: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()), ""]

    runs, status, quiet = [], 0, QuietWaiter(args.wait_idle)
    try:
        for rep in range(1, args.reps + 1):
            for w in args.workloads:
                for s in systems:
                    if w == "hit" and s in report.NOT_FOR_HITS:
                        continue
                    r = one_run(args, d, logdir, rep, w, s, hit_files, quiet)
                    runs.append(r)
                    log(f"[rep {rep}/{args.reps}] {w:<4} {r['label']:<18} {r['qps']:>9,.0f} q/s  "
                        f"p50 {r['p50_ms'] or 0:.2f} p99 {r['p99_ms'] or 0:.2f} ms  cpu {r['cpu_pct'] or 0:.0f}%  "
                        f"{r['q_per_cpu_s'] or 0:,.0f} q/cpu-s  rss {r['rss_mb']:.1f} MB  "
                        f"lost {r['lost']} err {r['rcode_errors']}")
    except KeyboardInterrupt:
        log("\ninterrupted")
        status = 130
    except (peers.PeerError, RuntimeError) as e:
        hint = "" if args.keep_logs else "\n  (the temp dir is removed at exit; --keep-logs DIR keeps the logs)"
        log(f"\nFAILED: {e}{hint}")
        status = 1

    if runs:
        bg = sorted(r["background_busy_pct"] for r in runs)
        header.insert(-1, f"background load (other processes, sampled 0.3 s before each run after waiting up to "
                          f"{args.wait_idle:g} s for < 25%{'; gave up waiting: persistent' if quiet.gave_up else ''}; "
                          f"100 = one core): median {bg[len(bg) // 2]:.0f}%, "
                          f"max {bg[-1]:.0f}%")
        if bg[-1] > QuietWaiter.QUIET_PCT:
            header.insert(-1, "WARNING: the machine was busy with other work during this benchmark; absolute "
                              "numbers are depressed and noisy -- trust paired ratios more, or re-run when idle")
    rows = report.summarize(runs, args.workloads, systems, peers.label)
    tgts = report.targets(runs, rows)
    if runs:
        if status != 0:
            header.insert(0, "PARTIAL RESULTS (interrupted or a run failed)")
        print(report.render(rows, tgts, header))
    if args.json:
        meta["status"] = "ok" if status == 0 else "failed"
        report.write_json(args.json, meta, runs, rows, tgts)
        log(f"raw runs and medians written to {args.json}")
    if args.keep_logs:
        shutil.copytree(logdir, args.keep_logs, dirs_exist_ok=True)
        log(f"daemon logs copied to {args.keep_logs}")
    if status == 0 and args.enforce_targets and any(t["ok"] is False for t in tgts):
        log("targets not met (--enforce-targets)")
        status = 3
    return status
