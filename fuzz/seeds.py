#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the shared conformance vectors.

Usage: seeds.py VECTORS_DIR CORPUS_DIR [EXTRA_CONF...]

Nothing is copied into the repository: the seeds are generated into CORPUS_DIR (gitignored) at
run time. Missing vector files are skipped; the fuzzers start from an empty corpus then.
"""
import hashlib
import json
import os
import re
import struct
import sys
import zlib


def put(corpus, target, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


ID_RE = re.compile(rb"group[0-9]+/M[0-9A-Fa-f]{2}/[0-9A-Fa-f]{2}/[0-9A-Fa-f]{2}/[A-Za-z0-9_.\-]+")


def file_ids(vectors, corpus):
    seen = set()
    for root, _, files in os.walk(vectors):
        for fn in files:
            if not fn.endswith((".tsv", ".json", ".md", ".txt", ".conf")):
                continue
            text = read(os.path.join(root, fn), "rb") or b""
            for m in ID_RE.findall(text):
                seen.add(m)
    for fid in sorted(seen):
        put(corpus, "file_id", fid)
        put(corpus, "file_id", fid.split(b"/", 1)[1])  # the logic name alone
    return len(seen)


def confs(vectors, corpus, extra):
    n = 0
    paths = list(extra)
    for root, _, files in os.walk(vectors):
        paths += [os.path.join(root, f) for f in files if f.endswith(".conf") or f == "mime.types"]
    for p in paths:
        data = read(p, "rb")
        if data:
            put(corpus, "conf", data)
            n += 1
    return n


def frames(vectors, corpus):
    """(request cmd, request frame, reply frame) triples from raw_probe.json and pcap/*.txt."""
    n = 0
    probe = read(os.path.join(vectors, "raw_probe.json"))
    pairs = []
    if probe:
        for e in json.loads(probe):
            req = bytes.fromhex(e["request_hex"])
            rep = bytes.fromhex(e["response_header_hex"] + e["response_body_hex"])
            pairs.append((req, rep))
    pdir = os.path.join(vectors, "pcap")
    if os.path.isdir(pdir):
        for fn in sorted(os.listdir(pdir)):
            if fn.endswith(".txt"):
                pairs += pcap_pairs(read(os.path.join(pdir, fn)) or "")
    for req, rep in pairs:
        if len(req) < 10:
            continue
        cmd = req[8:9]
        # proto_request: [cmd][flags=1][len 8][body]
        put(corpus, "proto_request", cmd + b"\x01" + req[:8] + req[10:])
        # proto_reply: [request cmd][flags=1][reply header][body]
        if rep is not None and len(rep) >= 10:
            put(corpus, "proto_reply", cmd + b"\x01" + rep)
        n += 1
    return n


def pcap_pairs(text):
    """Frames of the decoded pcap listings: '>>'/'<<' lines, a header line, then hexdump lines."""
    frames = []  # (direction, bytes)
    cur = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(">>") or s.startswith("<<"):
            cur = [s[:2], bytearray()]
            frames.append(cur)
        elif cur is not None and s.startswith("header:"):
            cur[1] += bytes.fromhex(s[len("header:"):].replace(" ", ""))
        elif cur is not None and re.match(r"^[0-9a-f]{6}  ", s):
            hexpart = s[8:].split("|", 1)[0]
            try:
                cur[1] += bytes.fromhex(hexpart.replace(" ", ""))
            except ValueError:
                pass
    pairs = []
    last_req = None
    for d, b in frames:
        if d == ">>":
            if last_req is not None:
                pairs.append((bytes(last_req), None))
            last_req = b
        elif last_req is not None:
            pairs.append((bytes(last_req), bytes(b)))
            last_req = None
    return pairs


def png(width, height, color_type=2):
    """A small PNG (RGB or RGBA), made here: the image_variant target's seeds."""
    channels = 4 if color_type == 6 else 3
    row = bytes(range(width * channels))[: width * channels]
    raw = b"".join(b"\0" + row for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# A 1x1 GIF (the classic transparent pixel).
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


def images(corpus):
    """Seeds for image_variant: two variant bytes, then an original."""
    n = 0
    for prefix in (b"\x05\x05", b"\x4a\x8c", b"\xc3\x41"):
        for original in (png(3, 2), png(7, 5, 6), GIF):
            put(corpus, "image_variant", prefix + original)
            n += 1
    put(corpus, "image_variant", b"w=10&h=20&fit=cover&g=north&q=70&fmt=auto")
    return n + 1


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    vectors, corpus = sys.argv[1], sys.argv[2]
    print(f"seeds: {images(corpus)} pictures and queries for image_variant")
    if not os.path.isdir(vectors):
        print(f"seeds: no vectors at {vectors}, starting from empty corpora")
        return
    ids = file_ids(vectors, corpus)
    nconf = confs(vectors, corpus, sys.argv[3:])
    nframes = frames(vectors, corpus)
    print(f"seeds: {ids} file ids, {nconf} config files, {nframes} request/reply frames -> {corpus}")


if __name__ == "__main__":
    main()
