"""The one typed configuration object, read once from config.toml (and BOT_TOKEN, SECRET_ENV).

Nothing else in the project reads the environment on its own account: the bot, the engine CLI and
the tests all call `load_settings`, then pass plain values down. Libraries that read it themselves
are the exception, named where they are used: paddle reads OMP_NUM_THREADS at import (set by
engine/paddle_compat.py from [engine].threads before paddle loads).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG = Path(__file__).resolve().parent / "config.toml"
SQLITE_PREFIXES = ("sqlite+aiosqlite:///", "sqlite:///")


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message is one line for a human."""


class _Section(BaseModel):
    # Unknown keys are an error: a typo in config.toml must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramSettings(_Section):
    token: str = ""
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    admins: list[int] = Field(default_factory=list)
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""  # public https URL Telegram posts to, path included
    webhook_path: str = "/telegram"  # where the local HTTP server receives the updates
    webhook_secret: str = ""
    poll_timeout: int = Field(default=30, ge=0)
    # Read and write timeouts of one video upload: a 50 MB file on a slow link, then Telegram's own
    # processing (8-12 s seen). A timeout shorter than the real answer re-sends the video.
    upload_timeout: float = Field(default=300.0, gt=0)
    concurrent_updates: int = Field(default=0, ge=0)  # 0: sized for the machine (4 per core, 8-32)


class StorageSettings(_Section):
    url: str = "sqlite+aiosqlite:///data/bot.db"
    data_dir: Path = Path("data")  # jobs' downloads and renders live under here
    retention_days: int = Field(default=7, ge=1)


class EngineSettings(_Section):
    checkpoint: Path = Path("weights/vox-cpk.pdparams")
    device: Literal["auto", "gpu", "cpu"] = "auto"
    # Which GPU, among those the process sees (CUDA_VISIBLE_DEVICES renumbers them from 0).
    gpu_id: int = Field(default=0, ge=0)
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = "auto"
    threads: int = Field(default=0, ge=0)  # 0: every CPU the process may use (its CPU limit)
    max_faces: int = Field(default=5, ge=1)
    max_side: int = Field(default=1280, ge=256)
    relative: bool = True
    adapt_scale: bool = True
    best_frame: bool = False
    batch_size: int = Field(default=0, ge=0)  # frames per generator call; 0: 4 on a CPU, 16 on a GPU
    cache_dir: Path = Path("data/cache")  # exported models, driving keypoints
    # Person segmentation for the plain background: "selfie" (the bundled MediaPipe model) or
    # "humanseg" (PP-HumanSegV2, fetched with `python -m engine weights fetch --humanseg`).
    segmenter: Literal["selfie", "humanseg"] = "selfie"
    humanseg_model: Path = Path("weights/humanseg")
    clean_background: bool = False  # the default of the per-job "plain background" choice
    background: str = "#f2f2f2"  # a colour (#rrggbb, #rgb, white, grey...) or "blur"


class RenderSettings(_Section):
    # At most this many frames a second (0: off, the template's own rate): for CPU hosts that
    # prefer speed; driving frames are dropped evenly, the song stays in sync and untouched.
    max_fps: float = Field(default=0.0, ge=0)


class TemplatesSettings(_Section):
    dir: Path = Path("templates")


class UserTemplatesSettings(_Section):
    """Templates users make from their own clips (/template NAME): kept apart from the public ones,
    one folder per clip content, shared by every owner of that clip."""

    dir: Path = Path("data/user-templates")
    max_seconds: float = Field(default=15.0, gt=0)
    max_mb: int = Field(default=20, ge=1)  # Telegram lets bots download 20 MB at most
    per_owner: int = Field(default=5, ge=1)  # a user's (or a group's) own templates
    expire_days: int = Field(default=30, ge=1)  # unused this long: deleted with their files
    max_name: int = Field(default=32, ge=1, le=64)  # characters of a template's name


class LimitsSettings(_Section):
    max_queue: int = Field(default=50, ge=1)
    daily_quota: int = Field(default=20, ge=1)
    max_file_mb: int = Field(default=20, ge=1)  # Telegram's getFile limit for bots
    max_megapixels: float = Field(default=40.0, gt=0)
    min_side: int = Field(default=64, ge=16)
    template_min_seconds: float = Field(default=1.0, gt=0)
    template_max_seconds: float = Field(default=30.0, gt=0)
    # A video that Telegram cannot take (outage, network) is retried with growing pauses until
    # this many hours after it was rendered (the photo download likewise after the request).
    delivery_deadline_hours: float = Field(default=24.0, gt=0)
    # A render or conversion claimed this often without an outcome (a crash, a kill, a timeout)
    # fails with a notice; so does a delivery claimed `max_delivery_attempts` times without one
    # (waits for Telegram do not count).
    max_attempts: int = Field(default=3, ge=1)
    max_delivery_attempts: int = Field(default=5, ge=1)
    deliveries_at_once: int = Field(default=3, ge=1)  # concurrent uploads (never under the render lock)
    conversions_at_once: int = Field(default=1, ge=1)  # notes/stickers/GIFs made at once, beside renders
    max_tiles: int = Field(default=9, ge=2, le=9)  # photos in one grid video (a 3x3 grid at most)
    # Per-user flood control on photos: a burst, then a steady rate (a token bucket).
    photo_burst: int = Field(default=3, ge=1)
    photos_per_minute: float = Field(default=6.0, gt=0)


class QueueSettings(_Section):
    # "local": this process renders (one box, the default). "celery": this process only takes
    # updates and queues jobs; `python -m worker` processes (any host) render and deliver them.
    backend: Literal["local", "celery"] = "local"
    broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"  # RabbitMQ; redis://... works too
    render_queue: str = "render"  # name one per GPU kind to route renders (workers: --queues)
    conversion_queue: str = "convert"  # ffmpeg only: CPU-only hosts may take these
    # How long a stage's hold on a job lasts without a renewal (renewed every 10 s while it works;
    # an expired one means the stage died, and another takes the job over). On the database's clock.
    render_lease_seconds: float = Field(default=120.0, ge=1.0)
    delivery_lease_seconds: float = Field(default=900.0, ge=1.0)
    conversion_lease_seconds: float = Field(default=120.0, ge=1.0)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0 turns the server off


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v


class Settings(_Section):
    telegram: TelegramSettings = TelegramSettings()
    storage: StorageSettings = StorageSettings()
    engine: EngineSettings = EngineSettings()
    render: RenderSettings = RenderSettings()
    templates: TemplatesSettings = TemplatesSettings()
    user_templates: UserTemplatesSettings = UserTemplatesSettings()
    limits: LimitsSettings = LimitsSettings()
    queue: QueueSettings = QueueSettings()
    http: HttpSettings = HttpSettings()
    logging: LoggingSettings = LoggingSettings()
    config_path: Path | None = None  # where these settings were read from

    @model_validator(mode="after")
    def _webhook_needs_server_and_secret(self) -> Settings:
        if self.telegram.mode == "webhook":
            if not self.telegram.webhook_url or not self.telegram.webhook_secret:
                raise ValueError("webhook mode needs [telegram].webhook_url and webhook_secret")
            if self.http.port == 0:
                raise ValueError("webhook mode needs the HTTP server: set [http].port")
        return self


def _resolve_sqlite_url(url: str, base: Path) -> str:
    for prefix in SQLITE_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix):]
            if path and path != ":memory:" and not Path(path).is_absolute():
                return prefix + str((base / path).resolve())
    return url


def _resolve(settings: Settings, base: Path) -> Settings:
    def abs_(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    return settings.model_copy(
        update={
            "storage": settings.storage.model_copy(
                update={
                    "url": _resolve_sqlite_url(settings.storage.url, base),
                    "data_dir": abs_(settings.storage.data_dir),
                }
            ),
            "engine": settings.engine.model_copy(
                update={
                    "checkpoint": abs_(settings.engine.checkpoint),
                    "cache_dir": abs_(settings.engine.cache_dir),
                    "humanseg_model": abs_(settings.engine.humanseg_model),
                }
            ),
            "templates": settings.templates.model_copy(update={"dir": abs_(settings.templates.dir)}),
            "user_templates": settings.user_templates.model_copy(update={"dir": abs_(settings.user_templates.dir)}),
        }
    )


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key '{where}'"
    msg = first["msg"].removeprefix("Value error, ")
    return f"'{where}': {msg}" if where else msg


# Secrets a deployment keeps out of config files (compose.scale.yaml builds the URLs from its
# passwords): NAME in the environment, or NAME_FILE naming a file that holds it (Docker secrets).
# Each wins over its config key.
SECRET_ENV = {
    "BOT_TOKEN": ("telegram", "token"),
    "YAHEY_DATABASE_URL": ("storage", "url"),
    "YAHEY_BROKER_URL": ("queue", "broker_url"),
}


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value or not env.get(f"{name}_FILE"):
        return value
    path = Path(env[f"{name}_FILE"])
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror or exc}") from None


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file once; relative paths resolve against its folder.

    `env` defaults to the process environment; BOT_TOKEN there wins over [telegram].token, and
    likewise the other SECRET_ENV names (or NAME_FILE) over their keys.
    """
    env = os.environ if env is None else env
    config_path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid TOML: {exc}") from None
    if "config_path" in raw:
        raise ConfigError(f"{config_path}: unknown key 'config_path'")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{config_path}: {_describe(exc)}") from None
    for name, (section, key) in SECRET_ENV.items():
        value = _secret(env, name)
        if value:
            part = getattr(settings, section).model_copy(update={key: value})
            settings = settings.model_copy(update={section: part})
    settings = settings.model_copy(update={"config_path": config_path.resolve()})
    return _resolve(settings, config_path.resolve().parent)
