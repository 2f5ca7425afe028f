#!/usr/bin/env python3
"""Seeds given by DNS name: every record of the name is a seed, and the
name is resolved again on each join attempt while the node is alone.

    test_netns_dns.py BIN_DIR [unittest args]

In a network namespace of its own (only `lo`, so 127.0.0.0/8 is all there
is), with `/etc/netns/NS/hosts` as the namespace's /etc/hosts (`ip netns
exec` mounts it there) and `hosts: files` as its name service, so no DNS
query leaves:

1. Three shoald on 127.0.0.2, .3 and .4, each started without seeds: three
   clusters of one.
2. A fourth, on 127.0.0.5, whose only seed is `seeds.shoal.test:PORT`, a
   name with no record yet: it stays alone.
3. The hosts file gains three records for the name (.2, .3, .4). The fourth
   node resolves it again on a later join attempt, joins all three records
   (join fanout 3), and the four become one cluster: each of the three
   learns of the others only through the fourth, so this happens only if
   every record was joined, not only the first.

Root and `ip netns` are needed; without them the test is skipped with the
reason. The namespace and its /etc/netns files are always removed, and
every node started is stopped by PID (SIGTERM, then SIGKILL). Every wait
is a bounded poll.
"""

import functools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = None  # set from argv
NAME = "seeds.shoal.test"


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shoal_testlib  # noqa: E402
from shoal_testlib import json_answer, run_shoal, shoal_command, stop_processes  # noqa: E402

poll = functools.partial(shoal_testlib.poll, interval=0.2)  # each ask runs a CLI in the netns


class NetnsDnsTest(unittest.TestCase):
    def setUp(self):
        why = shoal_testlib.why_no_netns(("ip",))
        if why:
            self.skipTest(why)
        self.ns = f"shoal-dns-{os.getpid()}"
        r = subprocess.run(["ip", "netns", "add", self.ns], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot create a network namespace: {r.stderr.strip()}")
        self.addCleanup(subprocess.run, ["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        if not os.path.isdir("/etc/netns"):
            os.makedirs("/etc/netns")
            self.addCleanup(os.rmdir, "/etc/netns")  # runs after the rmtree below
        self.etc = os.path.join("/etc/netns", self.ns)
        os.makedirs(self.etc)
        self.addCleanup(shutil.rmtree, self.etc, True)
        self.hosts = os.path.join(self.etc, "hosts")
        self.write_hosts([])
        with open(os.path.join(self.etc, "nsswitch.conf"), "w") as f:
            f.write("hosts: files\n")
        self.dir = tempfile.mkdtemp(prefix="shoal-dns-")
        self.port = random.randint(20000, 30000)
        self.procs = []
        self.addCleanup(self.stop_all)

    def write_hosts(self, addresses):
        # In place: `ip netns exec` bind-mounts this very file, so the
        # running nodes see the change.
        text = "127.0.0.1 localhost\n" + "".join(f"{a} {NAME}\n" for a in addresses)
        with open(self.hosts, "a+") as f:
            f.seek(0)
            f.truncate()
            f.write(text)

    def start(self, ip, seeds=None):
        args = ["ip", "netns", "exec", self.ns, os.path.join(BIN, "shoald"),
                "--listen", f"{ip}:{self.port}", "--cluster", "dns",
                "--join-backoff-max-ms", "1000"]
        if seeds:
            args += ["--seeds", seeds]
        log = open(os.path.join(self.dir, f"{ip}.log"), "wb")
        # `ip netns exec` execs shoald: the PID is shoald's.
        self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def stop_all(self):
        stop_processes(self.procs)

    def admin(self, ip, command):
        return json_answer(run_shoal(shoal_command(BIN, f"{ip}:{self.port}", "dns", command,
                                                   netns=self.ns)))

    def log(self, ip):
        with open(os.path.join(self.dir, f"{ip}.log"), errors="replace") as f:
            return f.read()

    def alive(self, ip):
        m = self.admin(ip, "members")
        return sorted(x["address"] for x in m if x["status"] == "alive") if m else None

    def test_every_record_is_joined_once_the_name_resolves(self):
        singles = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        for ip in singles:
            self.start(ip)
        self.start("127.0.0.5", seeds=f"{NAME}:{self.port}")
        for ip in singles + ["127.0.0.5"]:
            self.assertTrue(poll(lambda: self.alive(ip) == [f"{ip}:{self.port}"]),
                            f"{ip} did not start alone; logs in {self.dir}")
        # The name does not resolve: the fourth stays alone, and says so.
        self.assertTrue(poll(lambda: f"seed {NAME}:{self.port}:" in self.log("127.0.0.5")),
                        "no warning about the seed that does not resolve")
        self.assertEqual(self.alive("127.0.0.5"), [f"127.0.0.5:{self.port}"])

        self.write_hosts(singles)
        everyone = sorted(f"{ip}:{self.port}" for ip in singles + ["127.0.0.5"])
        for ip in singles + ["127.0.0.5"]:
            self.assertTrue(poll(lambda: self.alive(ip) == everyone, timeout=60),
                            f"{ip} sees {self.alive(ip)}, not all four; logs in {self.dir}")
        prefix = f"seed {NAME}:{self.port} is 3 address(es): "
        lines = [l for l in self.log("127.0.0.5").splitlines() if prefix in l]
        self.assertTrue(lines, "the fourth node did not log the name's records")
        self.assertEqual(sorted(lines[-1].split(prefix)[1].split(", ")),
                         sorted(f"{ip}:{self.port}" for ip in singles))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_netns_dns.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
