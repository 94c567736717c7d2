"""Benchmark: render throughput with 1 and 2 worker processes (PostgreSQL + RabbitMQ + Celery).

The bot (`[queue].backend = "celery"`) and `python -m worker` processes run for real against the
fake Bot API (tests/fake_telegram) on this machine's PostgreSQL and RabbitMQ. `--jobs` users each ask
for a video at once; printed per run: jobs per minute from the first request to the last video, and
each worker's busy fraction (the time its render lock was held, from its own /metrics, over that
wall time).

    python benchmarks/bench_workers.py [--jobs 8] [--frames 30] [--workers 1 2] [--checkpoint C]

On one machine the workers share its CPU cores (and its one GPU, if any): a second worker only adds
throughput when a single render does not use the whole machine. Each added GPU *host* adds its own
cores or GPU, so there the throughput grows with the number of hosts (the bot and the database do
little per job: one row, a few queries).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_burst import _checkpoint, _cpu_model, _template, burst_of_users  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _busy(port: int) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    m = re.search(r"^yahey_render_busy_seconds_total ([\d.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def _ready(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200 and (await resp.json())["engine"]["state"] in ("ready", "degraded"):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)


async def _run(args: argparse.Namespace, workers: int, tmp: Path, checkpoint: Path) -> tuple[float, list[float]]:
    from tests.fake_telegram import FakeTelegram
    from tests.services import RABBITMQ_URL, postgresql_database

    async with postgresql_database() as pg, FakeTelegram(token="1:BENCH", bot_username="bench_bot") as tg:
        run = tmp / f"run-{workers}"
        run.mkdir()
        suffix = uuid.uuid4().hex[:8]
        config = run / "config.toml"
        config.write_text(
            f'[telegram]\ntoken = "1:BENCH"\nbase_url = "{tg.base_url}"\nbase_file_url = "{tg.base_file_url}"\n'
            f'poll_timeout = 1\n\n[storage]\nurl = "{pg}"\ndata_dir = "{run / "data"}"\n\n'
            f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{tmp / "cache"}"\ndevice = "cpu"\n\n'
            f'[templates]\ndir = "{tmp / "templates"}"\n\n[queue]\nbackend = "celery"\nbroker_url = "{RABBITMQ_URL}"\n'
            f'render_queue = "render-{suffix}"\nconversion_queue = "convert-{suffix}"\n\n[http]\nport = 0\n\n'
            '[logging]\nlevel = "WARNING"\n', encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
        procs = [await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(config), cwd=ROOT,
                                                      env=env, stderr=(run / "bot.log").open("wb"))]
        ports = [_free_port() for _ in range(workers)]
        for n, port in enumerate(ports):
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "worker", "--config", str(config), "--http-port", str(port), cwd=ROOT, env=env,
                stderr=(run / f"worker-{n}.log").open("wb")))
        try:
            await tg.wait_for("setMyCommands", 300)
            await asyncio.gather(*(_ready(p) for p in ports))
            busy_before = [await _busy(p) for p in ports]
            started = time.monotonic()
            await burst_of_users(tg, args.jobs)
            wall = time.monotonic() - started
            busy = [(await _busy(p)) - b for p, b in zip(ports, busy_before, strict=True)]
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.terminate()
            await asyncio.gather(*(p.wait() for p in procs))
    return wall, busy


async def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp_s:
        tmp = Path(tmp_s)
        checkpoint = _checkpoint(args.checkpoint, tmp)
        _template(tmp / "templates" / "bench", args.frames)
        results = []
        for workers in args.workers:
            print(f"{workers} worker(s), {args.jobs} jobs...", flush=True)
            results.append((workers, *(await _run(args, workers, tmp, checkpoint))))
    print(f"\nCPU: {_cpu_model()} x{os.cpu_count()}, no GPU; template {args.frames} frames; {args.jobs} jobs at once")
    print(f"{'workers':>8} {'wall s':>8} {'jobs/min':>9}  busy fraction per worker")
    for workers, wall, busy in results:
        fractions = ", ".join(f"{b / wall:.2f}" for b in busy)
        print(f"{workers:>8} {wall:8.1f} {60 * args.jobs / wall:9.2f}  {fractions}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--frames", type=int, default=30, help="template length in frames")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--checkpoint", type=Path, help="default: random full-size weights")
    return asyncio.run(_main(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
