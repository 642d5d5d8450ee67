"""The upstreams and the forwarders under test: their configurations, start, readiness and stop.

Every system listens on its own loopback address, port 53, inside the benchmark's private network namespace:

    127.0.0.2   nsd, authoritative for bench.test (wildcard A) -- the "cloud" upstream, and the "direct" target
    127.0.0.3   nsd, authoritative for corp.test (wildcard A)  -- the "internal" upstream
    127.0.0.10  roamd       127.0.0.11  dnsdist       127.0.0.12  unbound       127.0.0.13  dnsmasq
    127.0.0.14  roamd-logged (the same roamd with the recent-queries ring and a dnstap file of every query and answer)
    127.0.0.15  roamd-dot (the same roamd asking the cloud over DNS over TLS, through a dnsdist DoT frontend on
                127.0.0.5:853 that forwards to the cloud nsd; certificates from tests/tls/make_certs.sh)
                (tools/bench --dot-server nsd: roamd-dot and dot-direct use the cloud nsd's own DoT on 127.0.0.2:853)
    127.0.0.16  roamd-doh (the same over DNS over HTTPS, through that dnsdist's DoH frontend on 127.0.0.5:443)

Each nsd answers REFUSED for the other's zone, so a forwarder that misroutes shows rcode errors.
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time

CLOUD = "127.0.0.2"
CORP = "127.0.0.3"
DOT_FRONTEND = "127.0.0.5"   # dnsdist: DoT on :853 and DoH on :443 in front of the cloud nsd, for roamd-dot/-doh
DOT_NAME = "roamd.test"      # the name in make_certs.sh's server certificate
MAKE_CERTS = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", "tests", "tls",
                                           "make_certs.sh"))
ADDRESS = {"roamd": "127.0.0.10", "dnsdist": "127.0.0.11", "unbound": "127.0.0.12", "dnsmasq": "127.0.0.13",
           "roamd-logged": "127.0.0.14", "roamd-dot": "127.0.0.15", "roamd-doh": "127.0.0.16", "direct": CLOUD,
           "dot-direct": DOT_FRONTEND, "doh-direct": DOT_FRONTEND}
ALL_SYSTEMS = ["direct", "roamd", "roamd-logged", "roamd-dot", "dot-direct", "roamd-doh", "doh-direct", "dnsdist",
               "dnsmasq", "unbound"]
# Measured straight at an upstream, with its names all in bench.test: nsd over UDP, and the dnsdist frontend over
# TLS or HTTPS (dnsperf -m dot / -m doh; the ceilings of the paths roamd-dot and roamd-doh take).
DIRECT_SYSTEMS = ("direct", "dot-direct", "doh-direct")
ROAMD_SYSTEMS = ("roamd", "roamd-logged", "roamd-dot", "roamd-doh")
# The systems that need the encrypted frontend, and dnsperf's transport for those measured straight at it.
FRONTEND_SYSTEMS = ("roamd-dot", "dot-direct", "roamd-doh", "doh-direct")
DNSPERF_MODE = {"dot-direct": "dot", "doh-direct": "doh"}
DOT_SYSTEMS = ("roamd-dot", "dot-direct")
TLS_SYSTEMS = FRONTEND_SYSTEMS  # the systems that need the test CA and the server's certificate
dot_server = "dnsdist"          # who serves roamd-dot and dot-direct: "dnsdist" (the frontend) or "nsd" (the cloud's)


def use_dot_server(server):
    """--dot-server: "nsd" points roamd-dot and dot-direct at the cloud nsd's own DoT service (CLOUD:853)."""
    global dot_server
    dot_server = server
    ADDRESS["dot-direct"] = CLOUD if server == "nsd" else DOT_FRONTEND


def needs_frontend(system):
    """Whether `system` needs the dnsdist DoT/DoH frontend started for its runs."""
    return system in FRONTEND_SYSTEMS and not (dot_server == "nsd" and system in DOT_SYSTEMS)


def dot_address():
    return CLOUD if dot_server == "nsd" else DOT_FRONTEND
HIT_CACHE_DNSMASQ = 10000


class PeerError(Exception):
    """A peer could not start or died; the message names it and carries its stderr tail."""


class Proc:
    """One daemon started in the foreground, its stdout+stderr going to a log file."""

    def __init__(self, name, argv, log_path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self._log = open(log_path, "wb")
        try:
            # Own session: a terminal's Ctrl-C reaches the benchmark, which stops the daemons itself (and reports);
            # a daemon killed by the same Ctrl-C would look like a failed peer.
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        except OSError as e:
            self._log.close()
            raise PeerError(f"{name}: cannot execute {argv[0]}: {e}") from e
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def tail(self, lines=20):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read()[-8192:].decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    def failure(self, what):
        status = "" if self.alive() else f" (exited with status {self.popen.returncode})"
        return PeerError(f"{self.name} {what}{status}\n  command: {' '.join(self.argv)}\n"
                         f"  last output ({self.log_path}):\n    " + self.tail().replace("\n", "\n    "))

    def stop(self):
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


def dig_status(addr, name, timeout=1):
    """Returns the rcode ("NOERROR", "REFUSED", ...) of one A query, or None on timeout/no answer."""
    r = subprocess.run(["dig", f"+time={timeout}", "+tries=1", "+noall", "+comments", f"@{addr}", "-p", "53",
                        name, "A"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"status: ([A-Z]+)", r.stdout)
    return m.group(1) if m else None


def wait_ready(proc, addr, name, deadline_s):
    """Polls (bounded) until `addr` answers NOERROR for `name`; raises PeerError with the stderr tail if not."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        if not proc.alive():
            raise proc.failure("exited during start-up")
        last = dig_status(addr, name)
        if last == "NOERROR":
            return
        time.sleep(0.05)
    raise proc.failure(f"did not answer NOERROR for {name} at {addr}:53 within {deadline_s} s (last: {last})")


# ---------------------------------------------------------------------------------------------- configurations
def _zone(origin, ns_addr):
    return (f"$ORIGIN {origin}.\n$TTL 3600\n"
            f"@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 900 604800 3600\n"
            f"@ IN NS ns.{origin}.\nns IN A {ns_addr}\n* IN A 192.0.2.1\n")


def nsd_config(d, tag, addr, zone, tls=False):
    # tls: also DNS over TLS on :853 with the test certificate (--dot-server nsd); tcp-count above roamd's and
    # dnsperf's connections, so none is refused.
    dot = f"""  ip-address: {addr}@853
  tls-port: 853
  tls-service-key: "{d}/dot-certs/server.key"
  tls-service-pem: "{d}/dot-certs/server.pem"
  tcp-count: 1000
""" if tls else ""
    return f"""server:
  ip-address: {addr}@53
{dot}  server-count: 1
  rrl-ratelimit: 0
  do-ip6: no
  username: ""
  chroot: ""
  verbosity: 0
  database: ""
  zonesdir: "{d}"
  pidfile: "{d}/nsd-{tag}.pid"
  zonelistfile: "{d}/nsd-{tag}.zonelist"
  xfrdfile: "{d}/nsd-{tag}.xfrd"
  xfrdir: "{d}"
  zonefiles-write: 0
remote-control:
  control-enable: no
zone:
  name: "{zone}"
  zonefile: "{zone}.zone"
"""


def roamd_config(d, system="roamd"):
    # roamd runs on its defaults (cache size 10000, 4 rotating source ports), as a user would start it. "Logged":
    # the same with both query observers on (the recent-queries ring and dnstap of every query and answer to a file).
    # "DoT"/"DoH": the cloud over DNS over TLS/HTTPS through the dnsdist frontend, verified against the test CA.
    extra = f"""[debug]
socket = "{d}/debug.sock"
recent_queries = 1000
[dnstap]
file = "{d}/roamd.dnstap"
""" if system == "roamd-logged" else ""
    ca = f'\nca_file = "{d}/dot-certs/ca.pem"'
    cloud = {"roamd-dot": f'"tls://{dot_address()}:853#{DOT_NAME}"]' + ca,
             "roamd-doh": f'"https://{DOT_FRONTEND}:443/dns-query#{DOT_NAME}"]' + ca}.get(system, f'"{CLOUD}:53"]')
    return f"""[listen]
addresses = ["{ADDRESS[system]}:53"]
[cloud]
resolvers = [{cloud}
device_id = "0123456789abcdef"
[[internal]]
domain = "corp.test"
resolvers = ["{CORP}:53"]
[system]
mode = "none"   # the benchmark measures the proxy; the system's resolver settings are never touched
[daemon]
workers = 1
{extra}"""


def dnsdist_config(d):
    # dnsdist 1.7.3 has no QNameSuffixRule (added in 1.8); SuffixMatchNodeRule is the 1.7 equivalent.
    return f"""setSecurityPollSuffix("")
setLocal("{ADDRESS['dnsdist']}:53")
newServer({{address="{CLOUD}:53", checkName="health.bench.test."}})
newServer({{address="{CORP}:53", pool="corp", checkName="health.corp.test."}})
local corp = newSuffixMatchNode()
corp:add(newDNSName("corp.test."))
addAction(SuffixMatchNodeRule(corp), PoolAction("corp"))
"""


def dot_frontend_config(d):
    # Out-of-order processing (maxInFlight) lets one connection carry many queries at once, as roamd sends them;
    # 1.7.3's default (0) answers one query of a connection at a time. dnsdist forwards what came over TCP/TLS to the
    # backend over TCP: maxInFlight there too lets it pipeline to nsd (dnsperf -m dot straight at this frontend:
    # 6.1k q/s without it, 9.2k with it). DoH (HTTP/2 by h2o) on :443 with the same certificate, for roamd-doh.
    return f"""setSecurityPollSuffix("")
setLocal("{DOT_FRONTEND}:53")
addTLSLocal("{DOT_FRONTEND}:853", "{d}/dot-certs/server.pem", "{d}/dot-certs/server.key", {{maxInFlight = 1000}})
addDOHLocal("{DOT_FRONTEND}:443", "{d}/dot-certs/server.pem", "{d}/dot-certs/server.key", "/dns-query")
newServer({{address="{CLOUD}:53", checkName="health.bench.test.", maxInFlight = 1000}})
"""


def make_dot_certs(d):
    """The test CA and the frontend's certificate (make_certs.sh), once per benchmark."""
    out = os.path.join(d, "dot-certs")
    r = subprocess.run([MAKE_CERTS, out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise PeerError(f"{MAKE_CERTS} failed:\n{r.stdout}")


def start_dot_frontend(d, logdir, deadline_s):
    """The dnsdist DoT/DoH frontend for roamd-dot/-doh; ready when it answers over plain DNS on its :53 (same
    backend)."""
    exe = binary_for("dnsdist", "")
    conf = _write(os.path.join(d, "dot-frontend.conf"), dot_frontend_config(d))
    proc = Proc(f"dnsdist DoT/DoH frontend ({DOT_FRONTEND}:853, :443)", [exe, "-C", conf, "--supervised", "--disable-syslog"],
                os.path.join(logdir, "dot-frontend.log"))
    try:
        wait_ready(proc, DOT_FRONTEND, "ready-probe.bench.test", deadline_s)
    except Exception:
        proc.stop()
        raise
    return proc


def dnsmasq_config(d, cache_size):
    return f"""listen-address={ADDRESS['dnsmasq']}
port=53
bind-interfaces
no-resolv
no-hosts
no-poll
cache-size={cache_size}
dns-forward-max=10000
server=/corp.test/{CORP}
server={CLOUD}
keep-in-foreground
pid-file=
user=root
log-facility=-
"""


def unbound_config(d):
    return f"""server:
  interface: {ADDRESS['unbound']}@53
  do-ip6: no
  do-not-query-localhost: no
  local-zone: "test." nodefault
  num-threads: 1
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: "{d}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
remote-control:
  control-enable: no
forward-zone:
  name: "corp.test"
  forward-addr: {CORP}@53
forward-zone:
  name: "."
  forward-addr: {CLOUD}@53
"""


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def write_zones(d):
    _write(os.path.join(d, "bench.test.zone"), _zone("bench.test", CLOUD))
    _write(os.path.join(d, "corp.test.zone"), _zone("corp.test", CORP))


def binary_for(system, roamd_path):
    """The executable a system needs, or None when it is missing (the caller skips the system)."""
    if system in ROAMD_SYSTEMS:
        if system in FRONTEND_SYSTEMS and not binary_for("dnsdist", ""):
            return None
        return roamd_path if os.path.isfile(roamd_path) and os.access(roamd_path, os.X_OK) else None
    exe = {"direct": "nsd", "dot-direct": "dnsdist", "doh-direct": "dnsdist", "dnsdist": "dnsdist", "dnsmasq": "dnsmasq",
           "unbound": "unbound"}[system]
    return shutil.which(exe) or (f"/usr/sbin/{exe}" if os.access(f"/usr/sbin/{exe}", os.X_OK) else None)


def label(system, workload):
    if system == "dnsmasq":
        return "dnsmasq cache=0" if workload == "miss" else f"dnsmasq cache={HIT_CACHE_DNSMASQ}"
    return system


def start_upstreams(d, logdir, deadline_s, system=None):
    """Starts both nsd upstreams and waits until each answers its own zone; returns {"cloud": Proc, "corp": Proc}.
    With --dot-server nsd the cloud nsd also serves DNS over TLS for a DoT system."""
    nsd = binary_for("direct", "")
    if not nsd:
        raise PeerError("nsd not found: the upstreams need it (apt-get install nsd)")
    procs = {}
    for tag, addr, zone in (("cloud", CLOUD, "bench.test"), ("corp", CORP, "corp.test")):
        tls = tag == "cloud" and dot_server == "nsd" and system in DOT_SYSTEMS
        conf = _write(os.path.join(d, f"nsd-{tag}.conf"), nsd_config(d, tag, addr, zone, tls))
        procs[tag] = Proc(f"nsd ({tag}, {addr})", [nsd, "-d", "-c", conf], os.path.join(logdir, f"nsd-{tag}.log"))
    try:
        for tag, addr, zone in (("cloud", CLOUD, "bench.test"), ("corp", CORP, "corp.test")):
            wait_ready(procs[tag], addr, f"ready-probe.{zone}", deadline_s)
            other = "corp.test" if zone == "bench.test" else "bench.test"
            refused = dig_status(addr, f"ready-probe.{other}")
            if refused != "REFUSED":
                raise procs[tag].failure(f"answered {refused} (expected REFUSED) for the other zone {other}")
    except Exception:
        stop_all(procs.values())
        raise
    return procs


def start_forwarder(system, workload, d, logdir, roamd_path, deadline_s):
    """Starts one forwarder with split routing and waits until it answers; returns its Proc."""
    exe = binary_for(system, roamd_path)
    log = os.path.join(logdir, f"{system}.log")
    if system in ROAMD_SYSTEMS:
        conf = _write(os.path.join(d, f"{system}.toml"), roamd_config(d, system))
        argv = [exe, "--config", conf]
    elif system == "dnsdist":
        conf = _write(os.path.join(d, "dnsdist.conf"), dnsdist_config(d))
        argv = [exe, "-C", conf, "--supervised", "--disable-syslog"]
    elif system == "dnsmasq":
        cache = 0 if workload == "miss" else HIT_CACHE_DNSMASQ
        conf = _write(os.path.join(d, "dnsmasq.conf"), dnsmasq_config(d, cache))
        argv = [exe, "-C", conf]
    elif system == "unbound":
        conf = _write(os.path.join(d, "unbound.conf"), unbound_config(d))
        argv = [exe, "-d", "-c", conf]
    else:
        raise ValueError(system)
    proc = Proc(label(system, workload), argv, log)
    try:
        wait_ready(proc, ADDRESS[system], "ready-probe.bench.test", deadline_s)
    except Exception:
        proc.stop()
        raise
    return proc


def routing_check(system):
    """One query per zone through the system; returns {"bench.test": rcode, "corp.test": rcode}."""
    zones = ["bench.test"] if system in DIRECT_SYSTEMS else ["bench.test", "corp.test"]
    return {z: dig_status(ADDRESS[system], f"route-probe.{z}") for z in zones}


def stop_all(procs):
    for p in procs:
        if p is not None:
            p.stop()


def _compiler_flags(path):
    """', -O2 -g ...' from the first DW_AT_producer of the binary's debug info, if it has any (an -O0 build would
    make every number meaningless)."""
    if not shutil.which("readelf"):
        return ""
    with subprocess.Popen(["readelf", "--debug-dump=info", path], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as p:
        found = ""
        for line in p.stdout:
            if "DW_AT_producer" in line:
                found = ", " + " ".join(f for f in line.split() if f.startswith(("-O", "-g", "-march", "-flto")))
                break
        p.kill()
    return found


def versions(systems, roamd_path):
    """Version strings of the tools in use, for the record."""
    def first_line(argv, pattern=None):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        for line in r.stdout.splitlines():
            if pattern is None or re.search(pattern, line):
                return line.strip()
        return None
    out = {"nsd": first_line(["nsd", "-v"], r"NSD version"),
           "dnsperf": first_line(["dnsperf", "-h"], r"^Version")}
    if "dnsdist" in systems:
        out["dnsdist"] = first_line(["dnsdist", "--version"], r"dnsdist")
    if "dnsmasq" in systems:
        out["dnsmasq"] = first_line(["dnsmasq", "--version"], r"version")
    if "unbound" in systems:
        out["unbound"] = first_line(["unbound", "-V"], r"Version")
    if "roamd" in systems and binary_for("roamd", roamd_path):
        with open(roamd_path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.stat(roamd_path).st_mtime))
        out["roamd"] = f"{roamd_path} (sha256 {digest}..., built {mtime}{_compiler_flags(roamd_path)})"
    return out
