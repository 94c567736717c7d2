"""Bot fixtures: the fake Bot API server, a config pointing at it, and the real bot (PTB over HTTP,
real SQLite, real engine on the random full-size checkpoint with a very short template)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bot_helpers import TOKEN, running_bot, write_config

from settings import Settings, load_settings
from tests.fake_telegram import FakeTelegram


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN, bot_username="yahey_test_bot") as server:
        yield server


@pytest.fixture
def templates_dir(tmp_path: Path, templates_root: Path) -> Path:
    """A per-test copy of the session's templates (tests add and delete templates)."""
    target = tmp_path / "templates"
    shutil.copytree(templates_root, target, ignore=shutil.ignore_patterns(".cache"))
    return target


@pytest.fixture
def make_settings(tmp_path: Path, tg: FakeTelegram, random_checkpoint: Path, templates_dir: Path,
                  engine_cache_dir: Path) -> Callable[..., Settings]:
    def make(**sections: dict[str, Any]) -> Settings:
        path = write_config(tmp_path / "config.toml", tg, random_checkpoint, templates_dir, engine_cache_dir, **sections)
        return load_settings(path, env={})

    return make


@pytest.fixture
async def bot_app(make_settings, engine_instance) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    async with running_bot(make_settings(), engine_instance) as app:
        yield app
