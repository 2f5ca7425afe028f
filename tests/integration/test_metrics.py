#!/usr/bin/python3
"""/metrics read by an independent parser: every line of a node's Prometheus
text must parse (Debian's python3-prometheus-client), and the latency
histograms must be there and add up.

    test_metrics.py BIN_DIR [unittest args]

Two shoald on 127.0.0.1, each with --metrics; requests forwarded through
the CLI; then /metrics of both is fetched and parsed. Run by Debian's
/usr/bin/python3, where the parser is installed (scripts/setup.sh). Every
wait is a bounded poll; every process is stopped by PID.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shoal_testlib import (free_base_port, json_answer, poll, run_shoal, shoal_command,  # noqa: E402
                           stop_processes)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # reported as a failure by the test
    text_string_to_metric_families = None

BIN = None  # set from argv
HISTOGRAMS = ("shoal_forward_duration_seconds", "shoal_handler_duration_seconds",
              "shoal_handler_queue_wait_seconds")


class MetricsTest(unittest.TestCase):
    def test_metrics_parse_and_histograms_add_up(self):
        self.assertIsNotNone(text_string_to_metric_families,
                             "needs Debian's python3-prometheus-client (scripts/setup.sh)")
        base = free_base_port(4)
        gossip = [f"127.0.0.1:{base + i}" for i in range(2)]
        metrics = [f"127.0.0.1:{base + 2 + i}" for i in range(2)]
        logdir = tempfile.mkdtemp(prefix="shoal-metrics-")
        procs = []
        try:
            for i in range(2):
                log = open(os.path.join(logdir, f"node-{i}.log"), "wb")
                procs.append(subprocess.Popen(
                    [os.path.join(BIN, "shoald"), "--listen", gossip[i], "--seeds",
                     gossip[1 - i], "--cluster", "metrics", "--metrics", metrics[i]],
                    stdout=log, stderr=subprocess.STDOUT))
                log.close()
            cli = lambda i, *a: json_answer(run_shoal(shoal_command(BIN, gossip[i], "metrics", *a)))
            both = lambda: all((cli(i, "stats") or {}).get("ring_members") == 2 for i in range(2))
            self.assertTrue(poll(both, timeout=30), f"no cluster of two; logs in {logdir}")
            oks = 0
            for k in range(40):
                r = cli(k % 2, "forward", f"key-{k}", "x")
                oks += 1 if r and r.get("ok") else 0
            self.assertEqual(oks, 40)
            for i in range(2):
                self.check_node(i, metrics[i], cli)
        finally:
            stop_processes(procs)

    def check_node(self, i, address, cli):
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
            text = r.read().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}  # raises if malformed
        self.assertIn("shoal_datagrams_in", families)  # counters lose _total in the parser
        for name in HISTOGRAMS:
            self.assertIn(name, families, f"node {i}: no {name}")
            self.assertEqual(families[name].type, "histogram")
        # Each histogram: buckets cumulative, +Inf equals _count.
        series = {}
        for s in families["shoal_forward_duration_seconds"].samples:
            key = s.labels.get("outcome")
            series.setdefault(key, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        self.assertIn("ok", series)
        self.assertIn("timeout", series)
        for outcome, h in series.items():
            values = [v for _, v in sorted(h["buckets"])]
            self.assertEqual(values, sorted(values), f"node {i} {outcome}: not cumulative")
            self.assertEqual(values[-1], h["count"], f"node {i} {outcome}: +Inf != _count")
        self.assertGreater(series["ok"]["count"], 0, f"node {i}: no ok forward counted")
        stats = cli(i, "stats")
        lat = stats["latency"]
        self.assertEqual(lat["forward_duration.ok"]["count"], series["ok"]["count"])
        self.assertGreater(lat["forward_duration.ok"]["p99_ms"], 0)
        self.assertGreaterEqual(lat["forward_duration.ok"]["p99_ms"],
                                lat["forward_duration.ok"]["p50_ms"])
        self.assertGreater(lat["handler_duration"]["count"], 0)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_metrics.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main()
