#!/usr/bin/env python3
"""Peak memory of facelens-server under the two floods of the hardening issue (rows 2 and 10).

Usage: python3 bench/flood.py PATH/TO/facelens-server [--faces 3006] [--readers 40]

Each attack runs against a fresh server on a loopback port (default config, models from the
usual folder); the server's peak RSS (VmHWM) is read from /proc before and after.
  row 2:  a gallery of N faces with thumbnails; R connections ask for a thumbnail page
          (limit=1000) and never read; RSS is sampled while they hang and after they close.
  row 10: 12 concurrent POST /v1/faces, each three blank 4096x4096 patches.
Prints one line per attack. Loopback only; every loop is bounded.
"""

import argparse
import base64
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib

TOKEN = "flood-token-0123456789abcdef"


def _png_file(width, height, idat):
    """A PNG file around zlib-compressed 8-bit RGB scanlines."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def png(width, height, pixel):
    """An RGB PNG, each pixel from pixel(x, y) -> 3 bytes."""
    raw = b"".join(
        b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height)
    )
    return _png_file(width, height, zlib.compress(raw, 1))


def blank_png(side):
    """A black side x side PNG (a few hundred KB: it decodes to side^2 x 3 bytes)."""
    row = b"\x00" + b"\x00" * (3 * side)
    return _png_file(side, side, zlib.compress(row * side, 9))


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) // 1024
    return out


def request(url, method="GET", body=None, timeout=120):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start(server, gallery, port):
    env = dict(os.environ)
    env.update(
        FACELENS_LISTEN=f"127.0.0.1:{port}",
        FACELENS_GALLERY=gallery,
        FACELENS_TOKENS=TOKEN,
        RUST_LOG="warn",
    )
    p = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return p, url
        except OSError:
            pass
        if p.poll() is not None:
            sys.exit("the server exited while loading")
        time.sleep(0.5)
    p.kill()
    sys.exit("the server did not become ready")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unit(rng):
    v = [rng.gauss(0, 1) for _ in range(512)]
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def row2(server, faces, readers):
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as g:
        p, url = start(server, g, free_port())
        try:
            # Aligned crops as stored: 112x112, smooth (about 10 KB as PNG, like real faces).
            for i in range(faces):
                a, b = rng.randrange(256), rng.randrange(256)
                thumb = png(112, 112, lambda x, y: bytes(((a + x) % 256, (b + y) % 256, (x * y) % 256)))
                body = json.dumps(
                    {
                        "name": f"P{i % 500}",
                        "source": "flood",
                        "embedding": unit(rng),
                        "thumbnail_png": base64.b64encode(thumb).decode(),
                    }
                ).encode()
                status, _ = request(f"{url}/v1/gallery", "POST", body)
                assert status == 201, status
            before = rss(p.pid)
            req = (
                "GET /v1/gallery?thumbnails=true&limit=1000 HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            ).encode()
            socks = []
            port = int(url.rsplit(":", 1)[1])
            for _ in range(readers):
                s = socket.socket()
                # A small window, set before connecting, as a slow or hostile reader has.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(("127.0.0.1", port))
                s.sendall(req)
                socks.append(s)
            peak_during = 0
            t0 = time.time()
            while time.time() - t0 < 10:
                peak_during = max(peak_during, rss(p.pid)["VmRSS"])
                time.sleep(0.1)
            for s in socks:
                s.close()
            time.sleep(2)
            after = rss(p.pid)
            print(
                f"row 2: {faces} faces, {readers} connections that never read a thumbnail page: "
                f"RSS before {before['VmRSS']} MiB, max while they hang {peak_during} MiB, "
                f"peak (VmHWM) {after['VmHWM']} MiB, after they close {after['VmRSS']} MiB"
            )
        finally:
            p.kill()
            p.wait()


def row10(server):
    with tempfile.TemporaryDirectory() as g:
        p, url = start(server, g, free_port())
        try:
            aligned = base64.b64encode(png(112, 112, lambda x, y: b"\x80\x80\x80")).decode()
            patch = base64.b64encode(blank_png(4096)).decode()
            crop = {
                "aligned_png": aligned,
                "patch_png": patch,
                "bbox_in_patch": {"x1": 1000.0, "y1": 1000.0, "x2": 3000.0, "y2": 3000.0},
            }
            body = json.dumps({"faces": [crop] * 3, "top_k": 1, "search": False}).encode()
            before = rss(p.pid)
            results = []

            def one():
                results.append(request(f"{url}/v1/faces", "POST", body)[0])

            threads = [threading.Thread(target=one) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            after = rss(p.pid)
            counts = {s: results.count(s) for s in sorted(set(results))}
            print(
                f"row 10: 12 concurrent /v1/faces of {len(body) // 1024} KB (three blank 4096^2 "
                f"patches): statuses {counts}; RSS before {before['VmRSS']} MiB, peak (VmHWM) "
                f"{after['VmHWM']} MiB"
            )
        finally:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--faces", type=int, default=3006)
    ap.add_argument("--readers", type=int, default=40)
    a = ap.parse_args()
    row2(a.server, a.faces, a.readers)
    row10(a.server)


if __name__ == "__main__":
    main()
