"""Bot fixtures: the fake Bot API server, a config pointing at it, and the real bot (PTB over HTTP,
real SQLite, a very short template) rendering with the fake engine (tests/fake_engine.py: real
videos, no networks) or, in `real_bot_app`, the real engine on the small random checkpoint."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from bot_helpers import TOKEN, running_bot, write_config

from pipeline.renderer import EngineRenderer, Renderer
from settings import Settings, load_settings
from storage.from_settings import sqlite_path
from tests.fake_engine import FakeEngine
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
def make_settings(tmp_path: Path, tg: FakeTelegram, placeholder_checkpoint: Path, templates_dir: Path,
                  engine_cache_dir: Path, migrated_sqlite: Path) -> Callable[..., Settings]:
    """The bot's settings; the checkpoint they name is a placeholder (the tests hand the bot its engine).
    A SQLite database starts as a copy of the empty migrated one (the bot's start finds it at head)."""

    def make(**sections: dict[str, Any]) -> Settings:
        path = write_config(tmp_path / "config.toml", tg, placeholder_checkpoint, templates_dir, engine_cache_dir,
                            **sections)
        settings = load_settings(path, env={})
        database = sqlite_path(settings.storage.url)
        if database is not None and not database.exists():
            database.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(migrated_sqlite, database)
        return settings

    return make


@pytest.fixture
def fake_engine(engine_cache_dir: Path) -> FakeEngine:
    """A fresh fake engine (its gates, failures and load error are the test's to set) on the
    session's engine cache, which the settings of `make_settings` name too."""
    return FakeEngine(engine_cache_dir)


@pytest.fixture
def real_engine(small_engine: Any) -> Renderer:
    """The session's loaded real Engine (small random checkpoint) behind the Renderer protocol."""
    return EngineRenderer(small_engine)


@pytest.fixture
async def bot_app(make_settings, fake_engine: FakeEngine) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    async with running_bot(make_settings(), fake_engine) as app:
        yield app


@pytest.fixture
async def real_bot_app(make_settings, real_engine: Renderer) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    async with running_bot(make_settings(), real_engine) as app:
        yield app
