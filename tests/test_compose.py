"""compose.yaml (Docker cannot run here, so it is checked statically): it parses, reserves a GPU,
keeps what must survive a restart in volumes, and agrees with the Dockerfile and config.toml."""

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from bot.tuning import Tuning
from settings import DEFAULT_CONFIG, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP = PurePosixPath("/app")  # the image's WORKDIR, where config.toml's relative paths resolve


@pytest.fixture(scope="module")
def bot() -> dict:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"bot"}
    return compose["services"]["bot"] | {"_volumes": compose.get("volumes") or {}}


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _in_image(path: Path) -> PurePosixPath:
    """Where a path of the repository's config.toml lies inside the image."""
    return APP / PurePosixPath(path.relative_to(DEFAULT_CONFIG.parent).as_posix())


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_builds_this_dockerfile_and_reserves_one_gpu(bot, dockerfile):
    assert bot["build"] == "."
    assert re.search(r'^CMD \["python", "-m", "bot", "--config", "/app/config.toml"\]$', dockerfile, re.M)
    devices = bot["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert bot["restart"] in ("always", "unless-stopped")
    assert "BOT_TOKEN" in bot["environment"]


def test_volumes_are_the_images_and_hold_every_path_the_config_writes(bot, dockerfile):
    mounts = {}
    for entry in bot["volumes"]:
        source, target = entry.split(":")[:2]
        assert source in bot["_volumes"], f"{source} is a named volume declared at the top level"
        mounts[PurePosixPath(target)] = source
    declared = re.search(r"^VOLUME \[(.+)\]$", dockerfile, re.M).group(1)
    assert set(mounts) == {PurePosixPath(v.strip().strip('"')) for v in declared.split(",")}
    settings = load_settings(DEFAULT_CONFIG, env={})
    # the database, renders, checkpoint, templates and the compiled-model cache all survive a
    # restart (the cache is what makes the restart warm)
    for path in (settings.storage.data_dir, settings.engine.cache_dir,
                 settings.engine.checkpoint.parent, settings.templates.dir, settings.user_templates.dir):
        inside = _in_image(path)
        assert any(inside == m or m in inside.parents for m in mounts), f"{inside} is in no volume"
    assert re.search(r"^WORKDIR /app$", dockerfile, re.M)
    assert re.search(r"^COPY [^\n]*\bconfig\.toml\b[^\n]* \./$", dockerfile, re.M)


def test_health_check_is_the_images_on_the_configured_port(bot, dockerfile):
    port = load_settings(DEFAULT_CONFIG, env={}).http.port
    check = bot["healthcheck"]
    image = re.search(r'^HEALTHCHECK (.+?) \\\n\s+CMD python -c "(.+)"$', dockerfile, re.M)
    options = dict(re.findall(r"--([\w-]+)=(\w+)", image.group(1)))
    # the same probe, the same rhythm
    assert check["test"] == ["CMD", "python", "-c", image.group(2)]
    assert f"'http://127.0.0.1:{port}/healthz'" in image.group(2)
    assert {k: str(check[k.replace("-", "_")]) for k in options} == options
    assert re.search(rf"^EXPOSE {port}$", dockerfile, re.M)


def test_stop_grace_outlasts_the_workers_graceful_stop(bot):
    assert _seconds(bot["stop_grace_period"]) >= Tuning().stop_timeout + 30


@pytest.fixture(scope="module")
def scale() -> dict:
    return yaml.safe_load((ROOT / "compose.scale.yaml").read_text(encoding="utf-8"))


def test_the_scale_out_variant_runs_a_bot_workers_postgres_and_rabbitmq(scale):
    services = scale["services"]
    assert set(services) == {"bot", "worker", "postgres", "rabbitmq"}
    assert services["bot"]["command"][:3] == ["python", "-m", "bot"]
    assert services["worker"]["command"][:3] == ["python", "-m", "worker"]
    assert "deploy" not in services["bot"]  # the bot renders nothing: no GPU
    gpus = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpus == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]  # one GPU per worker
    assert _seconds(services["worker"]["stop_grace_period"]) >= Tuning().stop_timeout + 30
    for name in ("bot", "worker"):
        assert "./config.scale.toml:/app/config.toml:ro" in services[name]["volumes"]
        assert {"postgres", "rabbitmq"} <= set(services[name]["depends_on"])
        assert "data:/app/data" in services[name]["volumes"]  # renders shared by every worker


def test_the_scale_out_config_agrees_with_the_compose_file(scale):
    settings = load_settings(ROOT / "config.scale.toml", env={})
    services = scale["services"]
    assert settings.queue.backend == "celery"
    assert settings.storage.url.startswith("postgresql+asyncpg://")
    db = services["postgres"]["environment"]
    assert f"{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@postgres:5432/{db['POSTGRES_DB']}" in settings.storage.url
    mq = services["rabbitmq"]["environment"]
    assert settings.queue.broker_url == f"amqp://{mq['RABBITMQ_DEFAULT_USER']}:{mq['RABBITMQ_DEFAULT_PASS']}@rabbitmq:5672//"
    worker_port = services["worker"]["command"][services["worker"]["command"].index("--http-port") + 1]
    assert f":{worker_port}/healthz" in services["worker"]["healthcheck"]["test"][-1]
    assert f":{settings.http.port}/healthz" in services["bot"]["healthcheck"]["test"][-1]
    assert settings.http.host == "0.0.0.0"  # each container's /healthz reachable from outside it
