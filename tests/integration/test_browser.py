#!/usr/bin/env python3
"""The web page of the cluster (GET /ui) in a real browser: Debian's
headless Chromium loads it from a 5-node cluster and the test reads the
DOM the page's JavaScript built: 5 member rows, a full 5x5 view matrix,
ring shares that sum to 100%. Then a node is killed, and the page shows it
faulty. A screenshot goes to the build directory (ui.png).

    test_browser.py BIN_DIR [unittest args]

Skips, saying why, without chromium (scripts/setup.sh installs it). Also
asks /ui/key with good and hostile keys and sends hostile request heads:
each gets its answer and the node keeps serving. Every wait is a bounded
poll; every process is stopped by PID.
"""

import html.parser
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_testlib import free_base_port, json_answer, poll, run_shoal, shoal_command, stop_processes  # noqa: E402

BIN = None  # set from argv
N = 5
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Dom(html.parser.HTMLParser):
    """The parts of the rendered page the test reads."""

    def __init__(self):
        super().__init__()
        self.members = {}  # name -> status
        self.cells = []    # statuses of the matrix cells
        self.shares = {}   # member -> share
        self.polls = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "body":
            self.polls = int(a.get("data-polls", "0"))
        elif tag == "tr" and "member" in cls:
            self.members[a["data-name"]] = a["data-status"]
        elif tag == "td" and "cell" in cls:
            self.cells.append(a["data-status"])
        elif tag == "div" and "share" in cls:
            self.shares[a["data-member"]] = float(a["data-share"])


def browse(url, screenshot=None):
    """The DOM after the page has run (virtual time: its polls run at once)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--window-size=1400,950", "--virtual-time-budget=5000"]
    if screenshot:
        subprocess.run(args + [f"--screenshot={screenshot}", url], capture_output=True, timeout=60)
    out = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=60)
    dom = Dom()
    dom.feed(out.stdout)
    return dom


@unittest.skipIf(CHROMIUM is None, "no chromium: scripts/setup.sh installs Debian's")
class BrowserTest(unittest.TestCase):
    def test_the_page_shows_the_cluster_and_a_kill(self):
        base = free_base_port(N + 1)
        gossip = [f"127.0.0.1:{base + i}" for i in range(N)]
        metrics = f"127.0.0.1:{base + N}"
        logdir = tempfile.mkdtemp(prefix="shoal-browser-")
        procs = {}
        try:
            for i in range(N):
                log = open(os.path.join(logdir, f"node-{i}.log"), "wb")
                args = [os.path.join(BIN, "shoald"), "--listen", gossip[i], "--cluster", "ui",
                        "--seeds", ",".join(gossip[:3])]
                if i == 0:
                    args += ["--metrics", metrics]
                procs[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
                log.close()
            status = lambda: json_answer(run_shoal(shoal_command(BIN, gossip[0], "ui", "status")))
            self.assertTrue(poll(lambda: (status() or {}).get("converged")
                                 and len(status()["nodes"]) == N, timeout=30),
                            f"no converged cluster of {N}; logs in {logdir}")
            url = f"http://{metrics}/ui"
            shot = os.path.abspath(os.path.join(BIN, "..", "ui.png"))

            def full():
                d = browse(url)
                return d if (len(d.members) == N and len(d.cells) == N * N
                             and set(d.cells) == {"alive"}) else None
            self.assertTrue(poll(lambda: full() is not None, timeout=30),
                            f"the page never showed {N} members and a full matrix")
            d = browse(url, screenshot=shot)
            self.assertGreaterEqual(d.polls, 2, "the page did not poll")
            self.assertEqual(sorted(d.members), sorted(gossip))
            self.assertEqual(set(d.members.values()), {"alive"})
            self.assertEqual(len(d.cells), N * N)
            self.assertAlmostEqual(sum(d.shares.values()), 1.0, places=6)
            self.assertEqual(sorted(d.shares), sorted(gossip))
            self.assertTrue(os.path.getsize(shot) > 10000, "no screenshot")
            print(f"\nbrowser: {N} member rows, {len(d.cells)} matrix cells, shares "
                  f"{sorted(round(100 * v, 1) for v in d.shares.values())}%; screenshot {shot}",
                  file=sys.stderr)

            # A node dies: the page shows it faulty, in its row and in every
            # survivor's view, and off the ring.
            procs[4].kill()
            procs[4].wait(10)
            def faulty_everywhere():
                d = browse(url)
                return (d.members.get(gossip[4]) == "faulty" and len(d.cells) == (N - 1) * N
                        and d.cells.count("faulty") == N - 1)
            self.assertTrue(poll(faulty_everywhere, timeout=40),
                            "the page never showed the killed node faulty in every view")
            d = browse(url, screenshot=os.path.abspath(os.path.join(BIN, "..", "ui-faulty.png")))
            self.assertEqual(d.members[gossip[4]], "faulty")
            self.assertNotIn(gossip[4], d.shares)
            self.check_key_and_hostile_input(metrics)
        finally:
            stop_processes(procs.values())

    def check_key_and_hostile_input(self, metrics):
        with urllib.request.urlopen(f"http://{metrics}/ui/key?k=user%3A42", timeout=5) as r:
            j = json.loads(r.read())
        self.assertEqual(j["key"], "user:42")
        self.assertEqual(len(j["owners"]), 3)
        # Any bytes in a key are a key; a bad escape or an oversized key is
        # an error that says so.
        with urllib.request.urlopen(f"http://{metrics}/ui/key?k=%00%FF%3C%2Fscript%3E",
                                    timeout=5) as r:
            self.assertEqual(len(json.loads(r.read())["owners"]), 3)
        for bad in ("k=%zz", "k=" + "a" * 1100, "nokey"):
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://{metrics}/ui/key?{bad}", timeout=5)
            self.assertEqual(e.exception.code, 400, bad)
        # Hostile heads: oversized, binary, no end; each answered or cut
        # off, and the page still served.
        host, port = metrics.rsplit(":", 1)
        for head in (b"GET /ui HTTP/1.0\r\nX: " + b"y" * 9000 + b"\r\n\r\n",
                     b"GET /ui/\x00\xff\r\n\r\n", b"GET /ui/state"):
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(head)
                s.settimeout(10)
                try:
                    s.recv(100)
                except (socket.timeout, ConnectionError):
                    pass
        with urllib.request.urlopen(f"http://{metrics}/ui/state", timeout=5) as r:
            self.assertEqual(len(json.loads(r.read())["members"]), N)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_browser.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main()
