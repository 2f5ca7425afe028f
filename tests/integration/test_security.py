#!/usr/bin/env python3
"""The trust boundary with real shoald processes on 127.0.0.1.

    test_security.py BIN_DIR [unittest args]

A running plaintext cluster is converted to `--encryption required` by two
rolling restarts (accept-plaintext, then required), its key is rotated
(install, use, remove on every member), and a node holding only the old
key is refused; requests are forwarded through the cluster all along, and
no member is ever declared faulty and no forward fails. Every wait is a
bounded poll; every process started is stopped by the test.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster  # noqa: E402  (Cluster, BIN)
from shoal_testlib import json_answer, poll, run_shoal, shoal_command  # noqa: E402
from test_cluster import Cluster  # noqa: E402


def new_key():
    out = subprocess.run([os.path.join(test_cluster.BIN, "shoal"), "keys", "generate"],
                         capture_output=True, text=True, timeout=10, check=True)
    return out.stdout.strip()


def write_keyring(path, keys):
    with open(path, "w") as f:
        f.write("".join(k + "\n" for k in keys))
    os.chmod(path, 0o600)


class KeyedCluster(Cluster):
    """A Cluster whose nodes each have their own flags and keyring file."""

    def __init__(self, n):
        super().__init__(n + 1)  # one spare address for the outsider
        self.n = n
        self.flags = {i: [] for i in range(n + 1)}
        self.cli_keys = None  # keyring file the CLI seals with, or None
        self.cli_keyed = {i: False for i in range(n + 1)}  # node i needs sealed admin

    def keyring(self, i):
        return os.path.join(self.dir, f"node-{i}.keys")

    def start(self, i, cluster=None, seeds=None):
        self.extra = self.flags[i]
        super().start(i, cluster, seeds if seeds is not None else
                      ",".join(self.addr(j) for j in range(3) if j != i) or "")

    def cli_raw(self, node, *args, keys="default", timeout_ms=2000):
        keys = (self.cli_keys if self.cli_keyed[node] else None) if keys == "default" else keys
        return run_shoal(shoal_command(test_cluster.BIN, self.addr(node), self.cluster, *args,
                                       timeout_ms=timeout_ms, keyring=keys), env_keyring=False)

    def cli(self, node, *args, cluster=None):
        return json_answer(self.cli_raw(node, *args))

    def stats(self, node):
        return self.cli(node, "stats")

    def faulty_lines(self):
        bad = []
        for i in range(self.n + 1):
            path = os.path.join(self.dir, f"node-{i}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    bad += [f"node {i}: {l.strip()}" for l in f if re.search(r"-> faulty", l)]
        return bad


class Load(threading.Thread):
    """Forwards requests through the members not being restarted."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.cv = threading.Condition()
        self.down = set()  # members being restarted: not used as entry points
        self.busy = None  # the entry point of the call in progress
        self.stopping = False
        self.sent = 0
        self.errors = []

    def run(self):
        rng = random.Random(7)
        while True:
            with self.cv:
                if self.stopping:
                    return
                up = [i for i in range(self.c.n) if i not in self.down]
                entry = rng.choice(up)
                self.busy = entry
            key = f"k{rng.randrange(100000)}"
            out = self.c.cli_raw(entry, "forward", key, "v")
            with self.cv:
                self.busy = None
                self.cv.notify_all()
                self.sent += 1
                try:
                    ok = out.returncode == 0 and json.loads(out.stdout)["ok"]
                except (ValueError, KeyError):
                    ok = False
                if not ok:
                    self.errors.append(f"via {entry}: {out.stdout.strip()} {out.stderr.strip()}")

    def take_down(self, i):
        with self.cv:
            self.down.add(i)
            self.cv.wait_for(lambda: self.busy != i, timeout=30)

    def bring_up(self, i):
        with self.cv:
            self.down.discard(i)

    def stop(self):
        with self.cv:
            self.stopping = True
        self.join(timeout=60)


class RolloutTest(unittest.TestCase):
    N = 5

    def converged(self, n=None):
        n = n or self.N
        def check():
            for viewer in range(self.N):
                m = self.c.members(viewer)
                if m is None:
                    return False
                alive = [a for a, x in m.items() if x["status"] == "alive"]
                if sorted(alive) != sorted(self.c.addr(i) for i in range(n)):
                    return False
            s = self.c.cli(0, "status")
            return s is not None and s["converged"]
        return poll(check, timeout=60, interval=0.2)

    def restart(self, i, flags, keyed):
        self.load.take_down(i)
        self.c.kill(i, signal.SIGTERM)  # graceful: leave, then exit
        self.assertEqual(self.c.wait_exit(i, timeout=20), 0, f"node {i} did not leave cleanly")
        self.c.flags[i] = flags
        self.c.cli_keyed[i] = keyed
        self.c.start(i)
        self.assertTrue(self.converged(), f"no convergence after restarting node {i}")
        self.load.bring_up(i)

    def test_plaintext_cluster_converts_rotates_and_refuses_the_old_key(self):
        c = self.c = KeyedCluster(self.N)
        self.addCleanup(c.stop_all)
        k1, k2 = new_key(), new_key()
        cli_k1 = os.path.join(c.dir, "cli-k1.keys")
        cli_k2 = os.path.join(c.dir, "cli-k2.keys")
        write_keyring(cli_k1, [k1])
        write_keyring(cli_k2, [k2])
        c.cli_keys = cli_k1
        for i in range(self.N):
            c.start(i)
        self.assertTrue(self.converged(), "the plaintext cluster did not converge")
        self.load = Load(c)
        self.load.start()
        self.addCleanup(self.load.stop)

        # Two rolling restarts: accept-plaintext, then required.
        for mode in ("accept-plaintext", "required"):
            for i in range(self.N):
                write_keyring(c.keyring(i), [k1])
                self.restart(i, ["--keyring-file", c.keyring(i), "--encryption", mode], True)
        # Converted: a CLI without the key is refused, and told why.
        out = c.cli_raw(0, "members", keys=None)
        self.assertEqual(out.returncode, 1)
        self.assertIn("needs the cluster key", out.stderr)

        # Rotation: install k2 everywhere, use it, remove k1. The CLI's own
        # keyring follows the same steps (docs/SECURITY.md): it opens
        # answers sealed with either key while both are in use.
        cli_k12 = os.path.join(c.dir, "cli-k12.keys")
        cli_k21 = os.path.join(c.dir, "cli-k21.keys")
        write_keyring(cli_k12, [k1, k2])
        write_keyring(cli_k21, [k2, k1])
        for op, key, before, after in (("install", k2, cli_k1, cli_k12),
                                       ("use", k2, cli_k12, cli_k21),
                                       ("remove", k1, cli_k21, cli_k2)):
            out = c.cli_raw(0, "keys", op, key, "--all", keys=before)
            with self.load.cv:
                c.cli_keys = after
                # A forward already on its way may carry the keys before
                # `before` (sealed with k1 while "remove k1" runs next): let
                # it end before the next step changes the nodes' keys.
                self.load.cv.wait_for(lambda: self.load.busy is None, timeout=30)
            self.assertEqual(out.returncode, 0, f"keys {op}: {out.stdout} {out.stderr}")
            report = json.loads(out.stdout)
            self.assertEqual(len(report), self.N)
            self.assertTrue(all(r["ok"] for r in report), report)
        # Every node saved the ring: its file now holds k2 only.
        for i in range(self.N):
            with open(c.keyring(i)) as f:
                self.assertEqual([l.strip() for l in f if l.strip() and l[0] != "#"], [k2])
        # ... so a restart keeps it.
        self.restart(self.N - 1, c.flags[self.N - 1], True)

        # A node holding only the old key is refused: its joins do not open.
        before = sum(c.stats(i)["drops"]["decrypt_failed"] for i in range(3))
        outsider = self.N
        write_keyring(c.keyring(outsider), [k1])
        c.flags[outsider] = ["--keyring-file", c.keyring(outsider)]
        c.start(outsider)
        self.assertTrue(poll(lambda: sum(c.stats(i)["drops"]["decrypt_failed"]
                                         for i in range(3)) > before, timeout=30),
                        "the outsider's joins never reached the seeds")
        for viewer in range(self.N):
            self.assertNotIn(c.addr(outsider), c.members(viewer))
        c.kill(outsider, signal.SIGKILL)
        c.wait_exit(outsider)

        self.load.stop()
        self.assertGreater(self.load.sent, 20)
        self.assertEqual(self.load.errors, [], f"{len(self.load.errors)} of {self.load.sent} "
                         "forwards failed")
        self.assertEqual(c.faulty_lines(), [])
        print(f"\n  forwards: {self.load.sent}, errors: 0, faulty declarations: 0",
              file=sys.stderr)


if __name__ == "__main__":
    test_cluster.BIN = sys.argv.pop(1)
    unittest.main()
