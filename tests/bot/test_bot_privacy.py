"""Privacy through the real bot and the fake Bot API: /privacy and the line in /start and /help,
/forget's confirmation (only the user's own press counts), and after it nothing of the user left:
no row, no file, no sticker pack, nothing in inline mode, their photo out of a group's /grid, the
render they had running stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from bot_helpers import (
    REPO_ROOT,
    TOKEN,
    eventually,
    first_button,
    keyboard_for,
    reply_text,
    running_bot,
    settings_of,
    write_config,
)
from test_bot_formats import finished, press, render_for

from settings import Settings, load_settings
from storage.from_settings import sqlite_path
from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(600)


def every_row(settings: Settings) -> str:
    with sqlite3.connect(sqlite_path(settings.storage.url)) as raw:
        return "\n".join(repr(r) for table in ("users", "offers", "jobs", "forget_requests")
                         for r in raw.execute(f"SELECT * FROM {table}"))


def kept_files(settings: Settings) -> list[Path]:
    """Everything in the data folder a user's request can leave (not the database, not the engine's cache)."""
    data = settings.storage.data_dir
    return sorted(p for folder in ("renders", "conversions", "tmp") for p in (data / folder).rglob("*") if p.is_file())


async def test_privacy_is_said_in_zh_and_en_and_forget_asks_first(tg: FakeTelegram, bot_app) -> None:
    ann, wen = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Wen", language_code="zh-hans")
    dm, dm_zh = tg.private_chat(ann), tg.private_chat(wen)
    mark = tg.mark()
    tg.send_text(ann, dm, "/privacy")
    said = await reply_text(tg, dm, mark)
    assert "only until its video is made" in said and "7 days" in said and "/forget" in said
    mark = tg.mark()
    tg.send_text(wen, dm_zh, "/privacy")
    said = await reply_text(tg, dm_zh, mark)
    assert "视频做好为止" in said and "7 天" in said and "/forget" in said
    for command in ("/start", "/help"):
        mark = tg.mark()
        tg.send_text(ann, dm, command)
        assert "🔒" in await reply_text(tg, dm, mark) and "/forget" in tg.calls_to("sendMessage")[-1].params["text"]
    assert {"privacy", "forget"} <= {c["command"] for c in tg.commands()}
    assert {"privacy", "forget"} <= {c["command"] for c in tg.commands("zh")}

    # In a group: one line pointing to the private chat
    grp = tg.group_chat()
    mark = tg.mark()
    tg.send_text(ann, grp, "/forget")
    assert "private chat" in await reply_text(tg, grp, mark)

    mark = tg.mark()
    tg.send_text(ann, dm, "/forget")
    asked = await keyboard_for(tg, dm, mark)
    labels = dict(tg.buttons(dm["id"], asked.result["message_id"]))
    assert set(labels) == {"🗑 Delete everything", "Cancel"}
    stranger = tg.user(first_name="Eve", language_code="en")
    query = tg.press_button(stranger, dm, asked.result, labels["🗑 Delete everything"])
    alert = await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])
    assert alert.params["show_alert"] and "Only the person who asked" in alert.params["text"]
    tg.press_button(ann, dm, asked.result, labels["Cancel"])
    await eventually(lambda: "nothing was deleted" in tg.message(dm["id"], asked.result["message_id"])["text"],
                     what="cancelled")
    assert not tg.calls_to("deleteStickerSet")
    assert str(ann["id"]) in every_row(settings_of(bot_app))  # still known: nothing was deleted


async def test_forget_deletes_everything_of_the_user(tg: FakeTelegram, make_settings, fake_engine,
                                                     face_photo: Path) -> None:
    gate = Gate(opened=True)
    async with running_bot(make_settings(), fake_engine.gated(gate)) as app:
        settings = settings_of(app)
        ann, ben = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Ben", language_code="en")
        dm = tg.private_chat(ann)
        image = face_photo.read_bytes()
        video = await render_for(tg, ann, dm, image)
        await press(tg, ann, video, "GIF")
        await tg.wait_for("sendAnimation", 120, where=lambda c: c.ok)
        await finished(app, "gif")  # one conversion at a time per user
        await press(tg, ann, video, "Add to my pack")
        await eventually(lambda: len(tg.state.sticker_sets) == 1, timeout=120, what="pack made")
        (pack,) = tg.state.sticker_sets  # its name has a random part, kept with Ann
        await finished(app, "pack")  # inline mode lists what is recorded done, after the pack's answer
        inline = tg.inline_query(ann, "")
        await eventually(lambda: tg.inline_answer(inline) is not None, what="inline answered")
        assert len(tg.inline_answer(inline)["results"]) == 3  # the video, the GIF, the pack's sticker

        # Ann's photo in Ben's group /grid collection, beside Ben's own
        grp = tg.group_chat()
        mark = tg.mark()
        tg.send_text(ben, grp, "/grid")
        collecting = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == grp["id"])
        tg.send_photo(ann, grp, image + b"\1", reply_to=collecting.result)
        tg.send_photo(ben, grp, image + b"\2", reply_to=collecting.result)
        grid_message = lambda: tg.message(grp["id"], collecting.result["message_id"])  # noqa: E731
        await eventually(lambda: "2 so far: " in grid_message()["text"], timeout=60, what="two photos counted")

        # ... and a second render of Ann's, running (held at the gate) when she confirms
        await eventually(lambda: all(r not in every_row(settings) for r in ("'queued'", "'running'", "'delivering'")),
                         timeout=60, what="conversions recorded")
        gate.close()
        mark = tg.mark()
        tg.send_photo(ann, dm, image + b"\3")
        keyboard = await keyboard_for(tg, dm, mark)
        tg.press_button(ann, dm, keyboard.result, first_button(tg, dm, keyboard))
        await gate.wait_entered()

        mark = tg.mark()
        tg.send_text(ann, dm, "/forget")
        asked = await keyboard_for(tg, dm, mark)
        delete = dict(tg.buttons(dm["id"], asked.result["message_id"]))["🗑 Delete everything"]
        tg.press_button(ann, dm, asked.result, delete)
        done = await tg.wait_for("sendMessage", 120, since=mark,
                                 where=lambda c: c.params["chat_id"] == dm["id"] and "Deleted" in c.params["text"])
        text = done.params["text"]
        assert "sticker pack deleted" in text and "1 grid photo(s)" in text and "0 file(s)" not in text

        # No row, no file, no pack, nothing inline
        await eventually(lambda: str(ann["id"]) not in every_row(settings), what="the request's own row gone last")
        rows = every_row(settings)
        assert kept_files(settings) == []
        assert tg.sticker_set(pack) is None and len(tg.calls_to("deleteStickerSet")) == 1
        inline = tg.inline_query(ann, "")
        await eventually(lambda: tg.inline_answer(inline) is not None, what="inline answered")
        assert tg.inline_answer(inline)["results"] == []
        assert "1 so far: Ben" in grid_message()["text"]  # withdrawn, and said on the collecting message
        assert len(tg.calls_to("sendVideo")) == 1  # the running render stopped: nothing more was sent
        # Ben's collection goes on: his photo is still there
        assert "Ben" in rows


async def test_a_forget_killed_mid_way_finishes_after_a_restart(tg: FakeTelegram, tmp_path: Path,
                                                                placeholder_checkpoint: Path, templates_dir: Path,
                                                                engine_cache_dir: Path, face_photo: Path) -> None:
    config = write_config(tmp_path / "config.toml", tg, placeholder_checkpoint, templates_dir, engine_cache_dir)
    settings = load_settings(config, env={})
    log, gate, held = tmp_path / "bot.log", tmp_path / "gate", tmp_path / "forget-gate"
    gate.mkdir()
    (gate / "open").touch()  # renders run; the /forget is what is held

    async def start() -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"} | {"PYTHONUNBUFFERED": "1"}
        return await asyncio.create_subprocess_exec(
            sys.executable, str(REPO_ROOT / "tests" / "gated_bot.py"), "--gate", str(gate), "--forget-gate", str(held),
            "--config", str(config), cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log.open("ab"))

    first = await start()
    try:
        await tg.wait_for("setMyCommands", 120)
        ann = tg.user(first_name="Ann", language_code="en")
        dm = tg.private_chat(ann)
        video = await render_for(tg, ann, dm, face_photo.read_bytes())
        await press(tg, ann, video, "Add to my pack")
        await eventually(lambda: len(tg.state.sticker_sets) == 1, timeout=120, what="pack made")
        (pack,) = tg.state.sticker_sets
        await eventually(lambda: all(s not in every_row(settings) for s in ("'queued'", "'running'", "'delivering'")),
                         timeout=60, what="the pack's job recorded")
        mark = tg.mark()
        tg.send_text(ann, dm, "/forget")
        asked = await keyboard_for(tg, dm, mark)
        delete = dict(tg.buttons(dm["id"], asked.result["message_id"]))["🗑 Delete everything"]
        tg.press_button(ann, dm, asked.result, delete)
        await eventually((held / "entered").exists, 60, "the /forget held before deleting files")
    finally:
        first.kill()  # SIGKILL mid-deletion: no clean-up at all
        await first.wait()
    # Half done: the pack is gone, the files and rows are still there
    assert tg.sticker_set(pack) is None
    assert kept_files(settings) and str(ann["id"]) in every_row(settings)

    (held / "open").touch()
    second = await start()
    try:
        done = await tg.wait_for("sendMessage", 120, since=mark,
                                 where=lambda c: c.params["chat_id"] == dm["id"] and "Deleted" in c.params["text"])
        await eventually(lambda: str(ann["id"]) not in every_row(settings), what="every row of Ann's gone")
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 120) == 0
    assert "sticker pack deleted" in done.params["text"]
    assert kept_files(settings) == []
    assert len([c for c in tg.calls_to("sendMessage") if "Deleted" in c.params.get("text", "")]) == 1
    assert TOKEN not in log.read_text()
