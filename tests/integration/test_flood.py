#!/usr/bin/env python3
"""Fresh news through a flood of invented members, on real processes.

    test_flood.py BIN_DIR [unittest args]

Five shoald on 127.0.0.1, no keyring, running for a few seconds. A
stranger (a UDP socket on 127.0.0.1, no member) sends them 2,900
plaintext Gossip datagrams, each claiming 24 invented members alive
(127.77.X.Y:7000, nothing listens there): 69,600 claims, as in the attack
tried from outside, after which a node that started next was not seen by
two of five members within 15 s. Then a sixth node starts, and a forged
`suspect` claim about a live member reaches one node. Asserted: every
node sees the newcomer alive, and the suspected member alive at a higher
incarnation (its refutation), within 5 s each.

Protobuf is encoded by hand (test_netns_attack.py's helpers). Every wait
is a bounded poll; every node started is stopped by PID.
"""

import socket
import sys
import time
import unittest

import test_cluster  # noqa: E402  (Cluster, BIN)
import test_netns_attack as wire  # noqa: E402  (hand-written protobuf)
from shoal_testlib import poll  # noqa: E402
from test_cluster import Cluster  # noqa: E402

DATAGRAMS = 2900
CLAIMS = 24
BOUND_S = 5.0


def invented(k):
    return f"127.77.{k // 250}.{k % 250 + 1}:7000"


class FloodTest(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(6, cluster="flood")
        wire.CLUSTER = self.c.cluster
        self.addCleanup(self.c.stop_all)
        for i in range(5):
            self.c.start(i)
        def converged():
            s = self.c.cli(0, "status")
            return s is not None and s["converged"] and len(s["nodes"]) == 5
        self.assertTrue(poll(converged, timeout=60), "5 nodes did not converge in 60 s")
        # A running cluster: each node has probed 10 times (every other
        # member at least twice), so the members have heard from each other.
        def probed():
            return all((self.c.cli(i, "stats") or {}).get("probes", 0) >= 10 for i in range(5))
        self.assertTrue(poll(probed, timeout=30), "the nodes did not probe 10 times in 30 s")

    def flood(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        stranger = "127.0.0.1:%d" % udp.getsockname()[1]
        k = 0
        for d in range(DATAGRAMS):
            claims = []
            for _ in range(CLAIMS):
                name = invented(k)
                claims.append(wire.change(name, wire.ALIVE, 1, name, 1))
                k += 1
            host, port = self.c.addr(d % 5).rsplit(":", 1)
            udp.sendto(wire.gossip(stranger, claims), (host, int(port)))
            if d % 100 == 99:
                time.sleep(0.005)  # pacing, so the sockets' buffers take most of it
        udp.close()

    def test_a_newcomer_and_a_refutation_get_through(self):
        c = self.c
        self.flood()
        sizes = [len(c.members(i) or {}) for i in range(5)]
        print(f"members per node after the flood: {sizes}", flush=True)
        self.assertGreater(max(sizes), 100, "the flood did not get in: the test tests nothing")

        target = c.members(2)[c.addr(2)]
        inc = target["incarnation"]
        t0 = time.monotonic()
        c.start(5)
        forged = wire.change(c.addr(2), wire.SUSPECT, inc, c.addr(0), 1)
        host, port = c.addr(1).rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(wire.gossip(c.addr(0), [forged]), (host, int(port)))

        seen = {}
        def everywhere():
            for i in range(6):
                m = c.members(i) or {}
                new = m.get(c.addr(5), {})
                old = m.get(c.addr(2), {})
                if i != 5 and new.get("status") == "alive" and "join" not in seen:
                    seen.setdefault(("join", i), time.monotonic() - t0)
                if old.get("status") == "alive" and old.get("incarnation", 0) > inc:
                    seen.setdefault(("refute", i), time.monotonic() - t0)
            return (all(("join", i) in seen for i in range(5)) and
                    all(("refute", i) in seen for i in range(6) if i != 2))
        ok = poll(everywhere, timeout=30)
        join_s = max((v for (k, _), v in seen.items() if k == "join"), default=None)
        refute_s = max((v for (k, _), v in seen.items() if k == "refute"), default=None)
        print(f"newcomer alive on all 5 after {join_s} s; refutation on all 5 after "
              f"{refute_s} s (each includes the CLI polls)", flush=True)
        self.assertTrue(ok, f"not everywhere within 30 s: {sorted(seen)}")
        self.assertLessEqual(join_s, BOUND_S)
        self.assertLessEqual(refute_s, BOUND_S)


if __name__ == "__main__":
    test_cluster.BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
