"""The typed config loader: defaults, BOT_TOKEN override, unknown keys, relative paths."""

from pathlib import Path

import pytest

from settings import DEFAULT_CONFIG, ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_the_contract_defaults(tmp_path):
    s = load_settings(DEFAULT_CONFIG, env={})
    root = DEFAULT_CONFIG.parent
    assert s.telegram.token == ""
    assert s.telegram.base_url == "https://api.telegram.org/bot"
    assert s.telegram.base_file_url == "https://api.telegram.org/file/bot"
    assert s.telegram.admins == []
    assert s.storage.url == f"sqlite+aiosqlite:///{root / 'data' / 'bot.db'}"
    assert s.engine.checkpoint == root / "weights" / "vox-cpk.pdparams"
    assert s.engine.device == "auto"
    assert s.templates.dir == root / "templates"
    assert (s.http.host, s.http.port) == ("127.0.0.1", 8080)


def test_empty_file_gives_the_same_defaults_as_the_shipped_one(tmp_path):
    empty = load_settings(write(tmp_path, ""), env={})
    shipped = load_settings(DEFAULT_CONFIG, env={})
    assert empty.telegram == shipped.telegram
    paths = {"checkpoint", "cache_dir", "humanseg_model"}  # resolved against each file's own folder
    assert empty.engine.model_dump(exclude=paths) == shipped.engine.model_dump(exclude=paths)
    assert empty.limits == shipped.limits
    assert empty.user_templates.model_dump(exclude={"dir"}) == shipped.user_templates.model_dump(exclude={"dir"})
    assert empty.queue == shipped.queue


def test_bot_token_in_the_environment_wins(tmp_path):
    path = write(tmp_path, '[telegram]\ntoken = "from-file"\n')
    assert load_settings(path, env={}).telegram.token == "from-file"
    assert load_settings(path, env={"BOT_TOKEN": "123:env"}).telegram.token == "123:env"
    assert load_settings(path, env={"BOT_TOKEN": "  "}).telegram.token == "from-file"


def test_secrets_come_from_the_environment_or_a_secret_file(tmp_path):
    path = write(tmp_path, '[storage]\nurl = "postgresql+asyncpg://u@db/x"\n[queue]\nbroker_url = "amqp://u@mq//"\n')
    secret = tmp_path / "db_url"
    secret.write_text("postgresql+asyncpg://u:pw-from-file@db/x\n", encoding="utf-8")
    token = tmp_path / "token"
    token.write_text("123:from-secret\n", encoding="utf-8")
    s = load_settings(path, env={"YAHEY_DATABASE_URL_FILE": str(secret), "YAHEY_BROKER_URL": "amqp://u:pw@mq//",
                                 "BOT_TOKEN_FILE": str(token)})
    assert s.storage.url == "postgresql+asyncpg://u:pw-from-file@db/x"
    assert s.queue.broker_url == "amqp://u:pw@mq//"
    assert s.telegram.token == "123:from-secret"
    # the variable itself wins over its file; neither: the config's own value
    assert load_settings(path, env={"BOT_TOKEN": "123:env", "BOT_TOKEN_FILE": str(token)}).telegram.token == "123:env"
    assert load_settings(path, env={}).storage.url == "postgresql+asyncpg://u@db/x"
    with pytest.raises(ConfigError, match=r"^YAHEY_BROKER_URL_FILE: cannot read .*missing"):
        load_settings(path, env={"YAHEY_BROKER_URL_FILE": str(tmp_path / "missing")})


def test_unknown_key_is_rejected_with_its_name(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'engine\.chekpoint'"):
        load_settings(write(tmp_path, '[engine]\nchekpoint = "x"\n'), env={})
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        load_settings(write(tmp_path, "[bogus]\na = 1\n"), env={})


def test_bad_values_and_bad_toml_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"engine\.device"):
        load_settings(write(tmp_path, '[engine]\ndevice = "tpu"\n'), env={})
    with pytest.raises(ConfigError, match="http.port"):
        load_settings(write(tmp_path, "[http]\nport = 70000\n"), env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[engine\n"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    folder = tmp_path / "deploy"
    folder.mkdir()
    path = folder / "bot.toml"
    path.write_text(
        '[storage]\nurl = "sqlite+aiosqlite:///db/bot.db"\ndata_dir = "d"\n'
        '[engine]\ncheckpoint = "w/vox.pdparams"\ncache_dir = "/abs/cache"\n'
        '[templates]\ndir = "tpl"\n',
        encoding="utf-8",
    )
    s = load_settings(path, env={})
    assert s.storage.url == f"sqlite+aiosqlite:///{folder / 'db' / 'bot.db'}"
    assert s.storage.data_dir == folder / "d"
    assert s.engine.checkpoint == folder / "w" / "vox.pdparams"
    assert s.engine.cache_dir == Path("/abs/cache")
    assert s.templates.dir == folder / "tpl"
    assert s.config_path == path


def test_absolute_and_memory_sqlite_urls_are_kept(tmp_path):
    s = load_settings(write(tmp_path, '[storage]\nurl = "sqlite+aiosqlite:////var/x.db"\n'), env={})
    assert s.storage.url == "sqlite+aiosqlite:////var/x.db"
    s = load_settings(write(tmp_path, '[storage]\nurl = "sqlite+aiosqlite:///:memory:"\n'), env={})
    assert s.storage.url == "sqlite+aiosqlite:///:memory:"


def test_webhook_mode_needs_url_secret_and_a_port(tmp_path):
    base = '[telegram]\nmode = "webhook"\nwebhook_url = "https://x.example/t"\n'
    with pytest.raises(ConfigError, match="webhook_secret"):
        load_settings(write(tmp_path, base), env={})
    with pytest.raises(ConfigError, match=r"\[http\]\.port"):
        load_settings(write(tmp_path, base + 'webhook_secret = "s"\n[http]\nport = 0\n'), env={})
    s = load_settings(write(tmp_path, base + 'webhook_secret = "s"\n'), env={})
    assert s.telegram.mode == "webhook"
