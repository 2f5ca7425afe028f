#!/usr/bin/env python3
"""examples/kv under a partition: an answered write survives a server that
is cut off, answers alone, and is killed.

    test_netns_kv.py KV_BIN_DIR [unittest args]

Topology: a hub namespace with a bridge (10.233.0.1, where the client
runs) and three kv-server namespaces, 10.233.0.10-12, each joined to the
bridge by a veth pair. All of it is created by the test and removed
afterwards; no traffic leaves these namespaces.

The run: kv-client writes 4,000 keys once and then keeps overwriting them,
each overwrite followed by the write of a new key that is never written
again (a lost answered write of it cannot hide behind a later one),
through any server, remembering each key's last answered write. Server C
is cut off from A and B (every packet between them dropped, both ways;
the client still reaches all three) until its own ring holds only itself
and theirs only each other; it keeps taking requests for a while like
that, is killed with -9 while still cut off, started again, and the cut
is lifted. Once the three have settled, every key must read back with its
last answered write (or a later one that failed to answer). Before the
fix a cut-off server answered writes with one copy, and those were lost
with it.

It prints the answered writes, the failed share of client requests during
the partition (each retried) and how long each phase took. Root, `ip
netns`, veth, a bridge, nft and curl are needed; without them the test is
skipped with the reason. Every process started is stopped by PID (SIGTERM,
then SIGKILL); every wait is a bounded poll.
"""

import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoal_testlib  # noqa: E402
from shoal_testlib import stop_process, stop_processes  # noqa: E402

BIN = None  # set from argv
SUBNET = "10.233.0"
GOSSIP_PORT = 7946
HTTP_PORT = 8100
KEYS = 4000
CUT = 2  # the server cut off: C
# Requests C takes with a ring of itself alone before it is killed, and
# after it restarts (still cut off).
ALONE_REQUESTS = 400
RESTARTED_REQUESTS = 100

poll = functools.partial(shoal_testlib.poll, interval=0.5)


def run(*args, input=None, timeout=60):
    return subprocess.run(list(args), capture_output=True, text=True, input=input,
                          timeout=timeout)


class Hosts:
    def __init__(self):
        tag = f"{os.getpid() % 10000:04d}{random.randrange(16**2):02x}"
        self.hub = f"shoal-kvhub-{tag}"
        self.ns = [f"shoal-kv{i}-{tag}" for i in range(3)]
        self.dir = tempfile.mkdtemp(prefix="shoal-netns-kv-")
        self.procs = {}
        self.starts = {}
        self.made = []

    def ip(self, i):
        return f"{SUBNET}.{10 + i}"

    def http(self, i):
        return f"{self.ip(i)}:{HTTP_PORT}"

    def setup(self):
        """'' or why the network could not be made."""
        for ns in [self.hub] + self.ns:
            r = run("ip", "netns", "add", ns)
            if r.returncode != 0:
                return f"cannot create a network namespace: {r.stderr.strip()}"
            self.made.append(ns)
        steps = [["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"],
                 ["ip", "-n", self.hub, "addr", "add", f"{SUBNET}.1/24", "dev", "br0"],
                 ["ip", "-n", self.hub, "link", "set", "br0", "up"],
                 ["ip", "-n", self.hub, "link", "set", "lo", "up"]]
        for i, ns in enumerate(self.ns):
            h, n = f"h{i}", f"n{i}"
            steps += [["ip", "-n", self.hub, "link", "add", h, "type", "veth", "peer", "name", n,
                       "netns", ns],
                      ["ip", "-n", self.hub, "link", "set", h, "master", "br0", "up"],
                      ["ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", n],
                      ["ip", "-n", ns, "link", "set", n, "up"],
                      ["ip", "-n", ns, "link", "set", "lo", "up"]]
        for cmd in steps:
            r = run(*cmd)
            if r.returncode != 0:
                return f"cannot set up the network: {' '.join(cmd)}: {r.stderr.strip()}"
        return ""

    def teardown(self):
        stop_processes(self.procs.values())
        for ns in self.made:
            run("ip", "netns", "del", ns)

    def start(self, i):
        self.starts[i] = self.starts.get(i, 0) + 1
        seeds = ",".join(f"{self.ip(j)}:{GOSSIP_PORT}" for j in range(3) if j != i)
        log = open(os.path.join(self.dir, f"kv-{i}.{self.starts[i]}.log"), "wb")
        # `ip netns exec` execs kv-server: the PID is kv-server's.
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[i], os.path.join(BIN, "kv-server"),
             "--listen", f"{self.ip(i)}:{GOSSIP_PORT}", "--http", self.http(i),
             "--seeds", seeds, "--cluster", "kvp"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def status(self, i):
        r = run("ip", "netns", "exec", self.hub, "curl", "-s", "-m", "2",
                f"http://{self.http(i)}/status", timeout=10)
        try:
            return json.loads(r.stdout) if r.returncode == 0 else None
        except ValueError:
            return None

    def rings(self, members):
        """{i: ring size} of the running servers, if each answers."""
        out = {}
        for i in members:
            s = self.status(i)
            if s is None:
                return None
            out[i] = s["ring_members"]
        return out

    def settled(self):
        for i in range(3):
            s = self.status(i)
            if not s or not s["ready"] or not s["pulled"] or s["ring_members"] != 3:
                return False
            if s["handled_ring_members"] != 3 or s["handoff_pending"] != 0:
                return False
        return True

    def cut(self, i, others):
        """Drops every packet between server i and `others`, both ways."""
        addrs = ", ".join(self.ip(j) for j in others)
        r = run("ip", "netns", "exec", self.ns[i], "nft", "-f", "-",
                input="table inet kvcut {\n"
                      "  chain input {\n    type filter hook input priority 0; policy accept;\n"
                      f"    ip saddr {{ {addrs} }} drop\n  }}\n"
                      "  chain output {\n    type filter hook output priority 0; policy accept;\n"
                      f"    ip daddr {{ {addrs} }} drop\n  }}\n}}\n")
        if r.returncode != 0:
            raise AssertionError(f"nft in {self.ns[i]}: {r.stderr.strip()}")

    def heal(self, i):
        run("ip", "netns", "exec", self.ns[i], "nft", "delete", "table", "inet", "kvcut")

    def client(self, *args, **kw):
        return ["ip", "netns", "exec", self.hub, os.path.join(BIN, "kv-client"),
                "--servers", ",".join(self.http(i) for i in range(3))] + list(args)


class KvPartitionTest(unittest.TestCase):
    def test_no_answered_write_lost_to_a_partition_and_a_kill(self):
        why = shoal_testlib.why_no_netns(("ip", "nft", "curl"))
        if why:
            raise unittest.SkipTest(why)
        h = Hosts()
        try:
            why = h.setup()
            if why:
                raise unittest.SkipTest(why)
            self.run_partition(h)
        finally:
            h.teardown()

    def run_partition(self, h):
        for i in range(3):
            h.start(i)
        self.assertTrue(poll(h.settled, timeout=120), f"no start; logs in {h.dir}")
        expect = os.path.join(h.dir, "expect.tsv")
        stop_file = os.path.join(h.dir, "stop")
        load_out = open(os.path.join(h.dir, "load.out"), "w+")
        load = subprocess.Popen(
            h.client("load", "--keys", str(KEYS), "--once", "--out", expect, "--stop-file",
                     stop_file, "--max-seconds", "600"),
            stdout=load_out, stderr=subprocess.STDOUT, text=True)
        try:
            def filled():
                load_out.seek(0)
                return "filled" in load_out.read()
            self.assertTrue(poll(filled, timeout=120), "the load did not fill its keys")
            phases = self.partition(h)
            open(stop_file, "w").close()
            load.wait(120)
        finally:
            stop_process(load)
        load_out.seek(0)
        lines = load_out.read().strip().splitlines()
        load_out.close()
        self.assertEqual(load.returncode, 0, lines)
        stats = json.loads(lines[-1])
        check = run(*h.client("check", "--in", expect), timeout=300)
        self.assertTrue(check.stdout.strip(), check.stderr)
        result = json.loads(check.stdout.strip().splitlines()[-1])
        c = h.status(CUT) or {}
        print(f"kv partition: {KEYS} keys; phases {phases}; client requests after the fill "
              f"{stats['requests']}, failed {stats['failed']} ({stats['failed_pct']:.2f}%), "
              f"gave up {stats['gave_up']}; read back {result}; the restarted server refused "
              f"{c.get('writes_refused')} writes; logs in {h.dir}", flush=True)
        self.assertEqual(result["missing"], 0, check.stderr)
        self.assertEqual(result["wrong"], 0, check.stderr)
        self.assertEqual(result["ok"], result["keys"], check.stderr)
        self.assertGreater(result["keys"], KEYS, "no once-only key was answered")
        self.assertEqual(stats["gave_up"], 0)

    def takes(self, h, n, what):
        """Waits until C has taken n more client requests."""
        first = (h.status(CUT) or {}).get("client_requests", 0)
        ok = poll(lambda: (h.status(CUT) or {}).get("client_requests", 0) >= first + n,
                  timeout=120)
        self.assertTrue(ok, f"C took fewer than {n} requests {what}; logs in {h.dir}")

    def partition(self, h):
        """Cut C off until the rings split, let it answer alone, kill it,
        restart it cut off, heal. The phases' durations, in seconds."""
        others = [i for i in range(3) if i != CUT]
        phases = {}
        t = time.monotonic()
        h.cut(CUT, others)
        split = lambda: (h.rings([CUT]) == {CUT: 1} and
                         h.rings(others) == {i: 2 for i in others})
        self.assertTrue(poll(split, timeout=150),
                        f"the rings did not split: {h.rings(range(3))}; logs in {h.dir}")
        phases["split"] = round(time.monotonic() - t, 1)
        # C takes requests with a ring of itself alone, then is killed.
        self.takes(h, ALONE_REQUESTS, "with its ring of one")
        h.procs[CUT].send_signal(signal.SIGKILL)
        h.procs[CUT].wait(10)
        h.start(CUT)
        self.assertTrue(poll(lambda: h.status(CUT) is not None, timeout=60),
                        f"the killed server did not come back; logs in {h.dir}")
        self.takes(h, RESTARTED_REQUESTS, "restarted, still cut off")
        t = time.monotonic()
        h.heal(CUT)
        self.assertTrue(poll(h.settled, timeout=180),
                        f"no settle after the heal: {[h.status(i) for i in range(3)]}; "
                        f"logs in {h.dir}")
        phases["heal"] = round(time.monotonic() - t, 1)
        return phases


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_netns_kv.py KV_BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main()
