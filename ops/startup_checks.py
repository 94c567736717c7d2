"""What `python -m bot` and `python -m worker` check before starting anything, each failure one
line for a person (exit code 2)."""

from __future__ import annotations

from pathlib import Path

from settings import ConfigError, Settings, load_settings


class StartupError(Exception):
    """Why the process cannot start; the message is the one line to print."""


def checked_settings(config: str | Path | None, renders_here: bool | None = None) -> Settings:
    """Load and check the config: its values, the token and, for a process that renders, the
    checkpoint. `renders_here` None: as `[queue].backend` says (the bot renders only in local mode)."""
    try:
        settings = load_settings(config)
    except ConfigError as err:
        raise StartupError(str(err)) from None
    where = settings.config_path or "config.toml"
    from engine import EngineError
    from engine.from_settings import render_options

    try:
        render_options(settings)  # [engine].background and the like
    except EngineError as err:
        raise StartupError(f"{where}: [engine] {err}") from None
    if not settings.telegram.token:
        raise StartupError(f"no bot token: set BOT_TOKEN in the environment or [telegram].token in {where}")
    if renders_here is None:
        renders_here = settings.queue.backend == "local"
    if renders_here and not settings.engine.checkpoint.is_file():
        raise StartupError(f"checkpoint {settings.engine.checkpoint} not found: run `python -m engine weights fetch`")
    return settings
