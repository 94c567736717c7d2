"""Benchmark: a burst of users while Telegram answers uploads slowly. Is the render ever idle?

The real bot (PTB over HTTP, SQLite, the engine) runs in this process against the fake Bot API
server (tests/fake_telegram), which answers every sendVideo `--upload-delay` seconds late. Six
users each send a photo and pick the template at once. Printed: the time the one-render lock was
busy over the wall time from the first claim to the last finished render (the goal is >= 0.95:
uploads and their waits happen beside the renders, not between them), next to the sum of the
renders themselves, and when the last video arrived.

    python benchmarks/bench_burst.py [--users 6] [--frames 30] [--upload-delay 5] [--checkpoint C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))


def _cpu_model() -> str:
    from engine.cpu_features import cpu_model

    return cpu_model()


def _template(folder: Path, frames: int) -> None:
    """The first `frames` frames of 蚂蚁呀嘿 (or of a generated nodding face when it is absent)."""
    from engine.video_io import ffmpeg_exe

    folder.mkdir(parents=True)
    video = SHARED / "mayiyahei.MP4"
    if video.is_file():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-frames:v", str(frames),
                        "-t", f"{frames / 29.91:.4f}", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                        str(folder / "video.mp4")], check=True)
    else:
        import cv2
        import numpy as np
        import skimage.data

        from engine.video_io import VideoWriter

        head = cv2.resize(skimage.data.astronaut()[0:250, 100:350], (256, 256))
        writer = VideoWriter(folder / "video.mp4", 256, 256, 25.0)
        for i in range(frames):
            m = cv2.getRotationMatrix2D((128, 128), 5.0 * np.sin(i / 3), 1.0)
            writer.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT))
        writer.close()
    (folder / "template.toml").write_text('title = "bench"\nvideo = "video.mp4"\n', encoding="utf-8")


def _photo() -> bytes:
    path = SHARED / "fom_source_image.png"
    if path.is_file():
        return path.read_bytes()
    import io

    import skimage.data
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "PNG")
    return buf.getvalue()


async def burst_of_users(tg: Any, n: int) -> None:
    """n users send a photo each at once, pick the first template, and get their video."""
    photo = _photo()
    users = [tg.user(first_name=f"U{i}") for i in range(n)]
    chats = [tg.private_chat(u) for u in users]
    for i, (user, chat) in enumerate(zip(users, chats, strict=True)):
        tg.send_photo(user, chat, photo + bytes([i]))
    for user, chat in zip(users, chats, strict=True):
        keyboard = await tg.wait_for("sendMessage", 300, where=lambda c, c_=chat: c.params["chat_id"] == c_["id"]
                                     and c.params.get("reply_markup"))
        tg.press_button(user, chat, keyboard.result, tg.buttons(chat["id"], keyboard.result["message_id"])[0][1])
    for chat in chats:
        await tg.wait_for("sendVideo", 3600, where=lambda c, c_=chat: c.ok and c.params["chat_id"] == c_["id"])


def _checkpoint(arg: Path | None, tmp: Path) -> Path:
    if arg is not None:
        return arg
    from engine.model.networks import build_networks, save_checkpoint

    path = tmp / "random-vox-cpk.pdparams"  # same size and cost as the real weights
    save_checkpoint(build_networks(), path)
    return path


async def _burst(args: argparse.Namespace, tmp: Path) -> int:
    from bot.app import build_application
    from bot.lifecycle import run_until
    from engine import Engine
    from ops.metrics import REGISTRY
    from pipeline.tuning import Tuning
    from settings import load_settings
    from tests.fake_telegram import FakeTelegram

    checkpoint = _checkpoint(args.checkpoint, tmp)
    _template(tmp / "templates" / "bench", args.frames)
    engine = Engine(checkpoint, tmp / "cache", device="cpu")
    print("preparing the engine (export, template motion)...", flush=True)
    await asyncio.to_thread(engine.load)

    async with FakeTelegram(token="1:BENCH", bot_username="bench_bot") as tg:
        config = tmp / "config.toml"
        config.write_text(
            f'[telegram]\ntoken = "1:BENCH"\nbase_url = "{tg.base_url}"\nbase_file_url = "{tg.base_file_url}"\n'
            f'poll_timeout = 1\n\n[storage]\nurl = "sqlite+aiosqlite:///{tmp / "bot.db"}"\n'
            f'data_dir = "{tmp / "data"}"\n\n[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{tmp / "cache"}"\n'
            f'device = "cpu"\n\n[templates]\ndir = "{tmp / "templates"}"\n\n[http]\nport = 0\n\n'
            '[logging]\nlevel = "WARNING"\n', encoding="utf-8")
        settings = load_settings(config, env={})
        app = build_application(settings, engine, Tuning(status_interval=1.0, idle_poll=1.0))
        stop = asyncio.Event()
        runner = asyncio.create_task(run_until(app, stop, poll_timeout=1))
        while app.bot_data.services is None or not app.bot_data.services.stages.render.readiness.ready:
            await asyncio.sleep(0.1)
        busy_before = REGISTRY.get_sample_value("yahey_render_busy_seconds_total") or 0.0
        renders_before = REGISTRY.get_sample_value("yahey_render_seconds_sum") or 0.0
        tg.delay_next("sendVideo", args.upload_delay, times=args.users)
        started = time.monotonic()
        await burst_of_users(tg, args.users)
        delivered = time.monotonic() - started
        busy = (REGISTRY.get_sample_value("yahey_render_busy_seconds_total") or 0.0) - busy_before
        renders = (REGISTRY.get_sample_value("yahey_render_seconds_sum") or 0.0) - renders_before
        stop.set()
        await runner

    with sqlite3.connect(tmp / "bot.db") as db:
        first, last = db.execute("SELECT min(started_at), max(rendered_at) FROM jobs").fetchone()
    window = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    print(f"\nCPU: {_cpu_model()} x{os.cpu_count()}; {args.users} users at once; template {args.frames} frames; "
          f"every upload answered {args.upload_delay:g} s late")
    print(f"render lock busy {busy:.1f} s over {window:.1f} s from the first claim to the last render: "
          f"{busy / window:.3f} (goal >= 0.95)")
    print(f"sum of the renders themselves: {renders:.1f} s; the lock's time beyond them (downloads, "
          f"bookkeeping): {busy - renders:.1f} s")
    print(f"uploads waited {args.users * args.upload_delay:g} s in all, beside the renders; last video "
          f"delivered {delivered:.1f} s after the first photo")
    return 0 if busy / window >= 0.95 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=6)
    ap.add_argument("--frames", type=int, default=30, help="template length in frames")
    ap.add_argument("--upload-delay", type=float, default=5.0, help="seconds before each sendVideo is answered")
    ap.add_argument("--checkpoint", type=Path, help="default: random full-size weights")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        return asyncio.run(_burst(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
