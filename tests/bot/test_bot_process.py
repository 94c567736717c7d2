"""The bot as a real process against the fake server: kill -9 in the middle of a render and a
restart deliver every job exactly once; SIGTERM re-queues a running job; missing token or checkpoint
is one line and exit code 2; the token never reaches the log.

Renders are held open by a gate (tests/gated_bot.py runs bot/__main__.py with the fake engine and a
FileGate in front of each render), so "in the middle of a render" never depends on how fast the
machine renders. The webhook test runs the plain `python -m bot` with the real engine (paddle imported
before the stop signals are hooked up, the model loading while SIGTERM arrives)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from bot_helpers import REPO_ROOT, TOKEN, eventually, first_button, free_port, jobs_rows, keyboard_for, write_config

from tests.fake_telegram import FakeTelegram

# Real processes killed and restarted, leases of seconds: one worker runs them, one after another.
pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("processes")]


async def start_bot(config: Path, log: Path, gate: Path | None = None) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"} | {"PYTHONUNBUFFERED": "1"}
    entry = ["-m", "bot"] if gate is None else [str(REPO_ROOT / "tests" / "gated_bot.py"), "--gate", str(gate)]
    return await asyncio.create_subprocess_exec(
        sys.executable, *entry, "--config", str(config), cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=log.open("ab"),
    )


async def render_held(gate: Path, n: int = 1, timeout: float = 180) -> None:
    """Wait until the n-th render reached the gate (and is held there)."""
    await eventually((gate / f"entered-{n}").exists, timeout, f"render {n} at the gate")


@pytest.fixture
def config(tmp_path: Path, tg: FakeTelegram, placeholder_checkpoint: Path, templates_dir: Path,
           engine_cache_dir: Path) -> Path:
    return write_config(tmp_path / "config.toml", tg, placeholder_checkpoint, templates_dir, engine_cache_dir,
                        logging={"level": "DEBUG"})  # DEBUG: the most chances for the token to leak


async def ask_for_video(tg: FakeTelegram, user: dict, photo: bytes) -> dict:
    dm = tg.private_chat(user)
    mark = tg.mark()
    tg.send_photo(user, dm, photo)
    keyboard = await keyboard_for(tg, dm, mark, timeout=120)
    tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
    return dm


def settings_for(config: Path):  # type: ignore[no-untyped-def]
    from settings import load_settings

    return load_settings(config, env={})


async def test_kill_9_mid_render_then_restart_delivers_each_job_once(tg: FakeTelegram, config: Path,
                                                                      face_photo: Path, tmp_path: Path) -> None:
    log, gate = tmp_path / "bot.log", tmp_path / "gate"
    first = await start_bot(config, log, gate)
    try:
        await tg.wait_for("setMyCommands", 120)
        ann, ben = tg.user(first_name="Ann"), tg.user(first_name="Ben")
        image = face_photo.read_bytes()
        dm_a = await ask_for_video(tg, ann, image)
        dm_b = await ask_for_video(tg, ben, image + b"\0")  # another photo (another file_unique_id)
        await render_held(gate)
        settings = settings_for(config)
        # Ben's press is recorded as a job too (a render reaches the gate faster than that).
        await eventually(lambda: len(jobs_rows(settings)) == 2, 60, "both jobs recorded")
    finally:
        first.kill()  # SIGKILL: no clean-up at all
        await first.wait()
    assert [r["status"] for r in jobs_rows(settings)] == ["running", "queued"]
    assert not tg.calls_to("sendVideo")

    mark = tg.mark()
    (gate / "open").touch()
    second = await start_bot(config, log, gate)
    try:
        await tg.wait_for("sendVideo", 300, since=mark, where=lambda c: c.ok and c.params["chat_id"] == dm_a["id"])
        await tg.wait_for("sendVideo", 300, since=mark, where=lambda c: c.ok and c.params["chat_id"] == dm_b["id"])
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done", "done"], 60,
                         "both jobs recorded done")  # the commit follows the send
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 120) == 0
    delivered = Counter(c.params["chat_id"] for c in tg.calls_to("sendVideo") if c.ok)
    assert delivered == {dm_a["id"]: 1, dm_b["id"]: 1}
    assert [(r["status"], r["attempts"]) for r in jobs_rows(settings)] == [("done", 2), ("done", 1)]
    text = log.read_text()
    assert "re-queued" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text


async def test_a_job_that_kills_the_bot_each_time_is_given_up_and_the_next_is_delivered(
        tg: FakeTelegram, tmp_path: Path, face_photo: Path, small_checkpoint: Path, templates_dir: Path,
        engine_cache_dir: Path) -> None:
    """A poison photo (its render kills the process: out of memory, a native crash) is claimed
    max_attempts times, then failed with the "failed after N tries" notice at the next start-up;
    the job queued behind it is rendered and delivered."""
    config = write_config(tmp_path / "config.toml", tg, small_checkpoint, templates_dir, engine_cache_dir,
                          limits={"max_attempts": 2})
    log = tmp_path / "bot.log"
    ann, ben = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Ben", language_code="en")
    image = face_photo.read_bytes()
    dm_a = dm_b = None
    for run in (1, 2):  # each run dies in Ann's render
        gate = tmp_path / f"gate-{run}"
        bot = await start_bot(config, log, gate)
        try:
            if run == 1:
                await tg.wait_for("setMyCommands", 120)
                dm_a = await ask_for_video(tg, ann, image)
                dm_b = await ask_for_video(tg, ben, image + b"\0")
                # Ben's press is handled apart from Ann's render: both jobs queued before the kill.
                await eventually(lambda: len(jobs_rows(settings_for(config))) == 2, 120, "both jobs queued")
            await render_held(gate, timeout=300)  # the first start may export the model
        finally:
            bot.kill()  # the render took the process with it
            await bot.wait()
    settings = settings_for(config)
    assert [(r["status"], r["attempts"]) for r in jobs_rows(settings)] == [("running", 2), ("queued", 0)]
    assert dm_a is not None and dm_b is not None
    mark = tg.mark()
    gate = tmp_path / "gate-3"
    gate.mkdir()
    (gate / "open").touch()
    last = await start_bot(config, log, gate)
    try:
        await tg.wait_for("sendVideo", 300, since=mark, where=lambda c: c.ok and c.params["chat_id"] == dm_b["id"])
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["failed", "done"], 60,
                         "Ann's job failed, Ben's done")
    finally:
        last.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(last.wait(), 120) == 0
    assert not [c for c in tg.calls_to("sendVideo") if c.params["chat_id"] == dm_a["id"]]
    assert any("Rendering failed (2 tries)" in (m.get("text") or "") for m in tg.messages_in(dm_a["id"]))
    assert [r["attempts"] for r in jobs_rows(settings)] == [2, 1]  # never claimed a third time


async def test_sigterm_requeues_the_running_job(tg: FakeTelegram, config: Path, face_photo: Path,
                                                tmp_path: Path) -> None:
    log, gate = tmp_path / "bot.log", tmp_path / "gate"
    proc = await start_bot(config, log, gate)
    try:
        await tg.wait_for("setMyCommands", 120)
        await ask_for_video(tg, tg.user(), face_photo.read_bytes())
        await render_held(gate)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0
    (job,) = jobs_rows(settings_for(config))
    assert job["status"] == "queued" and job["attempts"] == 0  # back in line; a shutdown is no attempt
    assert not tg.calls_to("sendVideo")
    text = log.read_text()
    assert f"job {job['id']} re-queued: shutting down" in text and "database closed" in text
    assert TOKEN not in text


async def run_cli(config: Path, env_token: str | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    if env_token is not None:
        env["BOT_TOKEN"] = env_token
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "--config", str(config), cwd=REPO_ROOT,
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, (out + err).decode()


async def test_missing_token_or_checkpoint_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[engine]\ncheckpoint = "nowhere/vox.pdparams"\n', encoding="utf-8")
    code, output = await run_cli(config)
    assert code == 2 and output.count("\n") == 1
    assert "BOT_TOKEN" in output and "[telegram].token" in output and "Traceback" not in output
    code, output = await run_cli(config, env_token="1:abc")
    assert code == 2 and output.count("\n") == 1
    assert "python -m engine weights fetch" in output and "Traceback" not in output


async def test_webhook_mode_process_answers_and_stops_on_sigterm(tg: FakeTelegram, tmp_path: Path,
                                                                 small_checkpoint: Path, templates_dir: Path,
                                                                 engine_cache_dir: Path, small_engine) -> None:
    # small_engine: the model already exported into the cache the process loads from, as after a
    # deployment's `python -m engine prepare` (an export under way holds a shutdown until it ends).
    port = free_port()
    config = write_config(tmp_path / "config.toml", tg, small_checkpoint, templates_dir, engine_cache_dir,
                          telegram={"mode": "webhook", "webhook_url": f"http://127.0.0.1:{port}/telegram",
                                    "webhook_secret": "s3cret"},
                          http={"port": port})
    log = tmp_path / "bot.log"
    proc = await start_bot(config, log)
    try:
        await tg.wait_for("setWebhook", 120)
        user = tg.user(language_code="zh-tw")
        dm = tg.private_chat(user)
        tg.send_text(user, dm, "/start")
        answer = await tg.wait_for("sendMessage", 30, where=lambda c: c.params["chat_id"] == dm["id"])
        assert "蚂蚁呀嘿" in answer.params["text"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 120) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "database closed" in log.read_text()
