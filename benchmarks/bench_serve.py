"""Load test of ``salmap serve`` on 127.0.0.1: batching under concurrency, and bad input.

Starts a live server (the default model unless --model), then in one run:
1. the same N requests of real photos (the bundled NUS-Scene images and the test photos,
   cycled) sent one at a time and from C concurrent clients: every answer checked (status
   200, a map of the photo's size), p50/p95 latency and throughput of each. The two modes
   alternate in --rounds blocks of N / rounds requests, so that both see the same machine
   load on a shared machine;
2. during the first concurrent block, four bad requests (a malformed multipart body, a
   truncated JPEG, a 0-byte file, a 200-megapixel PNG bomb), each of which must get its 4xx.

Only loopback traffic; every loop is bounded. Run it with nice on a shared machine:

    nice .venv/bin/python benchmarks/bench_serve.py [--requests 200] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PHOTOS = sorted((REPO / "salmap/data/nus_mini/images").glob("*.jpg")) + sorted(
    (REPO / "tests/data/photos").glob("*.jpg")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_bomb(megapixels: int = 200) -> bytes:
    """A PNG of ``megapixels`` one-bit black pixels: a few hundred kB that would decode to
    600 MB of RGB."""
    side = int((megapixels * 1e6) ** 0.5) + 1
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, "PNG", optimize=False)
    return buf.getvalue()


def bad_requests() -> list[tuple[str, int, dict]]:
    """(what, expected status, httpx keyword arguments) for each bad request."""
    truncated = PHOTOS[0].read_bytes()
    truncated = truncated[: len(truncated) // 3]
    malformed = (
        b"--XYZ\r\nContent-Disposition: form-data; name=image; filename=a.jpg\r\n\r\n"
        b"\xff\xd8 half a part and no closing boundary\r\n--XY"
    )
    return [
        (
            "malformed multipart body",
            400,
            {
                "content": malformed,
                "headers": {"content-type": "multipart/form-data; boundary=XYZ"},
            },
        ),
        ("truncated JPEG", 400, {"files": {"image": ("cut.jpg", truncated, "image/jpeg")}}),
        ("0-byte file", 400, {"files": {"image": ("empty.jpg", b"", "image/jpeg")}}),
        (
            "200-megapixel PNG bomb",
            413,
            {"files": {"image": ("bomb.png", png_bomb(), "image/png")}},
        ),
    ]


def start_server(model: str, port: int, batch_size: int, max_wait_ms: float, cache: int = 0):
    """``salmap serve`` on ``port``; ``cache`` 0 by default: the photos are cycled, and every
    request must run the model."""
    cmd = [sys.executable, "-m", "salmap.cli", "serve", "--model", model, "--port", str(port)]
    cmd += ["--batch-size", str(batch_size), "--max-wait-ms", str(max_wait_ms)]
    cmd += ["--cache", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):  # at most 120 s to load the model
        if proc.poll() is not None:
            raise SystemExit(f"salmap serve exited: {proc.stdout.read().decode()}")
        try:
            httpx.get(f"{url}/api/v1/health", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("salmap serve did not start within 120 s")


async def one(client: httpx.AsyncClient, url: str, path: Path, data: bytes) -> tuple[float, str]:
    """Latency in seconds and '' or what went wrong, for one saliency request."""
    t = time.perf_counter()
    try:
        r = await client.post(
            f"{url}/api/v1/saliency?format=json",
            files={"image": (path.name, data, "image/jpeg")},
        )
    except httpx.HTTPError as e:
        return time.perf_counter() - t, f"{path.name}: {type(e).__name__} {e}"
    dt = time.perf_counter() - t
    if r.status_code != 200:
        return dt, f"{path.name}: {r.status_code} {r.text[:200]}"
    w, h = Image.open(path).size
    body = r.json()
    if (body["width"], body["height"]) != (w, h):
        return dt, f"{path.name}: map {body['width']}x{body['height']}, image {w}x{h}"
    return dt, ""


async def traffic(url: str, jobs: list, clients: int, bad: list | None = None) -> dict:
    """Send ``jobs`` (path, bytes) from ``clients`` concurrent clients; the ``bad`` requests go
    out once a quarter of the jobs are done. Returns latencies, failures and bad answers."""
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies, failures, bad_answers = [], [], []
    done = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def worker():
            while not queue.empty():
                path, data = queue.get_nowait()
                dt, problem = await one(client, url, path, data)
                latencies.append(dt)
                if problem:
                    failures.append(problem)
                if len(latencies) >= len(jobs) // 4:
                    done.set()

        async def send_bad():
            await done.wait()
            for what, expected, kw in bad:
                r = await client.post(f"{url}/api/v1/saliency", **kw)
                try:
                    message = r.json().get("error", "")
                except ValueError:
                    message = r.text[:100]
                bad_answers.append((what, expected, r.status_code, message))

        t = time.perf_counter()
        tasks = [worker() for _ in range(clients)] + ([send_bad()] if bad else [])
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t
    return {"latencies": latencies, "failures": failures, "bad": bad_answers, "wall": wall}


def empty() -> dict:
    return {"latencies": [], "failures": [], "bad": [], "wall": 0.0}


def merge(total: dict, result: dict) -> None:
    for key in ("latencies", "failures", "bad"):
        total[key] += result[key]
    total["wall"] += result["wall"]


def row(name: str, n: int, result: dict) -> str:
    lat = sorted(result["latencies"])
    p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
    ok = len(lat) - len(result["failures"])
    return (
        f"| {name} | {n} | {ok} | {len(result['failures'])} | {statistics.median(lat) * 1000:.0f} "
        f"| {p95 * 1000:.0f} | {n / result['wall']:.2f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=4, help="alternating blocks of each mode")
    args = p.parse_args()

    photos = [(path, path.read_bytes()) for path in PHOTOS]
    jobs = [photos[i % len(photos)] for i in range(args.requests)]
    bad = bad_requests()
    proc, url = start_server(args.model, free_port(), args.batch_size, args.max_wait_ms)
    try:
        info = httpx.get(f"{url}/api/v1/model").json()
        asyncio.run(traffic(url, jobs[:4], 1))  # warm-up, not counted
        sequential, concurrent = empty(), empty()
        passes = {"sequential": [0, 0], "concurrent": [0, 0]}
        for k in range(args.rounds):
            block = jobs[k * len(jobs) // args.rounds : (k + 1) * len(jobs) // args.rounds]
            for name, total, clients in (
                ("sequential", sequential, 1),
                ("concurrent", concurrent, args.clients),
            ):
                before = httpx.get(f"{url}/api/v1/health").json()
                result = asyncio.run(
                    traffic(url, block, clients, bad if clients > 1 and k == 0 else None)
                )
                after = httpx.get(f"{url}/api/v1/health").json()
                merge(total, result)
                passes[name][0] += after["forward_passes"] - before["forward_passes"]
                passes[name][1] += after["images"] - before["images"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    sizes = sorted({Image.open(path).size for path, _ in photos}, key=lambda s: s[0] * s[1])
    print(
        f"model {info['name']} ({info['encoder']}, {info['runner']}, input "
        f"{info['input_size']['width']}x{info['input_size']['height']}), batch size "
        f"{args.batch_size}, wait {args.max_wait_ms:g} ms; {len(photos)} photos cycled, "
        f"{'x'.join(map(str, sizes[0]))} to {'x'.join(map(str, sizes[-1]))} px\n"
    )
    print("| clients | requests | ok | failed | p50 ms | p95 ms | images/s |")
    print("|---|---|---|---|---|---|---|")
    print(row("1 (one at a time)", args.requests, sequential))
    print(row(str(args.clients), args.requests, concurrent))
    gain = (args.requests / concurrent["wall"]) / (args.requests / sequential["wall"])
    passes = [passes["sequential"], passes["concurrent"]]
    print(
        f"\nbatching gain in throughput: x{gain:.2f}; forward passes: "
        f"{passes[0][0]} for {passes[0][1]} images one at a time, {passes[1][0]} for "
        f"{passes[1][1]} images concurrently (mean batch {passes[1][1] / max(1, passes[1][0]):.1f})"
    )
    print("\n| bad request (sent during the concurrent traffic) | expected | got | error |")
    print("|---|---|---|---|")
    for what, expected, got, message in concurrent["bad"]:
        print(f"| {what} | {expected} | {got} | {message[:90]} |")
    problems = sequential["failures"] + concurrent["failures"]
    problems += [f"{w}: expected {e}, got {g}" for w, e, g, _ in concurrent["bad"] if e != g]
    for problem in problems[:20]:
        print("FAILED:", problem)
    lost = 2 * args.requests - len(sequential["latencies"]) - len(concurrent["latencies"])
    if problems or lost:
        raise SystemExit(f"{len(problems)} problem(s), {lost} request(s) lost")


if __name__ == "__main__":
    main()
