"""The Database built from settings.py's typed config (the bot and the worker call this)."""

from __future__ import annotations

from pathlib import Path

from settings import SQLITE_PREFIXES, Settings

from .db import Database


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    for prefix in SQLITE_PREFIXES:
        if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
            return Path(url[len(prefix):])
    return None


def make_database(settings: Settings) -> Database:
    path = sqlite_path(settings.storage.url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return Database(settings.storage.url)
