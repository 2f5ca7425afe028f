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
import re
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
        # The process metrics Prometheus clients export.
        for name in ("process_cpu_seconds", "process_resident_memory_bytes",
                     "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                     "process_start_time_seconds"):
            self.assertIn(name, families, f"node {i}: no {name}")
        self.assertGreater(families["process_resident_memory_bytes"].samples[0].value, 1 << 20)
        self.assertGreater(families["process_open_fds"].samples[0].value, 2)
        if i == 0:
            self.check_dashboard(text)

    def check_dashboard(self, text):
        """deploy/grafana/shoal.json: the shape Grafana imports, and every
        metric name and label matcher of its queries on this /metrics."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                            "grafana", "shoal.json")
        with open(path) as f:
            dash = json.load(f)
        for key in ("title", "uid", "panels", "templating"):
            self.assertIn(key, dash)
        self.assertIsInstance(dash["schemaVersion"], int)
        samples = {}  # sample name -> list of label dicts
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                samples.setdefault(s.name, []).append(s.labels)
        ids, exprs = set(), []
        for p in dash["panels"]:
            self.assertNotIn(p["id"], ids)
            ids.add(p["id"])
            for key in ("type", "title", "gridPos", "targets", "datasource"):
                self.assertIn(key, p, p.get("title"))
            self.assertEqual(set(p["gridPos"]), {"h", "w", "x", "y"})
            self.assertTrue(p["targets"], p["title"])
            for t in p["targets"]:
                self.assertIn("refId", t)
                exprs.append((p["title"], t["expr"]))
        self.assertGreaterEqual(len(exprs), 10)
        for title, expr in exprs:
            for m in re.finditer(r"\b((?:shoal|process)_[a-z_]+)(\{([^}]*)\})?", expr):
                name, matchers = m.group(1), m.group(3) or ""
                self.assertTrue(name in samples, f"{title}: {name} is not on /metrics")
                for label, op, value in re.findall(r'(\w+)\s*(=~|!=|=)\s*"([^"]*)"', matchers):
                    if label == "instance":
                        continue  # Prometheus adds it when it scrapes
                    self.assertTrue(any(label in ls for ls in samples[name]),
                                    f"{title}: {name} has no label {label}")
                    if op == "=":
                        self.assertTrue(any(ls.get(label) == value for ls in samples[name]),
                                        f"{title}: no {name}{{{label}=\"{value}\"}}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_metrics.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main()
