#!/usr/bin/env python3
"""App gossip on real processes: user events, queries, broadcasts.

    test_app.py BIN_DIR [unittest args]

Five shoald on 127.0.0.1, two of them labelled role=db. Asserted:
  * `shoal query ping` gets one response from each of the 5 members
    ("pong"), and one ack each with --ack;
  * `shoal query ping --label role=db` gets responses from exactly the 2
    labelled members;
  * `shoal event deploy v1`, sent through one node, is printed by a
    `shoal watch --events` running against each of the 5 nodes;
  * a broadcast reaches every other node's `app-events`, once;
  * bad input: a bad event name and a payload too big for a datagram are
    refused with the reason, and exit 1.

Every wait is a bounded poll; every process started is stopped by PID.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import test_cluster  # noqa: E402  (Cluster, BIN)
from shoal_testlib import poll, shoal_command, stop_processes  # noqa: E402
from test_cluster import Cluster  # noqa: E402

N = 5
DB = (1, 3)


class AppGossipTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(N, cluster="appgossip")
        for i in range(N):
            cls.c.start(i, extra=["--label", "role=db"] if i in DB else [])

        def converged():
            s = cls.c.cli(0, "status")
            return s is not None and s["converged"] and len(s["nodes"]) == N
        if not poll(converged, timeout=60):
            cls.c.stop_all()
            raise AssertionError(f"{N} nodes did not converge in 60 s")

    @classmethod
    def tearDownClass(cls):
        cls.c.stop_all()

    def query(self, node, *args):
        return self.c.cli(node, "query", *args)

    def test_query_ping_gets_one_response_per_member(self):
        r = self.query(2, "ping", "--timeout", "2s", "--ack")
        self.assertIsNotNone(r, "shoal query failed")
        members = sorted(x["member"] for x in r["responses"])
        self.assertEqual(members, sorted(self.c.addr(i) for i in range(N)))
        self.assertTrue(all(x["payload"] == "pong" for x in r["responses"]), r)
        self.assertEqual(sorted(x["member"] for x in r["acks"]), members)
        print(f"query ping: {len(members)} responses, {len(r['acks'])} acks", flush=True)

    def test_query_with_a_label_reaches_only_the_labelled(self):
        r = self.query(0, "ping", "--label", "role=db", "--timeout", "2s")
        self.assertIsNotNone(r, "shoal query failed")
        self.assertEqual(sorted(x["member"] for x in r["responses"]),
                         sorted(self.c.addr(i) for i in DB))
        v = self.query(4, "version", "--member", self.c.addr(1), "--timeout", "1s")
        self.assertEqual([x["member"] for x in v["responses"]], [self.c.addr(1)])

    def watch_all(self):
        """A `shoal watch --events` against each node, started and watching:
        the lines each has printed so far, by node."""
        watchers = []

        def stop():
            stop_processes(watchers, 5, 5)
            for p in watchers:
                p.stdout.close()
        self.addCleanup(stop)
        lines = {i: [] for i in range(N)}

        def read(i, p):
            for line in p.stdout:
                lines[i].append(line)
        for i in range(N):
            cmd = shoal_command(test_cluster.BIN, self.c.addr(i), self.c.cluster, "watch",
                                "--events", "--seconds", "30", "--interval-ms", "50")
            cmd.remove("--json")  # the text form says when it started watching
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            watchers.append(p)
            threading.Thread(target=read, args=(i, p), daemon=True).start()
        self.assertTrue(poll(lambda: all(any("watching" in x for x in lines[i])
                                         for i in range(N)), timeout=15),
                        "the watchers did not start")
        return lines

    def test_event_reaches_watch_events_on_every_node(self):
        lines = self.watch_all()
        t0 = time.monotonic()
        sent = self.c.cli(3, "event", "deploy", "v1")
        self.assertEqual(sent, {"name": "deploy", "sent": True})

        def everywhere():
            return all(any("event deploy" in x and ": v1" in x for x in lines[i])
                       for i in range(N))
        self.assertTrue(poll(everywhere, timeout=10),
                        f"not on every watcher within 10 s: {lines}")
        print(f"event deploy seen by all {N} watchers after {time.monotonic() - t0:.2f} s "
              "(including the watchers' 50 ms polls)", flush=True)

    def test_broadcast_reaches_every_other_node_once(self):
        lines = self.watch_all()
        sent = self.c.cli(0, "broadcast", "config", "color=blue")
        self.assertEqual(sent, {"name": "config", "sent": True})

        def seen(i):
            return sum("broadcast config" in x and ": color=blue" in x for x in lines[i])
        self.assertTrue(poll(lambda: all(seen(i) >= 1 for i in range(1, N)), timeout=10),
                        f"not on every other node within 10 s: {lines}")
        # Copies keep coming while it is retransmitted: once every node
        # has dropped one as a duplicate, each still delivered it once.
        def dropped_repeats():
            return all((self.c.cli(i, "stats") or {}).get("app_duplicates", 0) >= 1
                       for i in range(N))
        self.assertTrue(poll(dropped_repeats, timeout=15), "no repeated copy arrived anywhere")
        self.assertEqual([seen(i) for i in range(1, N)], [1] * (N - 1))
        self.assertEqual(seen(0), 0, "a broadcast is not delivered to its origin")

    def test_bad_input_is_refused_with_the_reason(self):
        r = subprocess.run(shoal_command(test_cluster.BIN, self.c.addr(0), self.c.cluster,
                                         "event", "bad name", "x"),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("only letters, digits", r.stderr)
        r = subprocess.run(shoal_command(test_cluster.BIN, self.c.addr(0), self.c.cluster,
                                         "event", "big", "x" * 5000),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("a payload of at most about", r.stderr)
        r = subprocess.run(shoal_command(test_cluster.BIN, self.c.addr(0), self.c.cluster,
                                         "query", "ping", "--timeout", "forever"),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a duration", r.stderr)


class EventHandlerTest(unittest.TestCase):
    """serf agent's -event-handler as shoald's: scripts for member events,
    user events and queries; a query's answer is the script's stdout; a
    script past its time is killed and the node carries on."""

    def test_scripts_run_for_events_and_answer_queries(self):
        out = tempfile.mkdtemp(prefix="shoal-handlers-")
        c = Cluster(3, cluster="handlers")
        self.addCleanup(c.stop_all)
        handlers = [
            "--event-handler", "query:load=printf 'load of %s' \"$SHOAL_SELF_NAME\"",
            "--event-handler", f"user:deploy=cat > {out}/deploy-$SHOAL_SELF_ADDRESS",
            "--event-handler", f"member-join,member-failed=cat >> {out}/members-$SHOAL_SELF_ADDRESS",
            "--event-handler", "query:slow=sleep 30",
        ]
        for i in range(3):
            c.start(i, extra=handlers)

        def read(name):
            try:
                with open(os.path.join(out, name)) as f:
                    return f.read()
            except FileNotFoundError:
                return ""

        # member-join: each node's script saw the two others join.
        def joins():
            return all(all(c.addr(j) in read(f"members-{c.addr(i)}") for j in range(3) if j != i)
                       for i in range(3))
        self.assertTrue(poll(joins, timeout=30), "member-join scripts did not run")
        line = read(f"members-{c.addr(0)}").splitlines()[0].split("\t")
        self.assertEqual(line[2], "alive", line)

        r = c.cli(1, "query", "load", "--timeout", "2s")
        self.assertEqual(sorted(x["payload"] for x in r["responses"]),
                         sorted(f"load of {c.addr(i)}" for i in range(3)))

        self.assertEqual(c.cli(2, "event", "deploy", "v7"), {"name": "deploy", "sent": True})
        self.assertTrue(poll(lambda: all(read(f"deploy-{c.addr(i)}") == "v7" for i in range(3)),
                         timeout=10), "user:deploy scripts did not get the payload")

        # Killed at the query's timeout: no answer, and the nodes go on.
        slow = c.cli(0, "query", "slow", "--timeout", "1s")
        self.assertEqual(slow["responses"], [])
        self.assertEqual(len(c.cli(0, "query", "ping", "--timeout", "1s")["responses"]), 3)

    def test_an_unknown_filter_is_refused(self):
        c = Cluster(1, cluster="handlers-bad")
        c.start(0, extra=["--event-handler", "member-joni=true"])
        self.addCleanup(c.stop_all)
        self.assertEqual(c.wait_exit(0, timeout=15), 2)


class StopContinueTest(unittest.TestCase):
    """kill -STOP then -CONT (a debugger, job control, a frozen container)
    made shoald's signal wait return EINTR, and it stopped itself; event
    handler scripts being spawned did the same. It must carry on."""

    def test_a_stopped_and_continued_node_keeps_running(self):
        c = Cluster(1, cluster="stopcont")
        self.addCleanup(c.stop_all)
        c.start(0)
        self.assertTrue(poll(lambda: c.members(0) is not None, timeout=15), "no answer")
        c.kill(0, signal.SIGSTOP)
        c.kill(0, signal.SIGCONT)
        self.assertTrue(poll(lambda: c.members(0) is not None, timeout=15), "no answer after")
        self.assertIsNone(c.wait_exit(0, timeout=1.0), "shoald exited after SIGCONT")


class AdmissionTest(unittest.TestCase):
    """memberlist's AliveDelegate as shoald's --admit-label: a joiner
    without the label stays out of every member that requires it."""

    def test_a_vetoed_joiner_stays_out(self):
        c = Cluster(4, cluster="admission")
        self.addCleanup(c.stop_all)
        need = ["--label", "version=2", "--admit-label", "version=2"]
        for i in range(3):
            c.start(i, extra=need)

        def three():
            return all(len(c.members(i) or {}) == 3 for i in range(3))
        self.assertTrue(poll(three, timeout=30), "3 nodes did not see each other")
        c.start(3, extra=["--label", "version=1"])

        # The joiner got a join answer and probes the others; they refuse it.
        def refused():
            joiner = c.cli(3, "stats") or {}
            vetoes = [(c.cli(i, "stats") or {}).get("members_vetoed", 0) for i in range(3)]
            return joiner.get("probes", 0) >= 10 and all(v >= 1 for v in vetoes)
        self.assertTrue(poll(refused, timeout=30), "no veto counted")
        for i in range(3):
            self.assertNotIn(c.addr(3), c.members(i), f"node {i} added the vetoed joiner")
        self.assertEqual(len(c.members(3)), 4)  # it knows them; they never know it

    def test_an_admission_the_node_fails_itself_is_refused(self):
        c = Cluster(1, cluster="admission-bad")
        c.start(0, extra=["--label", "version=1", "--admit-label", "version=2"])
        self.addCleanup(c.stop_all)
        self.assertEqual(c.wait_exit(0, timeout=15), 2)


if __name__ == "__main__":
    test_cluster.BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
