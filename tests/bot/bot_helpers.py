"""Helpers for the bot tests (fixtures are in conftest.py): the config file, running the bot in
this event loop, and reading what the fake server and the database saw."""

from __future__ import annotations

import asyncio
import inspect
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import build_application
from bot.lifecycle import run_until
from pipeline.retry_policy import RetryPolicy
from pipeline.tuning import Tuning
from settings import Settings
from storage.from_settings import sqlite_path
from tests.fake_telegram import Call, FakeTelegram

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-secret-token-value"
ADMIN_ID = 4242
FAST = Tuning(status_interval=0.5, idle_poll=0.5, heartbeat=0.5, grid_sweep_every=timedelta(seconds=0.5),
              retry=RetryPolicy(immediate_attempts=3, immediate_base_s=0.1, retry_after_cap_s=5.0,
                                park_base_s=0.3, park_cap_s=2.0))


def write_config(path: Path, tg: FakeTelegram, checkpoint: Path, templates: Path, cache_dir: Path,
                 **sections: dict[str, Any]) -> Path:
    """A config.toml for the bot under test; `sections` override keys, e.g. limits={"max_queue": 1}."""
    data: dict[str, dict[str, Any]] = {
        "telegram": {"token": TOKEN, "base_url": tg.base_url, "base_file_url": tg.base_file_url,
                     "admins": [ADMIN_ID], "poll_timeout": 1},
        "storage": {"url": f"sqlite+aiosqlite:///{path.parent / 'data' / 'bot.db'}",
                    "data_dir": str(path.parent / "data")},
        "engine": {"checkpoint": str(checkpoint), "device": "cpu", "cache_dir": str(cache_dir), "batch_size": 4,
                   "max_side": 512},
        "templates": {"dir": str(templates)},
        "limits": {"template_min_seconds": 0.1},
        "http": {"port": 0},
        "logging": {"level": "INFO"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = []
    for name, values in data.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@asynccontextmanager
async def running_bot(settings: Settings, engine: Any, tuning: Tuning = FAST) -> AsyncIterator[Any]:
    """The real Application polling the fake server in this event loop until the block ends."""
    app = build_application(settings, engine=engine, tuning=tuning)
    stop = asyncio.Event()
    task = asyncio.create_task(run_until(app, stop, poll_timeout=settings.telegram.poll_timeout))
    try:
        await eventually(lambda: app.running or task.done(), 120, "the application started")  # post_init ran
        if task.done():
            task.result()
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def photo_bytes(path: Path) -> bytes:
    return path.read_bytes()


async def keyboard_for(tg: FakeTelegram, chat: dict, since: int = 0, timeout: float = 30) -> Call:
    """The bot's message offering template buttons in `chat`."""
    return await tg.wait_for("sendMessage", timeout, since=since,
                             where=lambda c: c.params["chat_id"] == chat["id"] and c.params.get("reply_markup"))


def first_button(tg: FakeTelegram, chat: dict, call: Call) -> str:
    buttons = tg.buttons(chat["id"], call.result["message_id"])
    assert buttons, f"no buttons on {call}"
    return buttons[0][1]


async def reply_text(tg: FakeTelegram, chat: dict, since: int, timeout: float = 30) -> str:
    call = await tg.wait_for("sendMessage", timeout, since=since, where=lambda c: c.params["chat_id"] == chat["id"])
    return call.params["text"]


def services_of(app: Any) -> Any:
    return app.bot_data.services


def settings_of(app: Any) -> Settings:
    return app.bot_data.services.settings


def jobs_rows(settings: Settings) -> list[dict]:
    import sqlite3

    db_path = sqlite_path(settings.storage.url)
    with sqlite3.connect(db_path) as raw:
        raw.row_factory = sqlite3.Row
        return [dict(r) for r in raw.execute("SELECT * FROM jobs ORDER BY id")]


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    """Wait until `check()` (a plain or an async function) is true: for a state the test cannot be
    told about, e.g. the bookkeeping a worker does just after its last message. Fails after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _value(check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: still false after {timeout}s")
        await asyncio.sleep(0.05)


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
