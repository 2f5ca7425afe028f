#!/usr/bin/env python3
"""An attacker without the cluster key, on a real (non-loopback) network.

    test_netns_attack.py BIN_DIR [unittest args]

The test makes a network namespace and a veth pair: the host side gets
10.231.X.1/24, the namespace side 10.231.X.2/24 (X picked unused). Three
shoald nodes listen on 10.231.X.1 with the same key (`--keyring-file`, so
`--encryption required`). From inside the namespace, a process that has
no key (this file, run with `--attacker`) sends each node, with protobuf
encoded by hand:

  UDP  a well-formed plaintext Gossip claiming a live member is `faulty`
       at its current incarnation (spoofing the third member as the
       source), one claiming the third member `suspect` at incarnation
       2**64-1, a Ping carrying both claims, and "sealed" datagrams (0x00,
       an unknown key id, a random nonce, garbage);
  TCP  one connection per frame: a JoinRequest from an invented member, a
       SyncRequest listing invented members (and the live member as
       faulty), an admin `leave`, a ForwardRequest, and a "sealed" frame
       that does not open.

Asserted afterwards: every node's view is what it was (same members, all
alive, same incarnations), every process still runs, no UDP datagram was
answered, the admin `leave` was answered with a plaintext refusal that
says it "needs the cluster key", nothing was forwarded, and the only
counters that moved are the drops (`plaintext_refused`, `decrypt_failed`)
and `admin_refused`: by at least what the attacker sent.

A control test sends the same bytes to a cluster without a keyring (on
the same network): there the faulty claim is applied (the victim
refutes), the invented members get in, and the forward is handled, which
shows the attack bytes are ones a node understands, so the keyed test is
not passing on garbage.

Root, `ip netns` and veth are needed; without them the tests are skipped
with the reason. The namespace and veth are always removed, and every
node started is stopped by PID (SIGTERM, then SIGKILL). Every wait is a
bounded poll, never a fixed sleep.
"""

import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cluster  # noqa: E402  (Cluster, BIN)
from shoal_testlib import (free_base_port, json_answer, poll, run_shoal,  # noqa: E402
                           shoal_command, why_no_netns)
from test_cluster import Cluster  # noqa: E402

CLUSTER = "atk"

# Status values of proto/shoal.proto.
ALIVE, SUSPECT, FAULTY = 0, 1, 2

# Lenient probe timing: on a loaded machine a late ack would make an honest
# suspicion and a refutation (a new incarnation), which the test would take
# for the attacker's doing.
# No periodic push-pull: a member's legitimate full sync during the attack
# would move syncs_received, which the attack must not move.
TIMING = ["--protocol-period-ms", "500", "--ping-timeout-ms", "300",
          "--suspicion-min-ms", "5000", "--suspicion-max-ms", "15000",
          "--push-pull-interval-ms", "0"]


# ---------------------------------------------------------------- protobuf
#
# Just enough of the wire format to write shoal's messages (proto3: zero
# values are left out, as protobuf does).

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, n):
    return varint(field << 3 | 0) + varint(n) if n else b""


def f_fixed64(field, n):
    return varint(field << 3 | 1) + struct.pack("<Q", n) if n else b""


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data if data else b""


def f_message(field, body):  # a sub-message is written even when empty
    return varint(field << 3 | 2) + varint(len(body)) + body


def f_map(field, mapping):  # map<string, string>: one entry message each
    return b"".join(f_message(field, f_bytes(1, k) + f_bytes(2, v))
                    for k, v in sorted(mapping.items()))


def change(address, status, incarnation, source="", source_incarnation=0):
    return (f_bytes(1, address) + f_varint(2, status) + f_varint(3, incarnation) +
            f_bytes(5, source) + f_varint(6, source_incarnation))


def member(address, status, incarnation, labels=None):
    return (f_bytes(1, address) + f_varint(2, status) + f_varint(3, incarnation) +
            f_map(4, labels or {}))


def envelope(body_field, body):
    return f_varint(1, 1) + f_bytes(2, CLUSTER) + f_message(body_field, body)


def gossip(source, changes):
    return envelope(14, f_bytes(1, source) + f_fixed64(2, 0x5EED0F5EED0F5EED) +
                    b"".join(f_message(3, c) for c in changes))


def ping(seq, source, target, changes):
    return envelope(10, f_varint(1, seq) + f_bytes(2, source) + f_bytes(3, target) +
                    f_fixed64(4, 0x5EED0F5EED0F5EED) +
                    b"".join(f_message(5, c) for c in changes))


def frame(frame_id, body_field, body):
    data = f_varint(1, 1) + f_bytes(2, CLUSTER) + f_varint(3, frame_id) + f_message(body_field, body)
    return struct.pack(">I", len(data)) + data


def sealed_garbage(length):
    """What a sealed message looks like, with an unknown key id: 0x00, key
    id, nonce, then bytes that are no ciphertext of anything."""
    return b"\x00" + os.urandom(4) + os.urandom(24) + os.urandom(length)


# ---------------------------------------------------------------- attacker
#
# Runs inside the namespace: `ip netns exec NS python3 THIS --attacker JSON`.
# Prints what it saw as JSON.

UDP_COPIES = 5


def attack_node(plan, target):
    addr = target["address"]
    host, port = addr.rsplit(":", 1)
    port = int(port)
    victim, other = target["victim"], target["other"]  # live members, by address
    invented = plan["invented"]
    out = {"udp_sent": {}, "udp_replies": 0, "tcp": {}}

    # --- UDP: faulty and suspect claims about live members, then "sealed" junk.
    claim_faulty = change(victim["address"], FAULTY, victim["incarnation"],
                          other["address"], other["incarnation"])
    claim_suspect = change(other["address"], SUSPECT, 2**64 - 1, invented[0], 1)
    datagrams = {
        "gossip_faulty": gossip(other["address"], [claim_faulty]),
        "gossip_suspect": gossip(invented[0], [claim_suspect]),
        "ping_with_claims": ping(random.getrandbits(63), invented[0], addr,
                                 [claim_faulty, claim_suspect]),
        "sealed_unknown_key": None,
    }
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((plan["attacker_ip"], 0))
    for name, data in datagrams.items():
        for _ in range(UDP_COPIES):
            payload = data if data is not None else sealed_garbage(len(datagrams["gossip_faulty"]))
            udp.sendto(payload, (host, port))
        out["udp_sent"][name] = UDP_COPIES
    # Nothing should come back (no Ack to the ping): listen a little.
    udp.settimeout(0.3)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            udp.recvfrom(65536)
            out["udp_replies"] += 1
        except socket.timeout:
            pass
    udp.close()

    # --- TCP: one connection per frame (a refused frame closes it).
    frames = {
        "join": frame(1, 10, f_bytes(1, invented[0]) + f_varint(2, 1) +
                      f_map(3, {"role": "attacker"})),
        "sync": frame(2, 12, f_bytes(1, invented[0]) + f_fixed64(2, 0x5EED0F5EED0F5EED) +
                      f_message(3, member(victim["address"], FAULTY, victim["incarnation"])) +
                      b"".join(f_message(3, member(a, ALIVE, 1)) for a in invented)),
        "admin_leave": frame(3, 16, f_bytes(1, "leave") + f_bytes(2, "{}")),
        "forward": frame(4, 14, f_bytes(1, "user:42") + f_bytes(2, b"attacker payload") +
                         f_bytes(5, invented[0]) + f_varint(6, 1000) +
                         f_varint(7, random.getrandbits(63))),
        "sealed_unknown_key": None,
    }
    for name, data in frames.items():
        if data is None:
            body = sealed_garbage(64)
            data = struct.pack(">I", len(body)) + body
        out["tcp"][name] = tcp_exchange(plan["attacker_ip"], host, port, data)
    return out


def tcp_exchange(src_ip, host, port, data, timeout=3.0):
    """Sends data, reads until the node closes, one whole frame has come
    back, or timeout passes."""
    result = {"answer_hex": "", "closed": False, "error": ""}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src_ip, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                result["closed"] = True
                break
            result["answer_hex"] += chunk.hex()
            answer = bytes.fromhex(result["answer_hex"])
            if len(answer) >= 4 and len(answer) >= 4 + struct.unpack(">I", answer[:4])[0]:
                break
    except socket.timeout:
        pass  # still open: a node that keeps the connection for more frames
    except OSError as e:
        # A reset after the answer counts as closed.
        result["closed"] = True
        result["error"] = str(e)
    finally:
        s.close()
    return result


def attacker_main(plan_json):
    plan = json.loads(plan_json)
    report = {t["address"]: attack_node(plan, t) for t in plan["targets"]}
    json.dump(report, sys.stdout)


# ---------------------------------------------------------------- harness

def run(*cmd, check=False):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=check)


class NetCluster(Cluster):
    """n shoald nodes on host (not loopback), all with one key or none."""

    def __init__(self, n, host, key=None):
        # Not Cluster.__init__: its ports are picked on 127.0.0.1.
        self.n = n
        self.host = host
        # Without a keyring a node takes admin requests from loopback only:
        # it listens on every address, so the CLI can ask it on 127.0.0.1,
        # and advertises host.
        self.keyless = key is None
        self.base = free_base_port(n, "0.0.0.0" if self.keyless else host)
        self.cluster = CLUSTER
        self.extra = []
        self.dir = tempfile.mkdtemp(prefix="shoal-netns-")
        self.procs = {}
        self.cli_keys = None
        self.flags = {i: list(TIMING) for i in range(n)}
        if key is not None:
            self.cli_keys = os.path.join(self.dir, "cli.keys")
            write_keyring(self.cli_keys, key)
            for i in range(n):
                write_keyring(self.keyring(i), key)
                self.flags[i] += ["--keyring-file", self.keyring(i)]

    def addr(self, i):
        return f"{self.host}:{self.base + i}"

    def keyring(self, i):
        return os.path.join(self.dir, f"node-{i}.keys")

    def start(self, i, cluster=None, seeds=None):
        log = open(os.path.join(self.dir, f"node-{i}.log"), "ab")
        listen = f"0.0.0.0:{self.base + i}" if self.keyless else self.addr(i)
        args = [os.path.join(test_cluster.BIN, "shoald"), "--listen", listen,
                "--advertise", self.addr(i), "--cluster", self.cluster,
                "--seeds", ",".join(self.addr(j) for j in range(self.n) if j != i),
                "--log-level", os.environ.get("SHOAL_ITEST_LOG_LEVEL", "info")] + self.flags[i]
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def cli(self, node, *args, cluster=None):
        admin = f"127.0.0.1:{self.base + node}" if self.keyless else self.addr(node)
        return json_answer(run_shoal(shoal_command(test_cluster.BIN, admin, self.cluster, *args,
                                                   keyring=self.cli_keys), env_keyring=False))

    def view(self, node):
        """{address: (status, incarnation)}, or None if the node did not answer."""
        m = self.members(node)
        return {a: (x["status"], x["incarnation"]) for a, x in m.items()} if m else None

    def all_alive(self):
        want = sorted(self.addr(i) for i in range(self.n))
        for i in range(self.n):
            v = self.view(i)
            if v is None or sorted(v) != want or any(s != "alive" for s, _ in v.values()):
                return False
        return True

    def running(self):
        return [i for i, p in self.procs.items() if p.poll() is None]


def write_keyring(path, key):
    with open(path, "w") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)


def new_key():
    return run(os.path.join(test_cluster.BIN, "shoal"), "keys", "generate",
               check=True).stdout.strip()


class NetnsAttackTest(unittest.TestCase):
    N = 3

    # ---- namespace and veth

    def setUp(self):
        why = self.why_no_netns()
        if why:
            self.skipTest(why)
        tag = f"{os.getpid()}-{random.randrange(16**4):04x}"
        self.ns = f"shoal-atk-{tag}"
        self.veth_host = f"sha{tag[-4:]}h{os.getpid() % 1000}"[:15]
        self.veth_ns = f"sha{tag[-4:]}n{os.getpid() % 1000}"[:15]
        self.subnet = self.unused_subnet()
        self.host_ip = f"10.231.{self.subnet}.1"
        self.attacker_ip = f"10.231.{self.subnet}.2"

        r = run("ip", "netns", "add", self.ns)
        if r.returncode != 0:
            self.skipTest(f"cannot create a network namespace: {r.stderr.strip()}")
        self.addCleanup(self.remove_netns)
        r = run("ip", "link", "add", self.veth_host, "type", "veth", "peer", "name", self.veth_ns)
        if r.returncode != 0:
            self.skipTest(f"cannot create a veth pair: {r.stderr.strip()}")
        for cmd in (["ip", "link", "set", self.veth_ns, "netns", self.ns],
                    ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.veth_host],
                    ["ip", "link", "set", self.veth_host, "up"],
                    ["ip", "netns", "exec", self.ns, "ip", "addr", "add",
                     f"{self.attacker_ip}/24", "dev", self.veth_ns],
                    ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth_ns, "up"],
                    ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"]):
            r = run(*cmd)
            if r.returncode != 0:
                self.skipTest(f"cannot set up the veth pair: {' '.join(cmd)}: {r.stderr.strip()}")
        # The link is up once the namespace side can reach the host side.
        self.assertTrue(poll(self.ns_can_reach_host, timeout=10),
                        f"{self.attacker_ip} cannot reach {self.host_ip} over the veth")

    @staticmethod
    def why_no_netns():
        return why_no_netns(("ip",))

    @staticmethod
    def unused_subnet():
        used = run("ip", "-o", "-4", "addr", "show").stdout
        free = [x for x in range(1, 255) if f"10.231.{x}." not in used]
        return random.choice(free)

    def ns_can_reach_host(self):
        # A TCP connect that the host refuses (RST) proves the path works.
        probe = ("import socket,sys\n"
                 "s=socket.socket(); s.settimeout(1)\n"
                 "try: s.connect((sys.argv[1], 9)); sys.exit(0)\n"
                 "except ConnectionRefusedError: sys.exit(0)\n"
                 "except OSError: sys.exit(1)\n")
        r = run("ip", "netns", "exec", self.ns, sys.executable, "-c", probe, self.host_ip)
        return r.returncode == 0

    def remove_netns(self):
        run("ip", "link", "del", self.veth_host)  # usually gone with the namespace
        run("ip", "netns", "del", self.ns)

    # ---- cluster and attacker

    def start_cluster(self, key):
        c = NetCluster(self.N, self.host_ip, key)
        self.addCleanup(c.stop_all)
        for i in range(self.N):
            c.start(i)
        self.assertTrue(poll(c.all_alive, timeout=60, interval=0.2),
                        f"{self.N} nodes on {self.host_ip} did not all see each other alive")
        return c

    def attack(self, c, targets):
        """Runs the attacker in the namespace against nodes `targets`."""
        views = {i: c.view(i) for i in range(self.N)}
        plan = {"attacker_ip": self.attacker_ip,
                "invented": [f"{self.attacker_ip}:{7000 + k}" for k in range(3)],
                "targets": []}
        for t in targets:
            victim, other = (t + 1) % self.N, (t + 2) % self.N
            plan["targets"].append({
                "address": c.addr(t),
                "victim": {"address": c.addr(victim),
                           "incarnation": views[t][c.addr(victim)][1]},
                "other": {"address": c.addr(other),
                          "incarnation": views[t][c.addr(other)][1]},
            })
        r = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable,
                            os.path.abspath(__file__), "--attacker", json.dumps(plan)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, f"attacker failed: {r.stderr}")
        return plan, json.loads(r.stdout)

    @staticmethod
    def answer(report, node_addr, name):
        return bytes.fromhex(report[node_addr]["tcp"][name]["answer_hex"])

    # ---- the tests

    # What the attacker sends each node, as the counters that count it.
    SENT = {"plaintext_refused": 3 * UDP_COPIES + 4,  # 3 plaintext datagram kinds, 4 frames
            "decrypt_failed": UDP_COPIES + 1,         # "sealed" datagrams, one "sealed" frame
            "admin_refused": 1}                       # the admin leave
    # Counters that would move had any of it been obeyed.
    UNMOVED = ("changes_applied", "changes_rejected", "refutations", "suspicions",
               "faulty_declared", "forwards_received", "forwards_local", "syncs_received",
               "reincarnations")

    @staticmethod
    def deltas(before, after):
        return {"plaintext_refused": after["drops"]["plaintext_refused"] -
                before["drops"]["plaintext_refused"],
                "decrypt_failed": after["drops"]["decrypt_failed"] -
                before["drops"]["decrypt_failed"],
                "admin_refused": after["admin_refused"] - before["admin_refused"]}

    def all_stats(self, c):
        stats = {i: c.cli(i, "stats") for i in range(self.N)}
        return stats if all(st is not None for st in stats.values()) else None

    def test_attacker_without_the_key_changes_nothing(self):
        c = self.start_cluster(new_key())
        before_views = {i: c.view(i) for i in range(self.N)}
        before = self.all_stats(c)
        self.assertIsNotNone(before, "a node gave no stats")

        plan, report = self.attack(c, range(self.N))

        # Bounded wait until every message sent has been counted.
        def counted():
            st = self.all_stats(c)
            return st if st and all(self.deltas(before[i], st[i])[k] >= v for i in st
                                    for k, v in self.SENT.items()) else None
        after = poll(counted, timeout=15, interval=0.2) or self.all_stats(c)
        self.assertIsNotNone(after, "a node gave no stats after the attack")
        after_views = {i: c.view(i) for i in range(self.N)}

        self.assertEqual(c.running(), list(range(self.N)), "a node stopped running")
        for i in range(self.N):
            d = self.deltas(before[i], after[i])
            print(f"\n  node {i} ({c.addr(i)}): deltas {d}", file=sys.stderr, end="")
            # No view changed: same members, all alive, same incarnations.
            self.assertEqual(after_views[i], before_views[i], f"node {i}'s view changed")
            self.assertTrue(all(st == "alive" for st, _ in after_views[i].values()))
            for k, v in self.SENT.items():
                self.assertGreaterEqual(d[k], v, f"node {i}: {k} moved by {d[k]}, sent {v}")
            self.check_answers(i, report[c.addr(i)])
            self.check_only_drops_moved(i, before[i], after[i])
        print(file=sys.stderr)

    def check_answers(self, i, report):
        """Nothing answered but refusals, and those in plaintext."""
        def answer(name):
            return bytes.fromhex(report["tcp"][name]["answer_hex"])
        self.assertEqual(report["udp_replies"], 0, f"node {i} answered a datagram")
        self.assertIn(b"needs the cluster key", answer("admin_leave"),
                      f"node {i}: admin leave answered {answer('admin_leave')!r}")
        self.assertIn(b"did not open", answer("sealed_unknown_key"))
        for name in ("join", "sync", "forward"):
            self.assertEqual(answer(name), b"", f"node {i} answered the attacker's {name}")
            self.assertTrue(report["tcp"][name]["closed"],
                            f"node {i} kept the attacker's {name} connection open")

    def check_only_drops_moved(self, i, before, after):
        """Nothing was applied, refuted or forwarded; no other drop reason."""
        for k in self.UNMOVED:
            self.assertEqual(after[k], before[k], f"node {i}: {k} moved from {before[k]} "
                             f"to {after[k]}")
        for k, v in after["drops"].items():
            if k not in ("plaintext_refused", "decrypt_failed"):
                self.assertEqual(v, before["drops"][k], f"node {i}: drops.{k} moved")
        self.assertEqual(after["members"], {"alive": self.N, "faulty": 0, "leave": 0,
                                            "suspect": 0, "tombstone": 0})

    def test_control_same_bytes_work_on_a_cluster_without_a_key(self):
        """Control: without a keyring the same bytes are understood and obeyed."""
        c = self.start_cluster(None)
        before = {i: c.cli(i, "stats") for i in range(self.N)}
        plan, report = self.attack(c, [0])
        victim = c.addr(1)
        invented = plan["invented"]

        # The faulty claim was applied: the victim refutes it.
        self.assertTrue(poll(lambda: (c.cli(1, "stats") or {}).get("refutations", 0) >
                             before[1]["refutations"], timeout=20),
                        f"{victim} never refuted the attacker's faulty claim")
        # The sync's invented members got in.
        self.assertTrue(poll(lambda: all(a in (c.view(0) or {}) for a in invented), timeout=20),
                        "the invented members never got into node 0's view")
        after = c.cli(0, "stats")
        self.assertGreater(after["forwards_received"] + after["forwards_local"],
                           before[0]["forwards_received"] + before[0]["forwards_local"],
                           "the attacker's forward was not handled")
        self.assertIn(c.addr(0).encode(), self.answer(report, c.addr(0), "join"),
                      "no JoinResponse to the attacker's join")
        # Admin stays with the host: a node without a keyring takes it from loopback only.
        self.assertIn(b"loopback only", self.answer(report, c.addr(0), "admin_leave"))
        self.assertIn(0, c.running())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--attacker":
        attacker_main(sys.argv[2])
        sys.exit(0)
    test_cluster.BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
