"""Workload files, the dnsperf run and what is read from /proc around it."""
import os
import re
import resource
import secrets
import subprocess
import time

CORP_EVERY = 10          # every 10th name is a corp.test name: a 10 % share that exercises the split routing
HIT_NAMES = 100
NAMES_PER_SECOND = 400_000   # unique names generated per second of --duration: above any rate seen here (~270k peak)
CLK_TCK = os.sysconf("SC_CLK_TCK")

MIX_TEXT = (f"cache-miss: fresh unique names per run, <token>-<n>.bench.test A with every {CORP_EVERY}th name "
            f"<token>-<n>.corp.test A ({100 // CORP_EVERY}% corp), never repeated (dnsperf -n 1); 'direct' gets the "
            f"same count, all bench.test (it is one nsd). cache-hit: {HIT_NAMES} names ({100 // CORP_EVERY}% corp) "
            f"looped, warmed once with one pass before measuring.")


def _name(token, n, direct):
    zone = "corp.test" if (n % CORP_EVERY == CORP_EVERY - 1 and not direct) else "bench.test"
    return f"{token}-{n}.{zone} A\n"


def write_miss_names(path, duration, direct):
    """Writes fresh unique names for one run; returns (count, token)."""
    token = secrets.token_hex(5)
    count = int(NAMES_PER_SECOND * duration) + 10_000
    with open(path, "w") as f:
        chunk = 50_000
        for start in range(0, count, chunk):
            f.write("".join(_name(token, n, direct) for n in range(start, min(start + chunk, count))))
    return count, token


def write_hit_names(path, direct):
    with open(path, "w") as f:
        f.write("".join(_name("hit", n, direct) for n in range(HIT_NAMES)))
    return HIT_NAMES


# ------------------------------------------------------------------------------------------------------- /proc
def _proc_table():
    """{pid: (ppid, utime+stime ticks)} for every process in this pid namespace."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): ppid = field 4, utime = 14, stime = 15
        table[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def tree(root, table=None):
    table = table or _proc_table()
    pids, frontier = [], [root]
    while frontier:
        p = frontier.pop()
        if p in table:
            pids.append(p)
            frontier.extend(c for c, v in table.items() if v[0] == p)
    return pids, table


def cpu_seconds(root):
    """utime+stime of `root` and all its descendants (threads included), in seconds."""
    pids, table = tree(root)
    return sum(table[p][1] for p in pids) / CLK_TCK


def memory_kb(root):
    """(VmRSS, VmHWM) in kB summed over `root` and its descendants (one process for every forwarder here)."""
    pids, _ = tree(root)
    rss = hwm = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            pass
    return rss, hwm


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4]     # total (user..steal; steal counts as busy), idle + iowait


def busy_pct(t0, t1):
    """Machine-wide busy CPU between two machine_ticks() samples (100 = one core)."""
    total, idle = t1[0] - t0[0], t1[1] - t0[1]
    return 100.0 * (total - idle) / total * os.cpu_count() if total else None


def background_busy_pct(seconds=0.3):
    """CPU the rest of the machine uses while none of the benchmark's processes run (other users' load)."""
    t0 = machine_ticks()
    time.sleep(seconds)
    return busy_pct(t0, machine_ticks())


# ----------------------------------------------------------------------------------------------------- dnsperf
def dnsperf_argv(addr, datafile, clients, outstanding, duration, once, mode=None):
    # mode: None (UDP), "dot" or "doh" (POST, as roamd sends; dnsperf does not verify the certificate).
    port = {None: ["-p", "53"], "dot": ["-m", "dot", "-p", "853"],
            "doh": ["-m", "doh", "-p", "443", "-O", f"doh-uri=https://{addr}/dns-query", "-O", "doh-method=POST"]}[mode]
    argv = ["dnsperf", "-s", addr] + port + ["-d", datafile, "-c", str(clients), "-q", str(outstanding),
                                             "-l", str(duration)]
    return argv + (["-n", "1"] if once else [])


def parse_summary(text):
    """The numbers of dnsperf's final statistics block."""
    def num(pattern, cast=float):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None
    rcodes = {}
    m = re.search(r"Response codes:\s*(.*)", text)
    if m:
        for code, count in re.findall(r"([A-Z]+) (\d+) \(", m.group(1)):
            rcodes[code] = int(count)
    return {"sent": num(r"Queries sent:\s+(\d+)", int), "completed": num(r"Queries completed:\s+(\d+)", int),
            "lost": num(r"Queries lost:\s+(\d+)", int), "run_time_s": num(r"Run time \(s\):\s+([\d.]+)"),
            "qps": num(r"Queries per second:\s+([\d.]+)"),
            "avg_latency_ms": _ms(num(r"Average Latency \(s\):\s+([\d.]+)")),
            "rcodes": rcodes, "end_of_file": "Testing complete (end of file)" in text}


def _ms(seconds):
    return None if seconds is None else seconds * 1000.0


def percentile(sorted_values, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def latencies_from_verbose(path):
    """Per-query latencies (ms) from dnsperf -v lines '> RCODE name type seconds'; lost queries have none."""
    values = []
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"> "):
                parts = line.split()
                if len(parts) == 5:
                    try:
                        values.append(float(parts[4]) * 1000.0)
                    except ValueError:
                        pass
    values.sort()
    return values


def warm(addr, datafile):
    """One pass over the hit names; returns dnsperf's summary (its rcodes show whether warming worked)."""
    r = subprocess.run(dnsperf_argv(addr, datafile, 1, 10, 30, True), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return parse_summary(r.stdout)


def threads(root):
    pids, _ = tree(root)
    return sum(len(os.listdir(f"/proc/{p}/task")) for p in pids if os.path.isdir(f"/proc/{p}/task"))


def run_dnsperf(measured_pid, upstream_pids, addr, datafile, outfile, clients, outstanding, duration, once,
                verbose, mode=None):
    """Runs dnsperf (with -v per-query lines when `verbose`: they give p50/p99 but cost q/s) into `outfile` and
    samples the measured process tree (and, for the record, the upstreams) around it; returns the run's numbers."""
    argv = dnsperf_argv(addr, datafile, clients, outstanding, duration, once, mode) + (["-v"] if verbose else [])
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    up0 = {k: cpu_seconds(p) for k, p in upstream_pids.items()}
    cpu0, m0, t0 = cpu_seconds(measured_pid), machine_ticks(), time.monotonic()
    with open(outfile, "wb") as out:
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - t0
    cpu1, m1 = cpu_seconds(measured_pid), machine_ticks()
    upstream_cpu = {k: cpu_seconds(p) - up0[k] for k, p in upstream_pids.items()}
    n_threads = threads(measured_pid)
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_kb, hwm_kb = memory_kb(measured_pid)

    with open(outfile, "rb") as f:
        f.seek(max(0, os.path.getsize(outfile) - 4096))
        summary = parse_summary(f.read().decode(errors="replace"))
    if rc != 0 or summary["qps"] is None:
        with open(outfile, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        raise RuntimeError(f"dnsperf failed (exit {rc}): {' '.join(argv)}\n{tail}")
    lat = latencies_from_verbose(outfile) if verbose else []

    run_time = summary["run_time_s"] or wall
    cpu = cpu1 - cpu0
    errors = sum(v for k, v in summary["rcodes"].items() if k != "NOERROR")
    return {
        "qps": summary["qps"], "sent": summary["sent"], "completed": summary["completed"], "lost": summary["lost"],
        "rcodes": summary["rcodes"], "rcode_errors": errors, "run_time_s": run_time, "wall_s": wall,
        "names_exhausted": bool(once and summary["end_of_file"] and run_time < 0.95 * duration),
        "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "avg_ms": summary["avg_latency_ms"],
        "latency_samples": len(lat), "verbose": verbose,
        "cpu_s": cpu, "cpu_pct": 100.0 * cpu / run_time if run_time else None,
        "q_per_cpu_s": summary["completed"] / cpu if cpu > 0 else None,
        "rss_mb": rss_kb / 1024.0, "hwm_mb": hwm_kb / 1024.0, "threads": n_threads,
        "upstream_cpu_pct": {k: 100.0 * v / run_time for k, v in upstream_cpu.items()} if run_time else None,
        "dnsperf_cpu_pct": 100.0 * ((usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)) / wall,
        "machine_busy_pct": busy_pct(m0, m1),
    }
