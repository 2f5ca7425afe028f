#!/usr/bin/env python3
"""Real shoald processes on 127.0.0.1, queried with the shoal CLI.

    test_cluster.py BIN_DIR [unittest args]

Every wait is a bounded poll with a generous deadline, never a fixed sleep;
every process a test starts is stopped by the test (SIGTERM, then SIGKILL).
Ports are picked free (bound and released) from a random base.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from shoal_testlib import (free_base_port, json_answer, poll, run_shoal, shoal_command,
                           stop_processes)

BIN = None  # set from argv


class Cluster:
    def __init__(self, n, cluster="itest", extra=()):
        self.base = free_base_port(n + 2)
        self.cluster = cluster
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="shoal-itest-")
        self.procs = {}
        self.n = n

    def addr(self, i):
        return f"127.0.0.1:{self.base + i}"

    def seeds(self):
        return ",".join(self.addr(i) for i in range(min(3, self.n)))

    def start(self, i, cluster=None, seeds=None, extra=()):
        log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
        seeds = seeds if seeds is not None else self.seeds()
        args = [os.path.join(BIN, "shoald"), "--listen", self.addr(i),
                "--cluster", cluster or self.cluster, "--log-level",
                os.environ.get("SHOAL_ITEST_LOG_LEVEL", "info")] + self.extra + list(extra)
        if seeds:
            args += ["--seeds", seeds]
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start_all(self):
        for i in range(self.n):
            self.start(i)

    def kill(self, i, sig=signal.SIGKILL):
        self.procs[i].send_signal(sig)

    def wait_exit(self, i, timeout=15.0):
        try:
            return self.procs[i].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop_all(self):
        stop_processes(self.procs.values(), timeout=5, kill_timeout=5)

    def cli(self, node, *args, cluster=None):
        return json_answer(run_shoal(shoal_command(BIN, self.addr(node),
                                                   cluster or self.cluster, *args)))

    def members(self, node):
        m = self.cli(node, "members")
        return {x["address"]: x for x in m} if m is not None else None

    def status_of(self, viewer, subject):
        m = self.members(viewer)
        if m is None or self.addr(subject) not in m:
            return None
        return m[self.addr(subject)]["status"]

    def ring_members(self, node):
        """How many members node's own ring holds (from `shoal status`)."""
        s = self.cli(node, "status")
        if s is None:
            return None
        for entry in s["nodes"]:
            if entry["address"] == self.addr(node) and entry.get("reachable"):
                return entry["ring_members"]
        return None


class ClusterTest(unittest.TestCase):
    N = 5

    def setUp(self):
        self.c = Cluster(self.N)
        self.c.start_all()
        self.addCleanup(self.c.stop_all)
        def converged():
            s = self.c.cli(0, "status")
            return s is not None and s["converged"] and len(s["nodes"]) == self.N
        converged = poll(converged, timeout=60)
        self.assertTrue(converged, "5 nodes did not converge in 60 s")

    def test_five_nodes_converge(self):
        for i in range(self.N):
            m = self.c.members(i)
            self.assertEqual(len(m), self.N)
            self.assertTrue(all(x["status"] == "alive" for x in m.values()))
        look = self.c.cli(2, "lookup", "user:42", "-n", "3")
        self.assertEqual(len(look["owners"]), 3)
        self.assertEqual(look, self.c.cli(4, "lookup", "user:42", "-n", "3"))

    def test_kill_is_detected_then_restart_rejoins_with_higher_incarnation(self):
        before = self.c.members(0)[self.c.addr(4)]["incarnation"]
        self.c.kill(4)
        self.c.wait_exit(4)
        survivors = range(self.N - 1)
        self.assertTrue(poll(lambda: all(self.c.status_of(i, 4) == "faulty" for i in survivors),
                             timeout=30), "survivors did not mark the killed node faulty")
        for i in survivors:
            self.assertEqual(self.c.ring_members(i), self.N - 1)
            owners = self.c.cli(i, "lookup", "k", "-n", "10")["owners"]
            self.assertNotIn(self.c.addr(4), owners)
        self.c.start(4)

        def back():
            for i in survivors:
                m = self.c.members(i)
                if m is None:
                    return False
                e = m.get(self.c.addr(4))
                if e is None or e["status"] != "alive" or e["incarnation"] <= before:
                    return False
            return True
        self.assertTrue(poll(back, timeout=30), "restarted node not alive everywhere")
        self.assertTrue(poll(lambda: (self.c.cli(0, "status") or {}).get("converged"), timeout=30))

    def test_graceful_leave_shows_as_leave_not_faulty(self):
        self.c.kill(3, signal.SIGTERM)
        self.assertEqual(self.c.wait_exit(3), 0, "shoald did not exit 0 after SIGTERM")
        others = [0, 1, 2, 4]
        self.assertTrue(poll(lambda: all(self.c.status_of(i, 3) == "leave" for i in others),
                             timeout=20))
        # And it stays `leave`: never reported faulty.
        for i in others:
            stats = self.c.cli(i, "stats")
            self.assertEqual(self.c.status_of(i, 3), "leave")
            self.assertEqual(stats["faulty_declared"], 0)

    def test_force_leave_turns_a_killed_member_leave_within_a_second(self):
        """serf's force-leave: refused for an alive member; once the killed
        one is suspect or faulty, `leave` on every survivor within a second."""
        r = self.c.cli(0, "force-leave", self.c.addr(2))
        self.assertIsNone(r, "force-leave of an alive member was not refused")
        self.c.kill(2)
        self.c.wait_exit(2)
        survivors = [0, 1, 3, 4]
        self.assertTrue(poll(lambda: self.c.status_of(0, 2) in ("suspect", "faulty"),
                             timeout=30), "node 0 never suspected the killed node")
        r = self.c.cli(0, "force-leave", self.c.addr(2))
        self.assertEqual(r, {"name": self.c.addr(2), "status": "leave"})
        asked = time.monotonic()
        self.assertTrue(poll(lambda: all(self.c.status_of(i, 2) == "leave" for i in survivors),
                             timeout=10), "the forced leave did not reach every survivor")
        took = time.monotonic() - asked
        print(f"\nforce-leave: leave on 4 survivors in {took:.2f} s", file=sys.stderr)
        self.assertLess(took, 1.0 + 0.5)  # a second, plus the CLI's own polling
        for i in survivors:
            self.assertEqual(self.c.ring_members(i), self.N - 1)
        self.assertIsNone(self.c.cli(0, "force-leave", "no-such-member:1"))
        # The log level, changed at run time.
        self.assertEqual(self.c.cli(1, "log-level", "debug"), {"level": "debug"})
        self.assertEqual(self.c.cli(1, "log-level"), {"level": "debug"})
        self.assertEqual(self.c.cli(1, "log-level", "warn"), {"level": "warning"})

    def test_operator_commands(self):
        """version, members --status/--label, top --once, watch."""
        def run(*args):
            return subprocess.run([os.path.join(BIN, "shoal"), "--node", self.c.addr(0),
                                   "--cluster", self.c.cluster, "--timeout-ms", "2000", *args],
                                  capture_output=True, text=True, timeout=60)
        v = json.loads(run("version", "--json").stdout)
        self.assertEqual(v["cli"]["version"], v["node"]["version"])
        self.assertEqual(v["cli"]["protocol"], v["node"]["protocol"])
        d = subprocess.run([os.path.join(BIN, "shoald"), "--version"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(d.returncode, 0)
        self.assertIn(v["cli"]["version"], d.stdout)
        # Label two nodes, then filter on it and on status.
        for i in (1, 3):
            self.assertIsNotNone(self.c.cli(i, "labels", "set", "role=db"))
        def dbs():
            m = self.c.cli(0, "members", "--label", "role=db", "--status", "alive")
            return m is not None and sorted(x["address"] for x in m) == sorted(
                [self.c.addr(1), self.c.addr(3)])
        self.assertTrue(poll(dbs, timeout=20), "members --label role=db")
        self.assertEqual(self.c.cli(0, "members", "--status", "faulty"), [])
        self.assertEqual(run("members", "--label", "novalue").returncode, 2)
        self.assertEqual(run("members", "--status", "dead").returncode, 2)
        # top --once: every member's view, all alive.
        top = json.loads(run("top", "--once", "--json").stdout)
        self.assertEqual(len(top), self.N)
        for viewer, view in top.items():
            self.assertEqual(sorted(view.values()), ["alive"] * self.N, viewer)
        text = run("top", "--once").stdout
        self.assertIn("aaaaa", text)
        # watch: stop node 4 gracefully while watching node 0.
        watch = subprocess.Popen([os.path.join(BIN, "shoal"), "--node", self.c.addr(0),
                                  "--cluster", self.c.cluster, "watch", "--seconds", "20",
                                  "--interval-ms", "100"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            line = watch.stdout.readline()  # "watching ...": the cursor is taken
            self.assertIn("watching", line)
            self.c.kill(4, signal.SIGTERM)
            self.assertEqual(self.c.wait_exit(4), 0)
            found = None
            deadline = time.monotonic() + 20
            while found is None and time.monotonic() < deadline:
                line = watch.stdout.readline()
                if not line:
                    break
                if self.c.addr(4) in line and "-> leave" in line:
                    found = line
            self.assertIsNotNone(found, "watch did not print node 4's leave")
        finally:
            watch.kill()
            watch.wait(10)
            watch.stdout.close()
        # watch across a restart of the watched node: it says the node went
        # away, came back, and restarted (a new run: its epoch), and goes on.
        watch = subprocess.Popen([os.path.join(BIN, "shoal"), "--node", self.c.addr(3),
                                  "--cluster", self.c.cluster, "watch", "--seconds", "30",
                                  "--interval-ms", "100"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            self.assertIn("watching", watch.stdout.readline())
            self.c.kill(3)
            self.c.wait_exit(3)
            notes = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = watch.stdout.readline()
                if not line:
                    break
                if "no answer" in line and not any("no answer" in n for n in notes):
                    notes.append(line)
                    self.c.start(3)
                if "answering again" in line or "restarted" in line:
                    notes.append(line)
                if any("restarted" in n for n in notes):
                    break
            text = "".join(notes)
            self.assertIn("no answer", text)
            self.assertIn("answering again", text)
            self.assertIn("the node restarted", text)
        finally:
            watch.kill()
            watch.wait(10)
            watch.stdout.close()

    def test_node_of_another_cluster_never_joins(self):
        self.c.start(self.N, cluster="other", seeds=self.c.addr(0))

        def rejected():
            st = self.c.cli(0, "stats")
            return st is not None and st["drops"].get("wrong_cluster", 0) > 0
        self.assertTrue(poll(rejected, timeout=20), "seed never saw the other cluster's join")
        for i in range(self.N):
            self.assertNotIn(self.c.addr(self.N), self.c.members(i))
        other = self.c.cli(self.N, "members", cluster="other")
        self.assertEqual([m["address"] for m in other], [self.c.addr(self.N)])


class JsonLogTest(unittest.TestCase):
    """shoald --log-format json: every line of every node's log is one JSON
    object with time, level, event and msg; member changes carry their
    fields; a bad format is refused."""
    N = 3

    def test_every_line_parses_and_member_events_carry_fields(self):
        c = Cluster(self.N, extra=["--log-format", "json"])
        self.addCleanup(c.stop_all)
        for i in range(self.N):
            c.start(i)
        converged = lambda: (c.cli(0, "status") or {}).get("converged")
        self.assertTrue(poll(converged, timeout=30), "the cluster did not converge")
        c.kill(2)
        c.wait_exit(2)
        self.assertTrue(poll(lambda: c.status_of(0, 2) == "faulty", timeout=30))
        c.kill(1, signal.SIGTERM)
        c.wait_exit(1)
        events = []
        for i in range(self.N):
            with open(os.path.join(c.dir, f"node-{i}.log"), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    j = json.loads(line)  # raises on a line that is not JSON
                    for key in ("time", "level", "event", "msg"):
                        self.assertIn(key, j, f"node-{i}.log:{n}: {line}")
                    self.assertRegex(j["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
                    if j["event"] == "member":
                        events.append(j)
        faulty = [e for e in events if e["node"] == c.addr(0) and e["member"] == c.addr(2)
                  and e["status"] == "faulty"]
        self.assertTrue(faulty, events)
        for key in ("address", "from_status", "incarnation", "source"):
            self.assertIn(key, faulty[0])
        left = [e for e in events if e["member"] == c.addr(1) and e["status"] == "leave"]
        self.assertTrue(left, "no JSON line for the graceful leave")
        bad = subprocess.run([os.path.join(BIN, "shoald"), "--log-format", "xml"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--log-format", bad.stderr)


class SnapshotTest(unittest.TestCase):
    """shoald --snapshot: a node whose seeds have all moved away rejoins the
    rest through the members its snapshot kept; a snapshot others may write
    is refused, a garbage one is ignored with a warning."""

    def test_rejoins_through_its_snapshot_when_its_seeds_are_gone(self):
        c = Cluster(6)  # 4 nodes; slots 4 and 5 are the seeds' new ports
        self.addCleanup(c.stop_all)
        snap = os.path.join(c.dir, "node-3.snapshot")
        seeds = f"{c.addr(0)},{c.addr(1)}"
        for i in range(3):
            c.start(i, seeds=seeds)
        c.start(3, seeds=seeds, extra=["--snapshot", snap])
        converged = lambda viewer, n: (lambda: (c.cli(viewer, "status") or {}).get("converged")
                                       and len((c.cli(viewer, "status") or {}).get("nodes", [])) == n)
        self.assertTrue(poll(converged(0, 4), timeout=30), "the four did not converge")

        def snapshot_has(addresses):
            try:
                with open(snap) as f:
                    got = {m["address"] for m in json.load(f)["members"]}
            except (OSError, ValueError):
                return False
            return addresses <= got
        self.assertTrue(poll(lambda: snapshot_has({c.addr(i) for i in range(3)}), timeout=10),
                        "the snapshot does not hold the other three")
        self.assertEqual(oct(os.stat(snap).st_mode & 0o777), "0o600")
        # Node 3 stops; both seeds move to new ports (joining through node 2).
        c.kill(3, signal.SIGTERM)
        self.assertEqual(c.wait_exit(3), 0)
        for old, new in ((0, 4), (1, 5)):
            c.kill(old, signal.SIGTERM)
            c.wait_exit(old)
            c.start(new, seeds=c.addr(2))
        self.assertTrue(poll(lambda: all(c.status_of(2, i) == "alive" for i in (4, 5)),
                             timeout=30), "the moved seeds did not rejoin")
        # Node 3 restarts with its old seeds, which answer no more: it
        # rejoins through node 2, which its snapshot kept.
        c.start(3, seeds=seeds, extra=["--snapshot", snap])
        self.assertTrue(poll(lambda: all(c.status_of(3, i) == "alive" for i in (2, 4, 5)),
                             timeout=30), "node 3 did not rejoin through its snapshot")
        with open(os.path.join(c.dir, "node-3.log")) as f:
            # Its second start: the snapshot gave it seeds besides the dead ones.
            self.assertRegex(f.read(), r"snapshot .*: [1-9][0-9]* members to join through")

    def test_a_writable_or_garbage_snapshot(self):
        d = tempfile.mkdtemp(prefix="shoal-snap-")
        snap = os.path.join(d, "s.json")
        with open(snap, "w") as f:
            f.write('{"version": 1, "members": [{"name": "x", "address": "127.0.0.1:1"}]}')
        os.chmod(snap, 0o666)
        r = subprocess.run([os.path.join(BIN, "shoald"), "--snapshot", snap, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("may be written by others", r.stderr)
        os.chmod(snap, 0o600)
        r = subprocess.run([os.path.join(BIN, "shoald"), "--snapshot", snap, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("1 seeds", r.stdout)
        # Garbage (a truncated file): ignored with a warning, the node runs.
        with open(snap, "w") as f:
            f.write('{"version": 1, "members": [{"name": "x", "addr')
        c = Cluster(2)
        self.addCleanup(c.stop_all)
        c.start(0, seeds="", extra=["--snapshot", snap])
        self.assertTrue(poll(lambda: c.cli(0, "status") is not None, timeout=20))
        with open(os.path.join(c.dir, "node-0.log")) as f:
            log = f.read()
        self.assertIn("is not a JSON object (truncated?): not used", log)
        # And it is rewritten, well-formed, once a member comes.
        c.start(1, seeds=c.addr(0))

        def rewritten():
            try:
                with open(snap) as f:
                    return [m["address"] for m in json.load(f)["members"]] == [c.addr(1)]
            except (OSError, ValueError):
                return False
        self.assertTrue(poll(rewritten, timeout=10), "the snapshot was not rewritten")


class WeightTest(unittest.TestCase):
    """The weight label: a member labelled weight=3 gets about three times
    the keys of the others, every ring agrees (checksums cover weights),
    and relabelling it at run time moves the keys back."""

    def test_weight_label_scales_the_share(self):
        c = Cluster(4)  # slot 3: node 0's metrics port
        self.addCleanup(c.stop_all)
        c.start(0, extra=["--metrics", c.addr(3)])
        c.start(1)
        c.start(2, extra=["--label", "weight=3"])

        def share_of_2():
            try:
                with urllib.request.urlopen(f"http://{c.addr(3)}/ui/state", timeout=5) as r:
                    shares = json.loads(r.read())["shares"]
            except (OSError, ValueError):
                return None
            return shares.get(c.addr(2)) if len(shares) == 3 else None
        converged = lambda: (c.cli(0, "status") or {}).get("converged")
        self.assertTrue(poll(lambda: converged() and (share_of_2() or 0) > 0.5, timeout=30),
                        f"weight 3 did not take 3/5 of the ring: {share_of_2()}")
        self.assertAlmostEqual(share_of_2(), 0.6, delta=0.08)
        r = c.cli(2, "labels", "set", "weight=1")
        self.assertIsNotNone(r)
        self.assertTrue(poll(lambda: converged() and abs((share_of_2() or 0) - 1 / 3) < 0.08,
                             timeout=30), f"relabelled, the share stayed {share_of_2()}")
        self.assertIsNone(c.cli(2, "labels", "set", "weight=50"), "a bad weight was taken")


class MixedVersionTest(unittest.TestCase):
    """A rolling upgrade caught in the middle: nodes 1 and 3 speak the next
    protocol minor version (shoald --test-protocol-next-minor: one field
    more in every message), the others this build's. The cluster converges,
    forwards across versions, detects a kill -9, and no node drops a
    message of the other version."""
    N = 5
    NEWER = (1, 3)

    def test_mixed_minor_versions_work_together(self):
        c = Cluster(self.N)
        self.addCleanup(c.stop_all)
        for i in range(self.N):
            c.start(i, extra=["--test-protocol-next-minor"] if i in self.NEWER else [])
        def converged():
            s = c.cli(0, "status")
            return s is not None and s["converged"] and len(s["nodes"]) == self.N
        self.assertTrue(poll(converged, timeout=60), "a mixed cluster did not converge")
        v0, v1 = c.cli(0, "version"), c.cli(1, "version")
        self.assertNotEqual(v0["node"]["protocol"], v1["node"]["protocol"])
        # Forwarding both ways across versions: keys owned by a newer node
        # sent from an older one, and the other way.
        for sender, owner in ((0, 1), (1, 0), (3, 2)):
            key = next(k for k in (f"key-{n}" for n in range(10000))
                       if c.cli(sender, "lookup", k)["owners"] == [c.addr(owner)])
            r = c.cli(sender, "forward", key, "hello")
            self.assertIsNotNone(r, f"forward {sender} -> {owner} failed")
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["handled_by"], c.addr(owner))
        c.kill(3)
        c.wait_exit(3)
        survivors = [0, 1, 2, 4]
        self.assertTrue(poll(lambda: all(c.status_of(i, 3) == "faulty" for i in survivors),
                             timeout=30), "kill -9 of a newer node not detected")
        for i in survivors:
            drops = c.cli(i, "stats")["drops"]
            bad = {k: v for k, v in drops.items() if v}
            self.assertEqual(bad, {}, f"node {i} dropped messages across versions")


class NamesTest(unittest.TestCase):
    """Stable member names (shoald --name): a member killed and started
    again under its name on another address keeps its keys and its single
    entry; a second live process under a taken name makes the older one
    stand down, the same way on every node."""
    N = 4

    def start_named(self, c, i, name):
        c.start(i, extra=["--name", name])

    def names(self, c, node):
        m = c.cli(node, "members")
        return {x["name"]: x for x in m} if m is not None else None

    def holder(self, c, viewer, name):
        m = self.names(c, viewer)
        if m is None or name not in m or m[name]["status"] != "alive":
            return None
        return m[name]["address"]

    def test_restart_on_new_address_keeps_keys_then_a_twin_stands_down(self):
        c = Cluster(self.N)  # ports for N + 2 processes
        self.addCleanup(c.stop_all)
        for i in range(self.N):
            self.start_named(c, i, f"node-{i}")
        def converged():
            s = c.cli(0, "status")
            return s is not None and s["converged"] and len(s["nodes"]) == self.N
        self.assertTrue(poll(converged, timeout=60), "a named cluster did not converge")
        self.assertEqual(sorted(self.names(c, 0)), [f"node-{i}" for i in range(self.N)])
        keys = [f"user:{k}" for k in range(40)]
        before = {k: c.cli(0, "lookup", k)["owners"] for k in keys}
        self.assertIn(["node-3"], before.values())

        # node-3 dies and comes back on another port (a pod on a new IP).
        c.kill(3)
        c.wait_exit(3)
        self.start_named(c, self.N, "node-3")
        moved = lambda: all(self.holder(c, i, "node-3") == c.addr(self.N) for i in range(3))
        self.assertTrue(poll(moved, timeout=30), "node-3's new address did not spread")
        self.assertTrue(poll(converged, timeout=60), "not converged after the move")
        for viewer in (1, self.N):
            after = {k: c.cli(viewer, "lookup", k)["owners"] for k in keys}
            self.assertEqual(after, before, "keys changed owner across a restart under one name")
        self.assertEqual(len(self.names(c, 0)), self.N, "the old address left a second entry")
        key = next(k for k in keys if before[k] == ["node-3"])
        r = c.cli(0, "forward", key, "hi")
        self.assertTrue(r and r["ok"], r)
        self.assertEqual(r["handled_by"], "node-3")
        # Named endpoints: shoald serves "echo" beside the default; any
        # other name is an error that names it.
        r = c.cli(0, "forward", key, "hi", "--endpoint", "echo")
        self.assertTrue(r and r["ok"] and r["payload"] == "hi", r)
        r = c.cli(0, "forward", key, "hi", "--endpoint", "nope")
        self.assertTrue(r and not r["ok"] and r["error"] == "no_handler", r)
        self.assertIn("no handler for endpoint 'nope'", r["message"])
        # A request to a member by name, whoever owns what; an unknown
        # name ends in its own error.
        for target in ("node-1", "node-3"):
            r = c.cli(0, "request", target, "yo", "--endpoint", "echo")
            self.assertTrue(r and r["ok"] and r["payload"] == "yo", r)
            self.assertEqual(r["handled_by"], target)
        r = c.cli(0, "request", "node-9", "yo")
        self.assertTrue(r and not r["ok"] and r["error"] == "unknown_member", r)
        self.assertIn("no member named node-9", r["message"])
        look = c.cli(0, "lookup", key)
        self.assertEqual(look["addresses"], [c.addr(self.N)])
        print(f"\nrestart on a new address: faulty_declared "
              f"{[c.cli(i, 'stats')['faulty_declared'] for i in range(3)]}, members_moved "
              f"{[c.cli(i, 'stats')['members_moved'] for i in range(3)]}", file=sys.stderr)

        # A second live process claims node-1: the newer holds the name.
        self.start_named(c, self.N + 1, "node-1")
        twin = c.addr(self.N + 1)
        self.assertTrue(poll(lambda: all(self.holder(c, i, "node-1") == twin
                                         for i in (0, 2, self.N)), timeout=30),
                        "the newer process does not hold node-1 everywhere")
        self.assertTrue(poll(lambda: (c.cli(1, "stats") or {}).get("name_conflicts", 0) >= 1,
                             timeout=30), "node-1 never checked the conflict")
        log = os.path.join(c.dir, "node-1.log")
        def logged():
            with open(log, errors="replace") as f:
                return "name conflict" in f.read()
        self.assertTrue(poll(logged, timeout=20), "the displaced node did not log the conflict")
        self.assertEqual(c.cli(self.N + 1, "stats")["refutations"], 0)
        self.assertTrue(poll(converged, timeout=60), "not converged after the conflict")
        self.assertEqual(self.holder(c, 0, "node-1"), twin)


class CliErrorTest(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([os.path.join(BIN, "shoal"), *args], capture_output=True,
                              text=True, timeout=30)

    def run_daemon(self, *args):
        return subprocess.run([os.path.join(BIN, "shoald"), *args], capture_output=True,
                              text=True, timeout=30)

    def test_unreachable_node_is_a_clear_error(self):
        port = free_base_port(1)
        r = self.run_cli("--node", f"127.0.0.1:{port}", "members")
        self.assertEqual(r.returncode, 1)
        self.assertIn("connect", r.stderr)

    def test_bad_arguments_exit_2(self):
        self.assertEqual(self.run_cli("lookup").returncode, 2)
        self.assertEqual(self.run_cli("--nope").returncode, 2)
        r = self.run_daemon("--listen", "nohostport")
        self.assertEqual(r.returncode, 2)
        self.assertIn("listen", r.stderr)
        r = self.run_daemon("--protocol-period-ms", "10")
        self.assertEqual(r.returncode, 2)
        self.assertIn("protocol_period", r.stderr)
        r = self.run_daemon("--seeds-file", "/nonexistent.json")
        self.assertEqual(r.returncode, 2)
        self.assertIn("seeds-file", r.stderr)
        for bad_name in ("db 1", "-x", "a" * 65, "host.example:7000", "127.0.0.2:1"):
            r = self.run_daemon("--listen", "127.0.0.1:1", "--name", bad_name, "--check-config")
            self.assertEqual(r.returncode, 2, bad_name)
            self.assertIn("name:", r.stderr)
        ok = self.run_daemon("--listen", "127.0.0.1:1", "--name", "shoal-0.eu_1", "--check-config")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("name shoal-0.eu_1", ok.stdout)

    def test_check_config(self):
        """shoald --check-config validates flags and files without binding."""
        port = free_base_port(1)
        ok = self.run_daemon("--listen", f"127.0.0.1:{port}", "--seeds", "127.0.0.1:1",
                             "--check-config")
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("configuration ok", ok.stdout)
        # Nothing bound: the port is still free.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        s.close()
        bad = self.run_daemon("--listen", "127.0.0.1:1", "--keyring-file", "/nonexistent",
                              "--check-config")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("keyring", bad.stderr)
        bad = self.run_daemon("--check-config", "--metrics", "10.1.2.3:9100")
        self.assertEqual(bad.returncode, 2)

    def test_seeds_file_is_read(self):
        c = Cluster(2)
        self.addCleanup(c.stop_all)
        c.start(0, seeds="")
        path = os.path.join(c.dir, "hosts.json")
        with open(path, "w") as f:
            json.dump([c.addr(0)], f)
        log = open(os.path.join(c.dir, "node-1.log"), "ab")
        c.procs[1] = subprocess.Popen([os.path.join(BIN, "shoald"), "--listen", c.addr(1),
                                       "--seeds-file", path, "--cluster", c.cluster],
                                      stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.assertTrue(poll(lambda: (c.members(0) or {}).get(c.addr(1), {}).get("status") == "alive",
                             timeout=30))


if __name__ == "__main__":
    BIN = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
