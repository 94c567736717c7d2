"""Each thing a user can get wrong gets one friendly line in their language; the bot keeps serving."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, reply_text, running_bot, settings_of
from PIL import Image

from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height), 128).save(buf, "PNG")
    return buf.getvalue()


def _text(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_text(user, chat, "hello bot")


def _pdf(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_document(user, chat, b"%PDF-1.4 not an image", "notes.pdf", "application/pdf")


def _corrupted(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_document(user, chat, b"\x89PNG\r\n\x1a\n" + b"garbage" * 50, "broken.png", "image/png")


def _over_20_mb(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_document(user, chat, png(100, 100), "big.png", "image/png", file_size=25 * 1024 * 1024)


def _huge_pixels(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_document(user, chat, png(9000, 5000, "L"), "bomb.png", "image/png")  # 45 MP, a few KB


def _tiny(tg, user, chat):  # type: ignore[no-untyped-def]
    tg.send_photo(user, chat, png(32, 32))


@pytest.mark.parametrize(
    ("send", "language", "expected"),
    [
        (_text, "en", "Please send me a photo"),
        (_text, "zh-hans", "请发一张照片"),
        (_pdf, "en", "not an image"),
        (_corrupted, "en", "can't open that image"),
        (_over_20_mb, "en", "too big (over 20 MB)"),
        (_huge_pixels, "zh", "图片像素太多"),
        (_tiny, "en", "too small"),
    ],
    ids=["text", "text-zh", "pdf", "corrupted", "over-20mb", "huge-pixels-zh", "tiny"],
)
async def test_bad_input_gets_one_clear_line(tg: FakeTelegram, bot_app, send, language: str, expected: str) -> None:
    user = tg.user(language_code=language)
    dm = tg.private_chat(user)
    send(tg, user, dm)
    answer = await reply_text(tg, dm, 0)
    assert expected in answer
    assert "Traceback" not in answer and "\n" not in answer.strip()
    assert not [c for c in tg.calls_to("sendMessage") if c.params.get("reply_markup")]  # no keyboard
    # ... and the bot still serves: /help right after.
    mark = tg.mark()
    tg.send_text(user, dm, "/help")
    assert "/templates" in await reply_text(tg, dm, mark)


async def test_no_face_is_answered_at_once_without_a_job(tg: FakeTelegram, bot_app, noface_photo: Path) -> None:
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    tg.send_photo(user, dm, noface_photo.read_bytes())
    answer = await reply_text(tg, dm, 0)
    assert "couldn't find a face" in answer and "frontal" in answer
    assert not [c for c in tg.calls_to("sendMessage") if c.params.get("reply_markup")]  # no keyboard
    assert jobs_rows(settings_of(bot_app)) == []  # nothing queued, nothing to wait for


async def test_template_gone_between_offer_and_press(tg: FakeTelegram, bot_app, templates_dir: Path,
                                                     face_photo: Path) -> None:
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    tg.send_photo(user, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm)
    shutil.rmtree(templates_dir / "short")
    query = tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
    answer = await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])
    assert "no longer exists" in answer.params["text"]
    assert jobs_rows(settings_of(bot_app)) == []


async def test_queue_full_one_job_per_user_and_cancel(tg: FakeTelegram, make_settings, fake_engine,
                                                      face_photo: Path, five_face_photo: Path) -> None:
    gate = Gate()  # Ann's render is held open until the end: nothing here races the render
    async with running_bot(make_settings(limits={"max_queue": 1, "template_min_seconds": 0.1}),
                           fake_engine.gated(gate)) as app:
        ann, ben = tg.user(language_code="en"), tg.user(language_code="zh")
        dm_a, dm_b = tg.private_chat(ann), tg.private_chat(ben)
        image = face_photo.read_bytes()

        tg.send_photo(ann, dm_a, five_face_photo.read_bytes())
        keyboard_a = await keyboard_for(tg, dm_a)
        tg.press_button(ann, dm_a, keyboard_a.result, first_button(tg, dm_a, keyboard_a))
        await gate.wait_entered()

        mark = tg.mark()
        tg.send_photo(ben, dm_b, image)
        keyboard_b = await keyboard_for(tg, dm_b, mark)
        tg.press_button(ben, dm_b, keyboard_b.result, first_button(tg, dm_b, keyboard_b))
        assert "排队的人太多" in await reply_text(tg, dm_b, keyboard_b.index + 1)  # queue full, in Chinese

        mark = tg.mark()
        tg.send_photo(ann, dm_a, image + b"2")  # a second request while the first is active
        keyboard_a2 = await keyboard_for(tg, dm_a, mark)
        tg.press_button(ann, dm_a, keyboard_a2.result, first_button(tg, dm_a, keyboard_a2))
        assert "already have a job" in await reply_text(tg, dm_a, keyboard_a2.index + 1)

        mark = tg.mark()
        tg.send_text(ann, dm_a, "/cancel")
        assert "Stopping job" in await reply_text(tg, dm_a, mark)
        await tg.wait_for("editMessageText", 60, since=mark, where=lambda c: "Cancelled" in c.params["text"])
        settings = settings_of(app)
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["cancelled"], what="cancelled")
        assert not tg.calls_to("sendVideo")
