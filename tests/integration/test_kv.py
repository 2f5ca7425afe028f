#!/usr/bin/env python3
"""examples/kv on 127.0.0.1: five kv-servers lose no key across a rolling
restart and a kill -9.

    test_kv.py KV_BIN_DIR [unittest args]

The test writes 10,000 keys with kv-client, keeps overwriting (and, one
time in five, reading) them while it
restarts every kv-server in turn (SIGTERM: drain and leave), then kills one
with SIGKILL and starts it again; then it reads every key back and expects
the value of its last answered write. It prints how many client requests
failed during the roll (explicit errors and refused connections, each
retried by the client) and how long the roll took.

Every wait is a bounded poll; every process the test starts is stopped by
the test, by PID (SIGTERM, then SIGKILL).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_testlib import free_base_port, poll, stop_process  # noqa: E402

BIN = None  # set from argv
NODES = 5
KEYS = 10000
# The share of failed client requests during the roll the example is built
# for is under 1%; the check is looser so that a slow shared machine does
# not fail it, and the figure is printed for docs/PERFORMANCE.md.
FAILED_PCT_MAX = 5.0


class KvCluster:
    def __init__(self, n):
        self.n = n
        self.base = free_base_port(2 * n)
        self.dir = tempfile.mkdtemp(prefix="shoal-kv-")
        self.procs = {}
        self.starts = {}

    def gossip(self, i):
        return f"127.0.0.1:{self.base + i}"

    def http(self, i):
        return f"127.0.0.1:{self.base + self.n + i}"

    def servers(self):
        return ",".join(self.http(i) for i in range(self.n))

    def start(self, i):
        self.starts[i] = self.starts.get(i, 0) + 1
        log = open(os.path.join(self.dir, f"kv-{i}.{self.starts[i]}.log"), "wb")
        seeds = ",".join(self.gossip(j) for j in range(self.n) if j != i)
        args = [os.path.join(BIN, "kv-server"), "--listen", self.gossip(i),
                "--http", self.http(i), "--seeds", seeds]
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def status(self, i):
        try:
            with urllib.request.urlopen(f"http://{self.http(i)}/status", timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def settled(self, members):
        """Every running server sees `members` in its ring, has handled that
        ring (handoff pushed) and has nothing left to push; started ones
        have pulled."""
        for i, p in self.procs.items():
            if p.poll() is not None:
                continue
            s = self.status(i)
            if not s or not s["ready"] or not s["pulled"]:
                return False
            if s["ring_members"] != members or s["handled_ring_members"] != members:
                return False
            if s["handoff_pending"] != 0:
                return False
        return True

    def wait_settled(self, members, what):
        # Twice in a row, 200 ms apart: a push a ring change just queued
        # is seen in between.
        ok = poll(lambda: self.settled(members) and time.sleep(0.2) is None
                  and self.settled(members), timeout=60)
        if not ok:
            raise AssertionError(f"{what}: cluster did not settle at {members} members; "
                                 f"statuses: {[self.status(i) for i in self.procs]}; "
                                 f"logs in {self.dir}")

    def stop_all(self):
        for p in self.procs.values():
            stop_process(p)


class KvRollingRestart(unittest.TestCase):
    def test_no_key_lost_across_rolling_restart_and_kill(self):
        c = KvCluster(NODES)
        load = None
        try:
            for i in range(NODES):
                c.start(i)
            c.wait_settled(NODES, "start")
            # Members speak to each other only over shoal's links: the HTTP
            # side serves clients, and nothing else.
            for path in ("/replica", "/pull"):
                req = urllib.request.Request(f"http://{c.http(0)}{path}", data=b"x",
                                             method="POST")
                with self.assertRaises(urllib.error.HTTPError) as e:
                    urllib.request.urlopen(req, timeout=5)
                self.assertEqual(e.exception.code, 404, path)

            expect = os.path.join(c.dir, "expect.tsv")
            stop_file = os.path.join(c.dir, "stop")
            load_out = open(os.path.join(c.dir, "load.out"), "w+")
            load = subprocess.Popen(
                [os.path.join(BIN, "kv-client"), "--servers", c.servers(), "load",
                 "--keys", str(KEYS), "--out", expect, "--stop-file", stop_file,
                 "--max-seconds", "600", "--reads", "20"],
                stdout=load_out, stderr=subprocess.STDOUT, text=True)

            def filled():
                load_out.seek(0)
                return "filled" in load_out.read()
            self.assertTrue(poll(filled, timeout=120), "the load did not fill its keys")

            roll_start = time.monotonic()
            for i in range(NODES):
                p = c.procs[i]
                p.send_signal(signal.SIGTERM)
                p.wait(60)
                self.assertEqual(p.returncode, 0, f"kv-server {i} did not leave cleanly")
                c.wait_settled(NODES - 1, f"after stopping {i}")
                c.start(i)
                c.wait_settled(NODES, f"after restarting {i}")
            victim = 2
            c.procs[victim].kill()
            c.procs[victim].wait(10)
            c.wait_settled(NODES - 1, "after kill -9")
            c.start(victim)
            c.wait_settled(NODES, "after restarting the killed one")
            roll_seconds = time.monotonic() - roll_start

            open(stop_file, "w").close()
            load.wait(120)
            load_out.seek(0)
            lines = load_out.read().strip().splitlines()
            self.assertEqual(load.returncode, 0, lines)
            stats = json.loads(lines[-1])

            check = subprocess.run(
                [os.path.join(BIN, "kv-client"), "--servers", c.servers(), "check",
                 "--in", expect], capture_output=True, text=True, timeout=300)
            result = json.loads(check.stdout.strip().splitlines()[-1])
            print(f"kv: {KEYS} keys, roll of {NODES} + kill -9 in {roll_seconds:.1f} s; "
                  f"client requests during the roll: {stats['requests']}, failed "
                  f"{stats['failed']} ({stats['failed_pct']:.3f}%), gave up {stats['gave_up']}, "
                  f"reads {stats['reads']} (older than their last answered write: "
                  f"{stats['stale_reads']}); "
                  f"read back: {result}", flush=True)
            self.assertEqual(check.returncode, 0, check.stderr)
            self.assertEqual(result["ok"], KEYS)
            self.assertEqual(stats["gave_up"], 0)
            self.assertLess(stats["failed_pct"], FAILED_PCT_MAX)
        finally:
            if load is not None:
                stop_process(load)
            c.stop_all()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_kv.py KV_BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main()
