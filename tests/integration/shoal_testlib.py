"""Helpers shared by the integration tests (and scripts/bench_cluster.py):
free ports, bounded polls, asking a node with `shoal --json`, stopping
processes by PID, whether network namespaces can be made.

The tests run as `python3 tests/integration/test_X.py BIN_DIR`, from ctest
or by hand: either way the script's directory is first on sys.path, so
`import shoal_testlib` finds this file.
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time


def free_base_port(count, host="127.0.0.1", tries=200):
    """A base port such that base..base+count-1 are free on host, TCP and UDP."""
    for _ in range(tries):
        base = random.randint(10000, 32000 - count)  # below the ephemeral range
        ok = True
        for port in range(base, base + count):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind((host, port))
                except OSError:
                    ok = False
                finally:
                    s.close()
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free port range")


def poll(predicate, timeout=30.0, interval=0.1):
    """Calls predicate until it returns a truthy value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def why_no_netns(tools=("ip",)):
    """Why network-namespace tests cannot run here ("" if they can): they
    need root, the given tools (iproute2's `ip`, nftables' `nft`) and a
    working `ip netns`."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to create network namespaces"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"needs `{tool}` ({'nftables' if tool == 'nft' else 'iproute2'})"
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"`ip netns` is unavailable: {r.stderr.strip()}"
    return ""


def shoal_command(bin_dir, node, cluster, *args, timeout_ms=2000, keyring=None, netns=None):
    """The command line of `shoal --json` asking node (host:port) of cluster:
    with --keyring-file if keyring is given, inside network namespace netns
    (`ip netns exec`) if that is."""
    cmd = ["ip", "netns", "exec", netns] if netns else []
    cmd += [os.path.join(bin_dir, "shoal"), "--node", node, "--cluster", cluster, "--json",
            "--timeout-ms", str(timeout_ms)]
    if keyring:
        cmd += ["--keyring-file", keyring]
    return cmd + list(args)


def run_shoal(cmd, timeout=30, env_keyring=True):
    """Runs a shoal command line; its CompletedProcess (text). Without
    env_keyring, SHOAL_KEYRING_FILE is not passed on: the CLI seals with the
    --keyring-file of the command line or not at all."""
    env = None
    if not env_keyring:
        env = dict(os.environ)
        env.pop("SHOAL_KEYRING_FILE", None)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def json_answer(out, exit_codes=(0, 1)):
    """What a finished `shoal --json` printed, parsed; None if it exited
    otherwise than exit_codes, printed nothing or printed no JSON. (`status`
    exits 1 when not converged but still prints its JSON.)"""
    if out.returncode not in exit_codes or not out.stdout.strip():
        return None
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return None


def stop_processes(procs, timeout=10.0, kill_timeout=10.0):
    """Stops processes by PID: SIGTERM to every one still running, then
    waits for each up to timeout, and SIGKILLs one that has not exited."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=kill_timeout)


def stop_process(p, timeout=30.0):
    """stop_processes() of one process."""
    stop_processes([p], timeout)
