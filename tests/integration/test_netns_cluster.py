#!/usr/bin/env python3
"""Twenty hosts: each shoald in a network namespace of its own, with its own
address, the keyring on, faults made with nft.

    test_netns_cluster.py BIN_DIR [unittest args]

Topology: a hub namespace with a bridge, and N=20 node namespaces, each
joined to the bridge by a veth pair and addressed 10.232.0.(10+i)/24. All of
it is created by the test and removed afterwards; no traffic leaves these
namespaces. Each node runs `shoald --keyring-file` (so `--encryption
required`) and `--name host-<i>` (named like the Kubernetes pods of
deploy/), seeded by the first three; the CLI asks them with the same
keyring. Faults are nft rules on a node namespace's input hook.

The cases run in order on one cluster (names sort in that order):
  1. 20% of every node's incoming UDP dropped for 60 s: no member declared
     faulty by anyone, all alive everywhere afterwards;
  2. the same at 30%;
  3. all UDP between two nodes dropped (both ways), and all UDP into a
     third, for 30 s, while TCP works: nobody declared faulty (the second
     needs the TCP fallback probe: its probes and every ping-req path are
     UDP);
  4. a 10|10 partition (all traffic between the halves dropped): each side
     declares the other faulty; once lifted, all 20 alive everywhere again;
  5. kill -9 of one node: every survivor declares it faulty.
It prints how long detection and healing took.

SHOAL_NETNS_SHOALD_ARGS adds flags to every shoald (a control run:
`--tcp-fallback-probe false` makes case 3 fail).

Root, `ip netns`, veth, a bridge and nft are needed; without them the tests
are skipped with the reason. Every process started is stopped by PID
(SIGTERM, then SIGKILL); every wait is a bounded poll.
"""

import functools
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None  # set from argv
N = 20
PORT = 7946
SUBNET = "10.232.0"
LOSS_SECONDS = 60
UDP_CUT_SECONDS = 30


def run(*args, input=None):
    return subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=60)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoal_testlib  # noqa: E402
from shoal_testlib import json_answer, run_shoal, shoal_command, stop_processes  # noqa: E402

poll = functools.partial(shoal_testlib.poll, interval=0.5)  # a sweep asks 20 nodes


class Hosts:
    """The namespaces, the bridge, the nodes."""

    def __init__(self):
        tag = f"{os.getpid() % 10000:04d}{random.randrange(16**2):02x}"
        self.tag = tag
        self.hub = f"shoal-hub-{tag}"
        self.ns = [f"shoal-n{i}-{tag}" for i in range(N)]
        self.dir = tempfile.mkdtemp(prefix="shoal-netns-")
        self.procs = {}
        self.keyring = os.path.join(self.dir, "keyring")
        self.made = []  # namespaces to delete

    def ip(self, i):
        return f"{SUBNET}.{10 + i}"

    def addr(self, i):
        return f"{self.ip(i)}:{PORT}"

    def setup(self):
        """'' or why the network could not be made."""
        for ns in [self.hub] + self.ns:
            r = run("ip", "netns", "add", ns)
            if r.returncode != 0:
                return f"cannot create a network namespace: {r.stderr.strip()}"
            self.made.append(ns)
        steps = [["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"],
                 ["ip", "-n", self.hub, "link", "set", "br0", "up"]]
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
        key = run(os.path.join(BIN, "shoal"), "keys", "generate").stdout.strip()
        with open(self.keyring, "w") as f:
            f.write(key + "\n")
        os.chmod(self.keyring, 0o600)
        return ""

    def teardown(self):
        stop_processes(self.procs.values())
        for ns in self.made:
            run("ip", "netns", "del", ns)

    def start(self, i):
        seeds = ",".join(self.addr(j) for j in range(3) if j != i)
        log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
        # `ip netns exec` execs shoald: the PID is shoald's.
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[i], os.path.join(BIN, "shoald"), "--listen",
             self.addr(i), "--seeds", seeds, "--cluster", "mh", "--keyring-file", self.keyring,
             "--name", f"host-{i}"]
            + os.environ.get("SHOAL_NETNS_SHOALD_ARGS", "").split(),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def running(self):
        return [i for i, p in self.procs.items() if p.poll() is None]

    def cli(self, i, *args):
        cmd = shoal_command(BIN, self.addr(i), "mh", *args, timeout_ms=3000,
                            keyring=self.keyring, netns=self.ns[i])
        return json_answer(run_shoal(cmd, timeout=60), exit_codes=(0,))

    def view(self, i):
        """{address: status} as node i sees it, or None."""
        m = self.cli(i, "members")
        return {x["address"]: x["status"] for x in m} if m is not None else None

    def all_see(self, viewers, subjects, statuses):
        for v in viewers:
            view = self.view(v)
            if view is None:
                return False
            for s in subjects:
                if view.get(self.addr(s)) not in statuses:
                    return False
        return True

    def faulty_declared(self):
        """Sum of every running node's faulty_declared counter."""
        total = 0
        for i in self.running():
            # A CLI call can time out on a loaded machine: ask again, bounded.
            st = poll(lambda: self.cli(i, "stats"), timeout=15)
            if st is None:
                raise AssertionError(f"node {i} did not answer stats; logs in {self.dir}")
            total += st["faulty_declared"]
        return total

    def nft(self, i, rules):
        r = run("ip", "netns", "exec", self.ns[i], "nft", "-f", "-",
                input="table inet shoaltest {\n  chain input {\n"
                      "    type filter hook input priority 0; policy accept;\n"
                      f"    {rules}\n  }}\n}}\n")
        if r.returncode != 0:
            raise AssertionError(f"nft in {self.ns[i]}: {r.stderr.strip()}")

    def nft_clear(self, i):
        run("ip", "netns", "exec", self.ns[i], "nft", "delete", "table", "inet", "shoaltest")


class NetnsClusterTest(unittest.TestCase):
    hosts = None

    @classmethod
    def setUpClass(cls):
        why = shoal_testlib.why_no_netns(("ip", "nft"))
        if why:
            raise unittest.SkipTest(why)
        cls.hosts = Hosts()
        why = cls.hosts.setup()
        if why:
            cls.hosts.teardown()
            raise unittest.SkipTest(why)
        for i in range(N):
            cls.hosts.start(i)
        ok = poll(lambda: cls.hosts.all_see(range(N), range(N), {"alive"}), timeout=120)
        if not ok:
            cls.hosts.teardown()
            raise AssertionError(f"{N} nodes did not converge; logs in {cls.hosts.dir}")

    @classmethod
    def tearDownClass(cls):
        if cls.hosts is not None:
            cls.hosts.teardown()

    def no_false_faulty_under(self, rules_by_node, seconds, what):
        h = self.hosts
        before = h.faulty_declared()
        try:
            for i, rules in rules_by_node.items():
                h.nft(i, rules)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:  # watch as it goes
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                self.assertEqual(h.faulty_declared(), before,
                                 f"{what}: a live member was declared faulty; logs in {h.dir}")
        finally:
            for i in rules_by_node:
                h.nft_clear(i)
        self.assertTrue(poll(lambda: h.all_see(h.running(), h.running(), {"alive"}), timeout=60),
                        f"{what}: not all alive everywhere afterwards; logs in {h.dir}")
        print(f"netns: {what}: 0 false faulty in {seconds} s", flush=True)

    def test_1_loss_20_percent(self):
        rule = "meta l4proto udp numgen random mod 100 < 20 drop"
        self.no_false_faulty_under({i: rule for i in range(N)}, LOSS_SECONDS,
                                   "20% of incoming UDP dropped on every node")

    def test_2_loss_30_percent(self):
        rule = "meta l4proto udp numgen random mod 100 < 30 drop"
        self.no_false_faulty_under({i: rule for i in range(N)}, LOSS_SECONDS,
                                   "30% of incoming UDP dropped on every node")

    def test_3_udp_cut_while_tcp_works(self):
        h = self.hosts
        rules = {3: f"meta l4proto udp ip saddr {h.ip(4)} drop",
                 4: f"meta l4proto udp ip saddr {h.ip(3)} drop",
                 5: "meta l4proto udp drop"}
        self.no_false_faulty_under(rules, UDP_CUT_SECONDS,
                                   "UDP cut between nodes 3 and 4, and all UDP into node 5")

    def test_4_partition_detected_and_healed(self):
        h = self.hosts
        a, b = list(range(N // 2)), list(range(N // 2, N))
        start = time.monotonic()
        try:
            for side, other in ((a, b), (b, a)):
                others = ", ".join(h.ip(j) for j in other)
                for i in side:
                    h.nft(i, f"ip saddr {{ {others} }} drop")
            self.assertTrue(poll(lambda: h.all_see(a, b, {"faulty", "tombstone", None})
                                 and h.all_see(b, a, {"faulty", "tombstone", None}), timeout=90),
                            f"the partition was not detected on both sides; logs in {h.dir}")
            detected = time.monotonic() - start
        finally:
            for i in range(N):
                h.nft_clear(i)
        lifted = time.monotonic()
        self.assertTrue(poll(lambda: h.all_see(range(N), range(N), {"alive"}), timeout=180),
                        f"the partition did not heal; logs in {h.dir}")
        print(f"netns: 10|10 partition detected by both sides in {detected:.1f} s, "
              f"healed {time.monotonic() - lifted:.1f} s after it was lifted", flush=True)

    def test_5_kill_detected(self):
        h = self.hosts
        victim = N - 1
        h.procs[victim].kill()
        h.procs[victim].wait(10)
        start = time.monotonic()
        survivors = h.running()
        self.assertTrue(poll(lambda: h.all_see(survivors, [victim], {"faulty"}), timeout=60,
                             interval=0.2),
                        f"kill -9 not detected by every survivor; logs in {h.dir}")
        print(f"netns: kill -9 seen faulty by all {len(survivors)} survivors within "
              f"{time.monotonic() - start:.1f} s (polled one by one)", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_netns_cluster.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
