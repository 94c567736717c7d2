"""compose.yaml and compose.scale.yaml (Docker cannot run here, so they are checked statically, as
parsed by a YAML parser, `${VAR}` interpolation done here): they reserve GPUs, keep what must
survive a restart in volumes, agree with the Dockerfile and their configs, start in the order the
README gives, hold no secret, and rotate their logs."""

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from pipeline.tuning import Tuning
from settings import DEFAULT_CONFIG, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP = PurePosixPath("/app")  # the image's WORKDIR, where config.toml's relative paths resolve
# ${VAR:?message}: Compose refuses to start while VAR is unset or empty.
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")


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


def test_an_unset_token_stops_compose_up_and_logs_rotate(bot):
    assert REQUIRED.fullmatch(bot["environment"]["BOT_TOKEN"]).group(1) == "BOT_TOKEN"
    _assert_rotates(bot)


def _assert_rotates(service: dict) -> None:
    logging = service["logging"]
    assert logging["driver"] == "json-file"
    size = re.fullmatch(r"(\d+)([km])", logging["options"]["max-size"])
    assert size and int(size.group(1)) * {"k": 1e3, "m": 1e6}[size.group(2)] <= 100e6
    assert 1 <= int(logging["options"]["max-file"]) <= 10


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR:?msg}` and `${VAR}` substitution, enough for these files."""
    return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: env[m.group(1)], value)


SCALE_TEXT = (ROOT / "compose.scale.yaml").read_text(encoding="utf-8")
SECRETS = {"BOT_TOKEN": "123:secret-token", "POSTGRES_PASSWORD": "0f1e2d3c4b5a", "RABBITMQ_PASSWORD": "a1b2c3d4e5",
           "FLOWER_PASSWORD": "f00d"}
WORKERS = [f"worker-gpu{n}" for n in range(4)]
# The slowest path measured (fp32 on a 2-vCPU CPU, README "Grids") and the highest frame rate a
# template added from chat is expected to have: with [limits], the longest render there can be.
SLOWEST_FACE_FRAME_S = 1.0
MAX_TEMPLATE_FPS = 60


@pytest.fixture(scope="module")
def scale() -> dict:
    return yaml.safe_load(SCALE_TEXT)


@pytest.fixture(scope="module")
def scale_settings():
    return load_settings(ROOT / "config.scale.toml", env={})


def test_the_scale_out_variant_runs_init_bot_workers_postgres_rabbitmq_and_flower(scale):
    services = scale["services"]
    assert set(services) == {"init", "bot", "postgres", "rabbitmq", "flower", *WORKERS}
    assert services["bot"]["command"][:3] == ["python", "-m", "bot"]
    assert "deploy" not in services["bot"]  # the bot renders nothing: no GPU
    for name in WORKERS:
        worker = services[name]
        assert worker["command"][:3] == ["python", "-m", "worker"]
        assert _seconds(worker["stop_grace_period"]) >= Tuning().stop_timeout + 30
    for name in ("init", "bot", *WORKERS):
        assert "./config.scale.toml:/app/config.toml:ro" in services[name]["volumes"]
        assert {"data:/app/data", "weights:/app/weights", "templates:/app/templates"} <= set(services[name]["volumes"])


def test_init_fetches_weights_and_templates_before_the_bot_and_workers_start(scale, scale_settings):
    services = scale["services"]
    init = services["init"]
    script = " ".join(init["command"])
    assert "python -m engine weights fetch --config /app/config.toml" in script
    assert "python -m engine templates fetch --config /app/config.toml" in script
    # the paths it checks are the ones config.scale.toml reads, inside the image
    assert f"test -f {APP / scale_settings.engine.checkpoint.relative_to(ROOT).as_posix()} ||" in script
    assert init["restart"] == "no" and not init["depends_on"]  # one shot, needing nothing else
    for name in ("bot", *WORKERS):
        depends = services[name]["depends_on"]
        assert depends["init"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}
        assert depends["rabbitmq"] == {"condition": "service_healthy"}
    assert services["flower"]["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}


def test_one_worker_per_gpu_each_on_its_own_device(scale):
    services = scale["services"]
    ids = []
    for name in WORKERS:
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1 and devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
        assert "count" not in devices[0]  # a count would give every replica the same first GPU
        assert len(devices[0]["device_ids"]) == 1
        ids.append(devices[0]["device_ids"][0])
        # inside the container its one GPU is device 0
        assert services[name]["environment"]["CUDA_VISIBLE_DEVICES"] == "0"
    assert ids == [str(n) for n in range(len(WORKERS))]  # distinct, in order
    # COMPOSE_PROFILES=gpus-N starts workers 0..N-1; with no profile, worker-gpu0 alone
    assert "profiles" not in services["worker-gpu0"]
    for n in range(2, len(WORKERS) + 1):
        started = [w for w in WORKERS if f"gpus-{n}" in services[w].get("profiles", [f"gpus-{n}"])]
        assert started == WORKERS[:n]


def test_rabbitmq_is_4x_and_keeps_a_delivery_longer_than_the_longest_render(scale, scale_settings):
    rabbitmq = scale["services"]["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:4\.\d+\.\d+-management", rabbitmq["image"])  # an exact, supported 4.x
    mounts = dict(reversed(v.split(":")[:2]) for v in rabbitmq["volumes"])
    conf_dir = [target for target in mounts if target.startswith("/etc/rabbitmq/conf.d/")]
    assert len(conf_dir) == 1 and conf_dir[0].endswith(".conf")
    conf = (ROOT / mounts[conf_dir[0]]).read_text(encoding="utf-8")
    timeout_ms = int(re.search(r"^consumer_timeout\s*=\s*(\d+)\s*$", conf, re.M).group(1))
    limits = scale_settings.limits
    faces = max(limits.max_tiles, scale_settings.engine.max_faces)
    longest_render_s = limits.template_max_seconds * MAX_TEMPLATE_FPS * faces * SLOWEST_FACE_FRAME_S
    assert timeout_ms / 1000 >= longest_render_s > 30 * 60  # RabbitMQ's default would cut it


def test_management_ui_flower_and_metrics_are_published(scale):
    services = scale["services"]

    def published(service: str) -> set[int]:
        return {int(p.rsplit(":", 1)[1]) for p in services[service].get("ports", [])}

    assert 15672 in published("rabbitmq")
    flower = services["flower"]
    assert flower["command"][:2] == ["celery", "flower"] and "--port=5555" in flower["command"]
    assert 5555 in published("flower")
    assert 8080 in published("bot")
    for service in ("rabbitmq", "flower", "bot"):  # reachable from this host, not from the internet
        assert all(p.startswith("127.0.0.1:") for p in services[service]["ports"])
    assert "flower==" in (ROOT / "requirements.txt").read_text(encoding="utf-8")  # pinned, in the image


def test_no_secret_is_written_down_and_an_unset_one_stops_compose_up(scale, scale_settings):
    # no password in any URL of the compose file or the config: only ${VAR:?}
    for text in (SCALE_TEXT, (ROOT / "config.scale.toml").read_text(encoding="utf-8")):
        urls = re.findall(r"://((?:\$\{[^}]*\}|[^/@\s$])+)@", text)
        assert urls
        for user_info in urls:
            assert ":" not in user_info or REQUIRED.fullmatch(user_info.split(":", 1)[1]), user_info
    assert not scale_settings.telegram.token
    services = scale["services"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASS|TOKEN|SECRET|AUTH|_URL|_API", key):
                assert REQUIRED.search(str(value)), f"{name}: {key} is written down"
    assert REQUIRED.fullmatch(services["bot"]["environment"]["BOT_TOKEN"]).group(1) == "BOT_TOKEN"
    for name in ("bot", *WORKERS):
        assert services[name]["environment"]["BOT_TOKEN"] == services["bot"]["environment"]["BOT_TOKEN"]


def test_the_secrets_from_the_environment_make_the_urls_config_scale_toml_leaves_out(scale):
    services = scale["services"]
    db, mq = services["postgres"]["environment"], services["rabbitmq"]["environment"]
    env = {k: _interpolate(v, SECRETS) for k, v in services["worker-gpu1"]["environment"].items()}
    settings = load_settings(ROOT / "config.scale.toml", env=env)
    assert settings.telegram.token == SECRETS["BOT_TOKEN"]
    password = _interpolate(db['POSTGRES_PASSWORD'], SECRETS)
    assert settings.storage.url == (f"postgresql+asyncpg://{db['POSTGRES_USER']}:{password}"
                                    f"@postgres:5432/{db['POSTGRES_DB']}")
    assert settings.queue.broker_url == (f"amqp://{mq['RABBITMQ_DEFAULT_USER']}:"
                                         f"{_interpolate(mq['RABBITMQ_DEFAULT_PASS'], SECRETS)}@rabbitmq:5672//")
    flower = {k: _interpolate(v, SECRETS) for k, v in services["flower"]["environment"].items()}
    assert flower["BROKER_URL"] == settings.queue.broker_url  # celery's CLI reads BROKER_URL
    assert settings.queue.backend == "celery"
    assert settings.storage.url.startswith("postgresql+asyncpg://")


def test_every_scale_out_service_rotates_its_logs(scale):
    for service in scale["services"].values():
        _assert_rotates(service)


def test_health_checks_agree_with_the_config_and_the_worker_port(scale, scale_settings):
    services = scale["services"]
    for name in WORKERS:
        command = services[name]["command"]
        assert f":{command[command.index('--http-port') + 1]}/healthz" in services[name]["healthcheck"]["test"][-1]
    assert f":{scale_settings.http.port}/healthz" in services["bot"]["healthcheck"]["test"][-1]
    assert scale_settings.http.host == "0.0.0.0"  # each container's /healthz reachable from outside it
