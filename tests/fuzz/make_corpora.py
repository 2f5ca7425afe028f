#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets other than codec.

    tests/fuzz/make_corpora.py [CORPUS_DIR]     (default: tests/fuzz/corpus)

A few small, meaningful inputs per target, each file named for what it
holds; the files are committed, and the fuzzers start from them (their
ctest replays mutate them). Deterministic: rerunning gives the same files.
corpus/codec/ is written by shoal_codec_corpus_gen (make_codec_corpus.cc).

The seal corpus holds real seals made with the seal fuzzer's fixed keys
(bytes 0..31 and 32..63) and cluster "prod", through libsodium by ctypes,
so the fuzzer starts from messages that open and mutates them from there.
"""
import base64
import ctypes
import hashlib
import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(root, target, name, data):
    path = os.path.join(root, target)
    os.makedirs(path, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def frame(body):
    return struct.pack(">I", len(body)) + body


# ---- frame_buffer: max_frame (LE16), read_chunk - 1, records [n][n bytes]
def records(stream, sizes):
    out, at, i = b"", 0, 0
    while at < len(stream):
        n = min(sizes[i % len(sizes)], len(stream) - at, 255)
        out += bytes([n]) + stream[at:at + n]
        at, i = at + n, i + 1
    return out


def frame_buffer(root):
    def fb(max_frame, read_chunk, stream, sizes):
        return struct.pack("<HB", max_frame, read_chunk - 1) + records(stream, sizes)

    two = frame(b"hello") + frame(bytes(range(200)))
    write(root, "frame_buffer", "two_frames_small_reads", fb(1024, 16, two, [7]))
    write(root, "frame_buffer", "pipelined_one_read",
          fb(64, 64, b"".join(frame(bytes([i]) * i) for i in range(12)), [255]))
    write(root, "frame_buffer", "byte_at_a_time", fb(300, 4, frame(b"x" * 40) + frame(b""), [1]))
    write(root, "frame_buffer", "oversized_after_one",
          fb(100, 8, frame(b"ok") + struct.pack(">I", 5000) + b"abc", [3, 5]))
    write(root, "frame_buffer", "zero_limit_empty_frames", fb(0, 1, frame(b"") * 3 + frame(b"a"), [2]))
    write(root, "frame_buffer", "partial_tail", fb(4096, 32, frame(b"a" * 100) + frame(b"b" * 300)[:150],
                                                  [200, 17]))
    codec = os.path.join(HERE, "corpus", "codec")
    for name in ("frame_join_request.bin", "frame_sync_response.bin"):
        with open(os.path.join(codec, name), "rb") as f:
            stream = f.read()
        write(root, "frame_buffer", "codec_" + name.removesuffix(".bin"),
              fb(65535, 256, stream + stream, [100, 1, 255]))


# ---- address: the text
def address(root):
    texts = {
        "ipv4": "10.0.0.1:7000",
        "ipv4_leading_zeros": "010.000.000.001:07000",
        "ipv6_loopback": "[::1]:7000",
        "ipv6_long_form": "[2001:0db8:0000:0000:0000:0000:0000:0001]:7946",
        "ipv6_full": "[1:2:3:4:5:6:7:8]:65535",
        "ipv6_mapped": "[::ffff:10.0.0.1]:1",
        "ipv6_any": "[::]:1",
        "ipv6_zone": "[fe80::1%eth0]:7000",
        "dns_name": "db-1.internal:7000",
        "localhost_port_zero": "localhost:0",
        "no_port": "10.0.0.1",
        "no_host": ":7000",
        "ipv6_unbracketed": "::1:7000",
        "port_too_big": "10.0.0.1:65536",
    }
    for name, text in texts.items():
        write(root, "address", name, text)


# ---- seal: received bytes, plaintext, keyring and key text
def sodium():
    lib = ctypes.CDLL("libsodium.so.23")
    if lib.sodium_init() < 0:
        raise SystemExit("libsodium failed to initialize")
    return lib


def key_bytes(first):
    return bytes((first + i) % 256 for i in range(32))


def key_id(key):
    # BLAKE2b-128 of the label and the key, first 4 bytes (keyring.cc key_id).
    return hashlib.blake2b(b"shoal key id v1:" + key, digest_size=16).digest()[:4]


def seal(lib, key, channel, plain, nonce, cluster=b"prod"):
    head = b"\x00" + key_id(key)
    ad = head + bytes([channel, 1]) + cluster  # channel, protocol version, cluster
    out = ctypes.create_string_buffer(len(plain) + 16)
    written = ctypes.c_ulonglong(0)
    rc = lib.crypto_aead_xchacha20poly1305_ietf_encrypt(
        out, ctypes.byref(written), plain, ctypes.c_ulonglong(len(plain)), ad,
        ctypes.c_ulonglong(len(ad)), None, nonce, key)
    if rc != 0:
        raise SystemExit("seal failed")
    return head + nonce + out.raw[:written.value]


def seal_corpus(root):
    lib = sodium()
    k0, k1 = key_bytes(0), key_bytes(32)
    with open(os.path.join(HERE, "corpus", "codec", "datagram_gossip.bin"), "rb") as f:
        gossip = f.read()
    write(root, "seal", "sealed_datagram_primary", seal(lib, k0, 1, gossip, bytes(range(24))))
    write(root, "seal", "sealed_frame_second_key", seal(lib, k1, 2, b"frame", bytes([7] * 24)))
    write(root, "seal", "sealed_empty", seal(lib, k0, 1, b"", bytes(24)))
    write(root, "seal", "plaintext_datagram", gossip)
    b0, b1 = base64.b64encode(k0).decode(), base64.b64encode(k1).decode()
    write(root, "seal", "keyring_file", f"# shoal keyring\n{b0}\n\n  {b1}\t\r\n")
    write(root, "seal", "keyring_duplicate", f"{b0}\n{b0}\n")
    write(root, "seal", "key_text", b0 + "\n")
    write(root, "seal", "key_not_canonical", b0[:42] + "B=")
    # Found by this fuzzer: libsodium 1.0.18 decodes any byte >= 0x80 as '/'.
    write(root, "seal", "key_high_byte", b0[:12].encode() + b"\xbc" + b0[13:].encode())
    return b0, b1


# ---- admin: command, newline, args_json
def admin(root, b0, b1):
    b2 = base64.b64encode(key_bytes(64)).decode()
    requests = {
        "members": "members\n",
        "status": "status",
        "stats": "stats\n{}",
        "lookup": 'lookup\n{"key":"user:42","n":2}',
        "lookup_n_max": 'lookup\n{"key":"k","n":100000}',
        "lookup_n_zero": 'lookup\n{"key":"k","n":0}',
        "forward": 'forward\n{"key":"user:1","payload":"hi","timeout_ms":50}',
        "forward_default_budget": 'forward\n{"key":"user:2"}',
        "forward_no_key": 'forward\n{"payload":"x"}',
        "leave": "leave\n",
        "keys_list": "keys.list\n",
        "keys_install": 'keys.install\n{"key":"%s"}' % b2,
        "keys_use": 'keys.use\n{"key":"%s"}' % b0,
        "keys_remove_primary": 'keys.remove\n{"key":"%s"}' % b0,
        "keys_remove_absent": 'keys.remove\n{"key":"%s"}' % b1,
        "keys_bogus": 'keys.rotate\n{"key":"%s"}' % b0,
        "unknown": "nonsense\n[]",
        "args_not_object": 'lookup\n["key"]',
    }
    for name, text in requests.items():
        write(root, "admin", name, text)


# ---- metrics_http: read-size byte, then what the client sends
def metrics_http(root):
    heads = {
        "get_metrics": (63, b"GET /metrics HTTP/1.0\r\n\r\n"),
        "get_metrics_query": (0, b"GET /metrics?name=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        "get_root_lf": (10, b"GET / HTTP/1.0\n\n"),
        "post_metrics": (63, b"POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
        "incomplete": (63, b"GET /metrics HTTP/1.0\r\nHost: a\r\n"),
        "too_large": (63, b"GET /metrics HTTP/1.0\r\n" + b"X-Pad: " + b"a" * 9000),
        "metrics_prefix": (63, b"GET /metricsX HTTP/1.0\r\n\r\n"),
        "get_health": (63, b"GET /health HTTP/1.0\r\n\r\n"),
        "get_ready": (5, b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"),
        "ready_prefix": (63, b"GET /readyz HTTP/1.0\r\n\r\n"),
    }
    for name, (size, data) in heads.items():
        write(root, "metrics_http", name, bytes([size]) + data)


# ---- seeds_file: the file's text
def seeds_file(root):
    files = {
        "two_seeds": '["10.0.0.1:7946", "10.0.0.2:7946"]\n',
        "empty_array": "[]",
        "names_and_ipv6": '["db-1.internal:7000", "[::1]:7000", "[2001:db8::1]:7946"]',
        "non_string": '["10.0.0.1:1", 7946]',
        "object": '{"seeds": ["10.0.0.1:1"]}',
        "not_json": "10.0.0.1:7946,10.0.0.2:7946",
        "escapes": '["\\u0000:1", "a\\nb:2", "\\u00e9:3"]',
    }
    for name, text in files.items():
        write(root, "seeds_file", name, text)


# ---- snapshot: shoald's --snapshot file
def snapshot(root):
    files = {
        "two_members": '{"version": 1, "members": [{"name": "node-1", "address": "10.0.0.1:7946"}, '
                       '{"name": "127.0.0.1:7000", "address": "127.0.0.1:7000"}]}\n',
        "empty": '{"version": 1, "members": []}',
        "truncated": '{"version": 1, "members": [{"name": "node-1", "addr',
        "wrong_version": '{"version": 2, "members": []}',
        "bad_address": '{"version": 1, "members": [{"name": "x", "address": "no-port"}]}',
        "ipv6_and_names": '{"version": 1, "members": [{"name": "a", "address": "[::1]:7000"}, '
                          '{"name": "b", "address": "db-1.internal:7000"}]}',
        "not_object": '[{"name": "x", "address": "10.0.0.1:1"}]',
    }
    for name, text in files.items():
        write(root, "snapshot", name, text)


# ---- cli_answer: a node's answer, JSON
def cli_answer(root):
    answers = {
        "members": [
            {"address": "10.0.0.1:7000", "status": "alive", "incarnation": 1718000000000,
             "labels": {"zone": "eu-1a"}},
            {"address": "10.0.0.2:7000", "status": "suspect", "incarnation": 5, "labels": {}},
            {"address": "10.0.0.3:7000", "status": "faulty", "incarnation": 7,
             "labels": {"evil\u001b[2J": "x\u007f"}},
        ],
        "status": {"address": "10.0.0.1:7000", "cluster": "prod", "incarnation": 3,
                   "status": "alive", "members": {"alive": 3},
                   "membership_checksum": 12345,
                   "ring": {"members": 3, "checksum": 18446744073709551615},
                   "health_score": 0, "joined": True},
        "statuses": [
            {"ring": {"members": 3, "checksum": 1}, "incarnation": 1, "health_score": 0},
            {"ring": {"members": 3, "checksum": 2}, "incarnation": 2, "health_score": 1},
        ],
        "lookup": {"key": "user:42", "owners": ["10.0.0.2:7000", "10.0.0.1:7000"],
                   "checksum": 99},
        "forward_ok": {"key": "k", "ok": True, "error": "ok", "message": "", "payload": "hi",
                       "handled_by": "10.0.0.2:7000", "attempts": 1},
        "forward_failed": {"key": "k", "ok": False, "error": "timeout",
                           "message": "no answer\r\n", "payload": "", "handled_by": "",
                           "attempts": 4},
        "keys": {"primary": "1a2b3c4d", "keys": ["1a2b3c4d", "00ff00ff"],
                 "encryption": "required"},
        "stats": {"members": {"alive": 3}, "drops": {"decrypt_failed": 0}},
        "negative_incarnation": [{"address": "a", "status": "alive", "incarnation": -1,
                                  "labels": {}}],
        "float_checksum": {"ring": {"members": 1.5, "checksum": 3.25}, "incarnation": 1,
                           "health_score": 0},
        # Found by this fuzzer: a double out of uint64_t's range was converted
        # (undefined behaviour) where an integer was expected.
        "checksum_out_of_range": {"ring": {"members": 3, "checksum": 18446744073709551616},
                                  "incarnation": 1e300, "health_score": 0},
        # `shoal watch`: an events answer.
        "events": {"next": 7, "missed": 2, "events": [
            {"seq": 6, "address": "10.0.0.2:7000", "status": "suspect", "old_status": "alive",
             "incarnation": 5, "source": "10.0.0.3:7000", "forgotten": False,
             "labels": {"zone": "eu"}},
            {"seq": 7, "address": "10.0.0.4:7000\u001b[2J", "status": "faulty",
             "old_status": "", "incarnation": 1, "source": "", "forgotten": True,
             "labels": {}}]},
        # `shoal members --status alive --label zone=eu`, `shoal top`.
        "members_mixed": [
            {"address": "10.0.0.1:7000", "status": "alive", "incarnation": 3,
             "labels": {"zone": "eu"}},
            {"address": "10.0.0.2:7000", "status": "suspect", "incarnation": 4,
             "labels": {"zone": "us"}},
            {"address": "10.0.0.3:7000", "status": "leave", "incarnation": 9, "labels": {}}],
    }
    for name, value in answers.items():
        write(root, "cli_answer", name, json.dumps(value))


# ---- membership: programs of (opcode, operands...); see membership_fuzzer.cc
def membership(root):
    advance = lambda tenths: bytes([0, tenths])            # noqa: E731  tenths * 10 ms
    gossip = lambda src, *changes: bytes([1, src, 0, len(changes)]) + b"".join(changes)  # noqa
    change = lambda addr, status, inc, src: bytes([addr, status, inc, 0, src])  # noqa
    answer = lambda up: bytes([6, up])                      # noqa: E731
    join = lambda src: bytes([7, src, 2])                   # noqa: E731
    programs = {
        # Two peers join, all answer pings for a while.
        "join_and_answer": join(0) + join(1) + (advance(100) + answer(0xff)) * 5,
        # A peer stops answering: suspect, faulty, tombstone, forgotten.
        "peer_dies": join(0) + join(1) + (advance(255) + answer(0x01)) * 12,
        # Claims against this node (address index 8): it refutes.
        "refute": join(0) + gossip(0, change(8, 1, 2, 0), change(8, 2, 3, 0)) + advance(50),
        # Hearsay about strangers, then their own alive claims.
        "hearsay": gossip(0, change(3, 1, 2, 0), change(4, 2, 2, 0), change(5, 3, 2, 0))
                   + gossip(3, change(3, 0, 4, 3)) + advance(200),
        # Ping, ping-req, ack and nack traffic.
        "probe_traffic": join(0) + bytes([2, 0, 7, 1, 0]) + bytes([3, 1, 9, 2, 1, 0])
                         + advance(10) + bytes([4, 1, 0, 0]) + bytes([5, 0, 1, 0]),
    }
    rng = random.Random(20261201)
    for i in range(3):
        programs[f"random_{i}"] = bytes(rng.randrange(256) for _ in range(200))
    for name, data in programs.items():
        write(root, "membership", name, data)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    frame_buffer(root)
    address(root)
    b0, b1 = seal_corpus(root)
    admin(root, b0, b1)
    metrics_http(root)
    seeds_file(root)
    snapshot(root)
    cli_answer(root)
    membership(root)


if __name__ == "__main__":
    main()
