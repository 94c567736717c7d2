"""More than one machine: one bot process and render workers as their own processes, on PostgreSQL
and RabbitMQ (the machine's own services), against the fake Bot API. Every video is delivered
exactly once while a worker is killed mid-render, and after everything restarts.

Renders are held at each worker's gate (tests/gated_worker.py), so "mid-render" never depends on
the machine's speed; the workers' leases are short (6 s) so a dead worker's job is taken over soon.
worker-a and worker-b render with the fake engine (tests/fake_engine.py); worker-c, alone after the
restart, with the real one (the model exported into the shared cache first, by `small_engine`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from bot_helpers import REPO_ROOT, eventually, first_button, free_port, keyboard_for, write_config

from storage import Database, jobs
from tests.fake_engine import RUNNER
from tests.fake_telegram import FakeTelegram
from tests.services import RABBITMQ_URL, postgresql_database, require

# Real processes killed and restarted, leases of seconds: one worker runs them, one after another.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("processes")]


@pytest.fixture
async def pg_url() -> str:  # type: ignore[misc]
    async with postgresql_database() as url:
        yield url


@pytest.fixture
def config(tmp_path: Path, tg: FakeTelegram, small_checkpoint: Path, templates_dir: Path, engine_cache_dir: Path,
           pg_url: str) -> Path:
    require("RabbitMQ", 5672)
    suffix = uuid.uuid4().hex[:8]  # queues of this test only
    return write_config(tmp_path / "config.toml", tg, small_checkpoint, templates_dir, engine_cache_dir,
                        storage={"url": pg_url, "data_dir": str(tmp_path / "data")},
                        queue={"backend": "celery", "broker_url": RABBITMQ_URL, "render_queue": f"render-{suffix}",
                               "conversion_queue": f"convert-{suffix}",
                               # short leases: a killed worker's job is taken over within seconds
                               "render_lease_seconds": 6.0, "delivery_lease_seconds": 30.0,
                               "conversion_lease_seconds": 6.0})


class Cluster:
    """The bot and its workers as processes, their logs in one folder."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.config, self.folder = config, folder
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, *entry: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"} | {"PYTHONUNBUFFERED": "1"}
        log = (self.folder / f"{name}.log").open("ab")
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable, *entry, "--config", str(self.config), cwd=REPO_ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=log)

    async def bot(self) -> None:
        await self.start("bot", "-m", "bot")

    async def worker(self, name: str, http_port: int = 0, real_engine: bool = False) -> Path:
        gate = self.folder / f"gate-{name}"
        gate.mkdir(exist_ok=True)
        await self.start(name, str(REPO_ROOT / "tests" / "gated_worker.py"), "--gate", str(gate),
                         *(["--real-engine"] if real_engine else []), "--http-port", str(http_port))
        return gate

    async def stop(self, name: str, sig: int = signal.SIGTERM) -> int:
        proc = self.procs.pop(name)
        if proc.returncode is None:
            proc.send_signal(sig)
        return await asyncio.wait_for(proc.wait(), 180)

    async def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            self.procs.pop(name)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")


async def ask(tg: FakeTelegram, user: dict, image: bytes) -> dict:
    dm = tg.private_chat(user)
    mark = tg.mark()
    tg.send_photo(user, dm, image)
    keyboard = await keyboard_for(tg, dm, mark, timeout=120)
    tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
    return dm


def videos_per_chat(tg: FakeTelegram) -> Counter:
    return Counter(c.params["chat_id"] for c in tg.calls_to("sendVideo") if c.ok)


async def test_two_workers_six_users_a_killed_worker_and_a_full_restart(tg: FakeTelegram, config: Path, pg_url: str,
                                                                       face_photo: Path, tmp_path: Path,
                                                                       small_engine) -> None:
    cluster = Cluster(config, tmp_path)
    image = face_photo.read_bytes()
    port = free_port()
    try:
        await cluster.bot()
        gate_a = await cluster.worker("worker-a", http_port=port)
        gate_b = await cluster.worker("worker-b")
        await tg.wait_for("setMyCommands", 120)
        async with aiohttp.ClientSession() as http:  # a worker's own /healthz once its model is ready
            async def ready() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        return resp.status == 200 and (await resp.json())["engine"]["state"] in ("ready", "degraded")
                except aiohttp.ClientError:
                    return False

            await eventually(ready, 300, "worker-a ready")
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert "yahey_engine_info" in await resp.text()

        # Six users at once, both workers rendering: every video exactly once. Each worker takes one
        # render at a time: both hold one at their gate before the gates open, whatever the speed.
        users = [tg.user(first_name=f"U{n}") for n in range(6)]
        chats = [await ask(tg, user, image + bytes([n])) for n, user in enumerate(users)]
        await eventually(lambda: (gate_a / "entered-1").exists() and (gate_b / "entered-1").exists(), 300,
                         "a render held by each worker")
        (gate_a / "open").touch()
        (gate_b / "open").touch()
        await eventually(lambda: len(videos_per_chat(tg)) == 6, 600, "six videos")
        assert all(videos_per_chat(tg)[c["id"]] == 1 for c in chats)
        # both rendered (a delivery is the next free stage's, on either worker)
        assert " rendered: " in cluster.log("worker-a") and " rendered: " in cluster.log("worker-b")

        # A worker killed mid-render: its job is taken over by the other and delivered once.
        (gate_a / "open").unlink()
        (gate_b / "open").unlink()
        held_before = {g: len(list(g.glob("entered-*"))) for g in (gate_a, gate_b)}
        victim = tg.user(first_name="Vic")
        chat_v = await ask(tg, victim, image + b"victim")
        await eventually(lambda: any(len(list(g.glob("entered-*"))) > held_before[g] for g in (gate_a, gate_b)), 300,
                    "the render held at a gate")
        dying, survivor = ("worker-a", gate_b) if len(list(gate_a.glob("entered-*"))) > held_before[gate_a] \
            else ("worker-b", gate_a)
        assert await cluster.stop(dying, signal.SIGKILL) != 0
        (survivor / "open").touch()
        await eventually(lambda: videos_per_chat(tg)[chat_v["id"]] == 1, 300, "the killed worker's job delivered")

        # Everything stops; photos come while no worker runs; everything restarts: nothing lost.
        for name in list(cluster.procs):
            if name != "bot":
                assert await cluster.stop(name) == 0
        late = [tg.user(first_name=f"L{n}") for n in range(2)]
        late_chats = [await ask(tg, user, image + b"late" + bytes([n])) for n, user in enumerate(late)]
        assert await cluster.stop("bot") == 0
        await cluster.bot()
        gate_c = await cluster.worker("worker-c", real_engine=True)
        (gate_c / "open").touch()
        await eventually(lambda: all(videos_per_chat(tg)[c["id"]] == 1 for c in late_chats), 600, "late videos")
        assert f"ready ({RUNNER})" in cluster.log("worker-a")
        assert "delivered" in cluster.log("worker-c") and RUNNER not in cluster.log("worker-c")  # the real engine
        db = Database(pg_url)
        try:
            async def all_done() -> bool:  # the last commit follows the last send
                return (await jobs.stats(db)).by_status == {"done": 9}

            await eventually(all_done, 60, "nine jobs done")  # done: nobody will send them again
        finally:
            await db.close()
        counts = videos_per_chat(tg)
        assert sum(counts.values()) == 6 + 1 + 2 and set(counts.values()) == {1}
    finally:
        await cluster.stop_all()
