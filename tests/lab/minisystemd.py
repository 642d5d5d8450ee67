#!/usr/bin/env python3
"""systemd's side of roamd.service, played in the lab (no systemd runs there): the notify socket (Type=notify,
NotifyAccess=main), the watchdog (WatchdogSec=, then WatchdogSignal=SIGABRT and SIGKILL after TimeoutAbortSec=),
ExecStopPost= (`roamd --restore`) and Restart=always with RestartSec=1, as systemd.service(5) describes them.

Scenarios (one per run; prints one JSON object with what it saw and measured):
  ready        READY=1 only after the takeover (resolv.conf names roamd when it comes), WATCHDOG=1 cadence over
               3 s, SIGHUP (ExecReload=) keeps it serving, SIGTERM: STOPPING=1 and exit 0.
  wedge-worker the data-plane thread roamd-dp0 is frozen (ptrace: PTRACE_SEIZE + PTRACE_INTERRUPT stop that one
               thread, the others run on): time until roamd says it is wedged, until resolv.conf no longer names
               roamd, its exit status; then the restart re-takes.
  hang         the whole process is stopped (SIGSTOP): the pings stop, the watchdog fires after WatchdogSec,
               SIGABRT, SIGKILL after TimeoutAbortSec, ExecStopPost restores: the times of each.
"""
import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4206, 0x4207
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


def now():
    return time.monotonic()


class Unit:
    def __init__(self, a):
        self.a = a
        self.sock_path = os.path.join(a.work, "notify.sock")
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.messages = []  # (time of arrival, text), appended by the reader thread
        self.lock = threading.Lock()
        threading.Thread(target=self.read_notifications, daemon=True).start()
        self.proc = None
        self.tracee = None
        self.log = open(os.path.join(a.work, "roamd.out"), "a")

    def start(self):
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path, WATCHDOG_USEC=str(int(self.a.watchdog_sec * 1000000)))
        self.proc = subprocess.Popen([self.a.roamd, "--config", self.a.config], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.started = now()

    def read_notifications(self):
        while True:
            data = self.sock.recv(4096)
            with self.lock:
                self.messages.append((now(), data.decode(errors="replace")))

    def drain(self):
        """The messages so far (the reader thread timestamps each as it arrives)."""
        with self.lock:
            return list(self.messages)

    def wait_message(self, pred, seconds):
        deadline = now() + seconds
        seen = len(self.drain())
        while now() < deadline:
            msgs = self.drain()
            for t, m in msgs[seen:]:
                if pred(m):
                    return t, m
            seen = len(msgs)
            time.sleep(0.005)
        return None, None

    def reap_tracee(self):
        """Reaps the frozen thread once it has died (its process cannot be reaped before). waitpid also reports the
        thread's ptrace stops to us, its tracer: the PTRACE_INTERRUPT stop stays pending until waited for, and if
        waited for before roamd exits it is that stop, not the thread's end, that comes back. A stop is consumed
        and the thread kept; only its exit or death (or its being gone already) ends the tracing."""
        while self.tracee:
            try:
                pid, status = os.waitpid(self.tracee, os.WNOHANG | 0x40000000)  # __WALL
            except ChildProcessError:
                self.tracee = None
                return
            if pid != self.tracee:
                return  # still alive (stopped or running): nothing to report yet
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self.tracee = None

    def wait_exit(self, seconds):
        """The exit status, reaping a traced thread first; "hung" after `seconds` (then killed, and reaped within
        5 s more: never an unbounded wait)."""
        deadline = now() + seconds
        while True:
            self.reap_tracee()
            rc = self.proc.poll()
            if rc is not None:
                return rc
            if now() >= deadline:
                break
            time.sleep(0.01)
        self.proc.kill()
        deadline = now() + 5
        while now() < deadline and self.proc.poll() is None:
            self.reap_tracee()
            time.sleep(0.01)
        return "hung"

    def last_ping(self):
        pings = [t for t, m in self.drain() if "WATCHDOG=1" in m.split("\n")]
        return pings[-1] if pings else None


def names_roamd():
    try:
        with open("/etc/resolv.conf") as f:
            return any(l.split()[:2] == ["nameserver", "127.0.2.53"] for l in f)
    except OSError:
        return False


def wait(pred, seconds, step=0.01):
    deadline = now() + seconds
    while now() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def thread_id(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == name:
                return int(tid)
    return None


def in_epoll_wait(pid, tid):
    """The thread sleeps in epoll_wait or epoll_pwait (x86-64: 232, 281; aarch64: 22)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            return f.read().split()[0] in ("232", "281", "22")
    except (OSError, IndexError):
        return False


def restore(a):
    r = subprocess.run([a.roamd, "--config", a.config, "--restore"], capture_output=True, text=True, timeout=30)
    return r.returncode


def ready(u, a, out):
    u.start()
    t, m = u.wait_message(lambda m: "READY=1" in m.split("\n"), 20)
    out["ready"] = t is not None
    out["ready_after_ms"] = round((t - u.started) * 1000) if t else None
    out["resolv_conf_named_roamd_at_ready"] = names_roamd()
    out["status"] = [l for l in (m or "").split("\n") if l.startswith("STATUS=")]
    # The cadence of WATCHDOG=1 over 3 s.
    time.sleep(3)
    pings = [t for t, m in u.drain() if "WATCHDOG=1" in m.split("\n")]
    gaps = [b - a_ for a_, b in zip(pings, pings[1:])]
    out["pings_in_3s"] = len([p for p in pings if p > t])
    out["max_ping_gap_ms"] = round(max(gaps) * 1000) if gaps else None
    # ExecReload=: SIGHUP, still serving and pinging.
    u.proc.send_signal(signal.SIGHUP)
    before = len(pings)
    time.sleep(1.2)
    out["pings_after_sighup"] = len([1 for t2, m2 in u.drain() if "WATCHDOG=1" in m2.split("\n")]) - before
    out["alive_after_sighup"] = u.proc.poll() is None
    u.proc.send_signal(signal.SIGTERM)
    out["exit"] = u.proc.wait(15)
    time.sleep(0.05)
    out["stopping_sent"] = any("STOPPING=1" in m.split("\n") for _, m in u.drain())
    out["resolv_conf_names_roamd_after"] = names_roamd()


def wedge_worker(u, a, out):
    u.start()
    t, _ = u.wait_message(lambda m: "READY=1" in m.split("\n"), 20)
    if t is None:
        out["error"] = "no READY=1"
        return
    time.sleep(1)  # steady state: pings flowing
    tid = thread_id(u.proc.pid, "roamd-dp0")
    if tid is None:
        out["error"] = "no thread named roamd-dp0"
        return
    # Frozen while it waits in epoll_wait, holding no lock: stopped inside malloc or the cache, it would take the
    # other threads with it (a whole-process hang: the "hang" scenario's case, for systemd's watchdog).
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        out["error"] = "ptrace seize: " + os.strerror(ctypes.get_errno())
        return
    u.tracee = tid
    waiting = wait(lambda: in_epoll_wait(u.proc.pid, tid), 5, step=0.001)
    if not waiting or libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
        out["error"] = "ptrace: " + os.strerror(ctypes.get_errno())
        return
    t0 = now()  # the traced thread is reaped as it dies (its process cannot be reaped before)
    ts, m = u.wait_message(lambda m: "STOPPING=1" in m.split("\n"), 15)
    out["detected_ms"] = round((ts - t0) * 1000) if ts else None
    out["stopping_status"] = [l for l in (m or "").split("\n") if l.startswith("STATUS=")]
    out["dns_back"] = wait(lambda: not names_roamd(), 15)
    out["dns_back_ms"] = round((now() - t0) * 1000)
    out["exit"] = u.wait_exit(15)
    out["exited_ms"] = round((now() - t0) * 1000)
    out["last_ping_before_detection"] = (u.last_ping() or 0) < (ts or 0)
    # ExecStopPost=, then Restart=always after RestartSec=1: the new roamd takes the settings again.
    out["exec_stop_post"] = restore(a)
    time.sleep(1)
    with u.lock:
        u.messages.clear()
    u.start()
    t2, _ = u.wait_message(lambda m: "READY=1" in m.split("\n"), 20)
    out["restarted_ready"] = t2 is not None
    out["retaken"] = names_roamd()
    u.proc.send_signal(signal.SIGTERM)
    out["restarted_exit"] = u.proc.wait(15)


def hang(u, a, out):
    u.start()
    t, _ = u.wait_message(lambda m: "READY=1" in m.split("\n"), 20)
    if t is None:
        out["error"] = "no READY=1"
        return
    time.sleep(1)
    u.proc.send_signal(signal.SIGSTOP)
    t0 = now()
    # systemd: no WATCHDOG=1 for WatchdogSec since the last one.
    while True:
        last = u.last_ping() or t
        if now() - last >= a.watchdog_sec:
            break
        time.sleep(0.01)
    fired = now()
    out["watchdog_fired_ms"] = round((fired - t0) * 1000)
    u.proc.send_signal(signal.SIGABRT)
    try:
        u.proc.wait(a.abort_sec)
    except subprocess.TimeoutExpired:
        u.proc.send_signal(signal.SIGKILL)
        u.proc.wait()
    out["killed_ms"] = round((now() - t0) * 1000)
    out["exec_stop_post"] = restore(a)
    out["dns_back"] = not names_roamd()
    out["dns_back_ms"] = round((now() - t0) * 1000)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", choices=["ready", "wedge-worker", "hang"])
    p.add_argument("--roamd", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--watchdog-sec", type=float, default=5.0)
    p.add_argument("--abort-sec", type=float, default=1.0)
    a = p.parse_args()
    if "LAB_INSIDE" not in os.environ:
        sys.exit("minisystemd.py runs only inside the lab: roamd rewrites /etc/resolv.conf")
    u = Unit(a)
    out = {"scenario": a.scenario}
    try:
        {"ready": ready, "wedge-worker": wedge_worker, "hang": hang}[a.scenario](u, a, out)
    finally:
        if u.proc and u.proc.poll() is None:
            u.proc.kill()
            u.wait_exit(5)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
