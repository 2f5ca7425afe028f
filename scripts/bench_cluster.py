#!/usr/bin/env python3
"""Scale benchmark of real shoald processes on 127.0.0.1 (see bench-cluster.sh).

Measures, for N processes with default parameters:
  converge_s   from the last process start until every node has logged every
               other member alive (from the nodes' own log timestamps), then
               checked with `shoal status` (equal ring checksums), polled
               until the rings agree (ring_agree_s)
  cpu_pct      steady-state CPU per node, % of one core (median), over --window s
  rss_mib      resident memory per node (median and max)
  udp_bytes_s  bytes sent per node per second (median of a sample of nodes)
  detect_s     kill -9 of one node: until the first / every survivor logged it
               faulty (log timestamps)
Prints one JSON object. Every process it starts, it stops.
"""

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from shoal_testlib import free_base_port  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) ")


def free_base(n):
    try:
        return free_base_port(n, tries=500)
    except RuntimeError:
        sys.exit("bench-cluster: no free port range")


def ts(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def new_lines(path, offsets, i):
    """The complete lines appended to `path` since offsets[i]; advances it.
    Logs are read incrementally: at N=1000 rereading every log on each poll
    would cost this harness a core."""
    with open(path, "rb") as f:
        f.seek(offsets[i])
        chunk = f.read()
    end = chunk.rfind(b"\n") + 1
    offsets[i] += end
    return chunk[:end].decode(errors="replace").splitlines()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--window", type=float, default=10.0, help="steady-state window, s")
    ap.add_argument("--converge-timeout", type=float, default=180.0)
    ap.add_argument("--keep-logs", action="store_true", help="keep the nodes' logs (path on stderr)")
    ap.add_argument("--start-rate", type=float, default=0.0,
                    help="processes started per second (0: as fast as possible)")
    ap.add_argument("--shoald-arg", action="append", default=[],
                    help="extra shoald flag (repeatable), e.g. --shoald-arg=--protocol-period-ms=1000")
    ap.add_argument("--keyring", action="store_true",
                    help="seal everything: one generated key, --keyring-file on every node")
    args = ap.parse_args()
    n = args.nodes
    if n < 3:
        sys.exit("bench-cluster: N must be >= 3")
    base = free_base(n)
    addr = lambda i: f"127.0.0.1:{base + i}"
    seeds = ",".join(addr(i) for i in range(3))
    logdir = tempfile.mkdtemp(prefix="shoal-bench-")
    if args.keyring:  # every node and every CLI call below use it
        key = subprocess.run([os.path.join(args.bin, "shoal"), "keys", "generate"],
                             capture_output=True, text=True, check=True).stdout
        keyfile = os.path.join(logdir, "keyring")
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(key)
        os.environ["SHOAL_KEYRING_FILE"] = keyfile
        args.shoald_arg.append("--keyring-file=" + keyfile)
    procs = []
    result = {"nodes": n, "keyring": args.keyring}
    try:
        t_first = time.time()
        for i in range(n):
            if args.start_rate > 0:  # paced start: process i at t_first + i / rate
                time.sleep(max(0.0, t_first + i / args.start_rate - time.time()))
            log = open(os.path.join(logdir, f"{i}.log"), "wb")
            procs.append(subprocess.Popen(
                [os.path.join(args.bin, "shoald"), "--listen", addr(i), "--seeds", seeds,
                 "--log-level", "info", "--member-log-per-second", "0", *args.shoald_arg],
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
        t_last = time.time()
        result["start_spread_s"] = round(t_last - t_first, 3)

        # Convergence from the logs: node i converged when it had logged all
        # n-1 others alive. Its own lines (a refutation logs "alive -> alive"
        # for itself) do not count: with them, a node that refuted a
        # suspicion could pass as converged while still missing a member.
        offsets = [0] * n
        seen = [set() for _ in range(n)]
        latest = [None] * n

        def converged_at(i):
            if len(seen[i]) < n - 1:
                for line in new_lines(os.path.join(logdir, f"{i}.log"), offsets, i):
                    if " new -> alive " in line or " -> alive inc" in line:
                        who = line.split(" member ", 1)[1].split(" ", 1)[0]
                        if who != addr(i) and who not in seen[i]:
                            seen[i].add(who)
                            latest[i] = line[:24]  # parsed once the node has converged
            return ts(latest[i]) if len(seen[i]) >= n - 1 else None

        deadline = time.time() + args.converge_timeout
        times = None
        while time.time() < deadline:
            times = [converged_at(i) for i in range(n)]
            if all(t is not None for t in times):
                break
            time.sleep(0.5)
        if times is None or not all(t is not None for t in times):
            result["error"] = "did not converge"
            print(json.dumps(result))
            return 1
        result["converge_s"] = round(max(times) - t_last, 3)
        # Then the rings: `shoal status` (every member's ring checksum) until
        # they agree. A ring trails membership by up to its publication
        # delay (2 ms per member during a cold start), so the first ask may
        # still see a difference. status_first_ask_s is when the first ask
        # began, ring_agree_s when an ask that saw agreement ended (an upper
        # bound: an ask visits the members one at a time, and right after a
        # cold start of 1000 busy nodes that takes seconds: status_sweep_s).
        # status_asks == 1: the rings already agreed at the first ask.
        result["status_converged"] = False
        status_deadline = time.time() + 60
        asks = 0
        while time.time() < status_deadline:
            sweep_start = time.time()
            try:
                st = subprocess.run([os.path.join(args.bin, "shoal"), "--node", addr(0),
                                     "--json", "--timeout-ms", "5000", "status"],
                                    capture_output=True, text=True,
                                    timeout=max(1.0, status_deadline - time.time()))
            except subprocess.TimeoutExpired:
                break
            asks += 1
            if "status_first_ask_s" not in result:
                result["status_first_ask_s"] = round(sweep_start - t_last, 3)
            if st.returncode == 0:
                result["status_converged"] = True
                result["ring_agree_s"] = round(time.time() - t_last, 3)
                result["status_sweep_s"] = round(time.time() - sweep_start, 3)
                break
            time.sleep(0.2)
        result["status_asks"] = asks
        if not result["status_converged"]:
            result["error"] = "rings did not agree within 60 s of log convergence"
            print(json.dumps(result))
            return 1

        # Steady state: let the cold start's gossip backlog drain first.
        time.sleep(max(5.0, n / 25.0))
        sample = random.sample(range(n), min(n, 20))

        def bytes_out(i):
            r = subprocess.run([os.path.join(args.bin, "shoal"), "--node", addr(i), "--json",
                                "stats"], capture_output=True, text=True, timeout=30)
            return json.loads(r.stdout)["bytes_out"] if r.returncode == 0 else None
        b0 = {i: bytes_out(i) for i in sample}
        c0 = [cpu_ticks(p.pid) for p in procs]
        w0 = time.time()
        time.sleep(args.window)
        c1 = [cpu_ticks(p.pid) for p in procs]
        b1 = {i: bytes_out(i) for i in sample}
        w = time.time() - w0
        cpu = [100.0 * (b - a) / CLK / w for a, b in zip(c0, c1)]
        result["cpu_pct_median"] = round(statistics.median(cpu), 3)
        result["cpu_pct_total"] = round(sum(cpu), 1)
        rss = [rss_mib(p.pid) for p in procs]
        result["rss_mib_median"] = round(statistics.median(rss), 2)
        result["rss_mib_max"] = round(max(rss), 2)
        rates = [(b1[i] - b0[i]) / w for i in sample if b0[i] is not None and b1[i] is not None]
        result["udp_bytes_s_median"] = round(statistics.median(rates), 1) if rates else None

        # Detection: kill -9 one node (not a seed), read the survivors' logs.
        victim = n // 2
        start_at = [os.path.getsize(os.path.join(logdir, f"{i}.log")) for i in range(n)]
        t_kill = time.time()
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        pattern = f" member {addr(victim)} "
        found = {}

        def detected_at(i):
            if i not in found:
                for line in new_lines(os.path.join(logdir, f"{i}.log"), start_at, i):
                    if pattern in line and "-> faulty" in line:
                        t = ts(line)
                        if t and t >= t_kill - 0.5:
                            found[i] = t
                            break
            return found.get(i)
        deadline = time.time() + 60
        det = None
        while time.time() < deadline:
            det = [detected_at(i) for i in range(n) if i != victim]
            if all(t is not None for t in det):
                break
            time.sleep(0.25)
        if det and all(t is not None for t in det):
            result["detect_first_s"] = round(min(det) - t_kill, 3)
            result["detect_all_s"] = round(max(det) - t_kill, 3)
        else:
            result["detect_error"] = "not every survivor logged the kill within 60 s"
        print(json.dumps(result))
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if args.keep_logs or "error" in result or "detect_error" in result:
            print(f"bench-cluster: logs kept in {logdir}", file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
