#!/usr/bin/env python3
"""deploy/: every flag the systemd unit and the Kubernetes manifest pass to
shoald is one it accepts, with values it accepts (`shoald --check-config`,
which validates flags and the files they name without binding anything).
Neither can run here; this is what can be checked.

    test_deploy.py BIN_DIR [unittest args]
"""

import os
import shlex
import subprocess
import sys
import tempfile
import unittest

BIN = None  # set from argv
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
KEY = "q1NzS3Vb6YlWmYq1cZQ7QyJjq8gG0a3lZy6TQzG6xIE="  # any 32 bytes, base64


class Files:
    """Stand-ins for the files the deployments name: a keyring (mode 0600)
    and a seeds file."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shoal-deploy-")
        self.keyring = os.path.join(self.dir, "keyring")
        with open(self.keyring, "w") as f:
            f.write(KEY + "\n")
        os.chmod(self.keyring, 0o600)
        self.seeds = os.path.join(self.dir, "seeds.json")
        with open(self.seeds, "w") as f:
            f.write('["10.0.0.5:7946", "10.0.0.6:7946"]')

    def substitute(self, arg):
        return (arg.replace("/etc/shoal/keyring", self.keyring)
                .replace("/etc/shoal/seeds.json", self.seeds))


def check_config(args):
    return subprocess.run([os.path.join(BIN, "shoald"), *args, "--check-config"],
                          capture_output=True, text=True, timeout=30)


class DeployTest(unittest.TestCase):
    def setUp(self):
        self.files = Files()

    def assert_accepted(self, args, where):
        r = check_config(args)
        self.assertEqual(r.returncode, 0, f"{where}: shoald {' '.join(args)}: {r.stderr}")
        self.assertIn("configuration ok", r.stdout)
        # And the check can fail: the same flags plus one shoald lacks.
        self.assertEqual(check_config(args + ["--no-such-flag"]).returncode, 2)

    def test_systemd_unit(self):
        with open(os.path.join(DEPLOY, "systemd", "shoald.service")) as f:
            text = f.read().replace("\\\n", " ")
        exec_start = [line for line in text.splitlines() if line.startswith("ExecStart=")]
        self.assertEqual(len(exec_start), 1)
        argv = shlex.split(exec_start[0][len("ExecStart="):])
        self.assertTrue(argv[0].endswith("/shoald"))
        self.assert_accepted([self.files.substitute(a) for a in argv[1:]], "shoald.service")

    def test_kubernetes_manifest(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("needs PyYAML (python3-yaml, installed by scripts/setup.sh)")
        with open(os.path.join(DEPLOY, "kubernetes", "shoal.yaml")) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        kinds = {d["kind"]: d for d in docs}
        self.assertIn("Service", kinds)
        self.assertIn("StatefulSet", kinds)
        service, sts = kinds["Service"], kinds["StatefulSet"]
        self.assertEqual(service["spec"]["clusterIP"], "None", "the seeds need a headless Service")
        self.assertEqual(sts["spec"]["serviceName"], service["metadata"]["name"])
        container = sts["spec"]["template"]["spec"]["containers"][0]
        env = {"POD_IP": "10.1.2.3", "POD_NAME": "shoal-0", "POD_NAMESPACE": "default"}
        self.assertEqual(sorted(e["name"] for e in container["env"]), sorted(env))
        args = []
        for a in container["args"]:
            for name, value in env.items():
                a = a.replace(f"$({name})", value)
            self.assertNotIn("$(", a, f"unexpanded variable in {a}")
            args.append(self.files.substitute(a))
        self.assert_accepted(args, "shoal.yaml")
        # The seeds are the headless Service's DNS name.
        seeds = [a for a in args if a.startswith("--seeds=")]
        self.assertEqual(seeds, [f"--seeds={service['metadata']['name']}.default.svc.cluster.local:7946"])
        # Members are named after their pods: a pod on a new IP keeps its keys.
        self.assertIn("--name=shoal-0", args)
        # Probes go to the metrics listener's /health and /ready.
        metrics = [a for a in args if a.startswith("--metrics=")][0]
        port = int(metrics.rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/health")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/ready")
        for probe in ("livenessProbe", "readinessProbe"):
            self.assertEqual(ports[container[probe]["httpGet"]["port"]], port)
        # The keyring comes from a Secret, mounted where --keyring-file looks.
        mount = container["volumeMounts"][0]
        self.assertTrue("--keyring-file=" + mount["mountPath"] + "/keyring" in container["args"])
        volume = sts["spec"]["template"]["spec"]["volumes"][0]
        self.assertEqual(volume["secret"]["defaultMode"] & 0o077, 0,
                         "shoald refuses a keyring group or others can read")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_deploy.py BIN_DIR [unittest args]")
    BIN = sys.argv.pop(1)
    unittest.main(verbosity=2)
