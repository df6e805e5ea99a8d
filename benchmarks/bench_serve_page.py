"""What the web page costs the server per image, with ``salmap serve``'s output cache and
without it, side by side.

For each image dropped on it, the page sends three requests at once: the map (``npy``), its
summary (``json``) and the crops. Two live servers of the same model run together on
127.0.0.1, one with ``--cache 32`` (the default) and one with ``--cache 0``; each photo (the
bundled NUS-Scene images and the test photos, every one different) goes to both in turn, so
both see the same machine load. Per server: the median and 95th-percentile time from sending
the three requests to the last answer, and the forward passes the model ran.

    nice .venv/bin/python benchmarks/bench_serve_page.py [--model default] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import PHOTOS, free_port, start_server  # noqa: E402

PAGE = ("/saliency?format=npy", "/saliency?format=json", "/crop")


async def page_load(client: httpx.AsyncClient, url: str, name: str, data: bytes) -> float:
    """Seconds until the page's three answers for one image are in (each checked)."""
    t = time.perf_counter()
    answers = await asyncio.gather(
        *(
            client.post(f"{url}/api/v1{path}", files={"image": (name, data, "image/jpeg")})
            for path in PAGE
        )
    )
    for path, r in zip(PAGE, answers):
        if r.status_code != 200:
            raise SystemExit(f"{name} {path}: {r.status_code} {r.text[:200]}")
    return time.perf_counter() - t


async def warm_up(servers: dict, data: bytes) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        for url in servers.values():
            await page_load(client, url, "warm.jpg", data + b"warm-up")


async def run(servers: dict, photos: list, rounds: int) -> dict:
    times = {name: [] for name in servers}
    async with httpx.AsyncClient(timeout=120) as client:
        for k in range(rounds):
            for i, (path, data) in enumerate(photos):
                # every request of the benchmark is a new file: a cache hit across photos or
                # rounds would flatter the cache (a JPEG decoder ignores bytes after its end)
                data = data + f"round {k}".encode()
                order = list(servers.items())
                for name, url in order if i % 2 == 0 else order[::-1]:
                    times[name].append(await page_load(client, url, path.name, data))
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--rounds", type=int, default=2, help="passes over the photos")
    args = p.parse_args()
    photos = [(path, path.read_bytes()) for path in PHOTOS]
    procs, servers = [], {}
    try:
        for name, cache in (("--cache 32 (default)", 32), ("--cache 0", 0)):
            proc, url = start_server(args.model, free_port(), 8, 5.0, cache=cache)
            procs.append(proc)
            servers[name] = url
        asyncio.run(warm_up(servers, photos[0][1]))  # not counted
        before = {n: httpx.get(f"{u}/api/v1/health").json() for n, u in servers.items()}
        times = asyncio.run(run(servers, photos, args.rounds))
        after = {n: httpx.get(f"{u}/api/v1/health").json() for n, u in servers.items()}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    n = len(photos) * args.rounds
    print(f"model {args.model}; {n} page loads per server ({len(photos)} photos x {args.rounds})\n")
    print("| server | page loads | forward passes | images through the model | p50 s | p95 s |")
    print("|---|---|---|---|---|---|")
    for name, t in times.items():
        t = sorted(t)
        passes = after[name]["forward_passes"] - before[name]["forward_passes"]
        images = after[name]["images"] - before[name]["images"]
        p95 = t[min(len(t) - 1, round(0.95 * (len(t) - 1)))]
        print(f"| {name} | {n} | {passes} | {images} | {statistics.median(t):.3f} | {p95:.3f} |")


if __name__ == "__main__":
    main()
