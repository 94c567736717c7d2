"""A private chat from /start to a delivered MP4 with sound, with the real engine, PTB over HTTP
and a 429 on the upload; /help answered while the render runs; the file_id cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from bot import metrics
from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, reply_text
from tests.fake_telegram import FakeTelegram


def streams(mp4: bytes, tmp_path: Path) -> str:
    """ffmpeg's description of the file's streams (it prints them to stderr)."""
    path = tmp_path / "delivered.mp4"
    path.write_bytes(mp4)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                           capture_output=True, text=True)
    return probe.stderr


async def test_photo_to_video_with_sound_despite_a_429(tg: FakeTelegram, bot_app, face_photo: Path,
                                                       tmp_path: Path) -> None:
    ann = tg.user(first_name="Ann", language_code="zh-hans")
    dm = tg.private_chat(ann)

    mark = tg.mark()
    tg.send_text(ann, dm, "/start")
    assert "蚂蚁呀嘿" in await reply_text(tg, dm, mark)  # Chinese for a zh user
    assert [c["command"] for c in tg.commands()] == ["start", "help", "templates", "status", "cancel", "yahey"]

    photo = tg.send_photo(ann, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm, mark)
    assert keyboard.params["reply_parameters"]["message_id"] == photo["message_id"]
    assert tg.buttons(dm["id"], keyboard.result["message_id"])[0][0] == "短"  # the zh title

    tg.fail_next("sendVideo", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
    retries_before = metrics.DELIVERY_RETRIES._value.get()
    query = tg.press_button(ann, dm, keyboard.result, first_button(tg, dm, keyboard))
    await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])

    # While the render runs, /help is answered.
    await tg.wait_for("sendChatAction", 60, where=lambda c: c.params["action"] == "upload_video")
    help_mark = tg.mark()
    tg.send_text(ann, dm, "/help")
    help_reply = await tg.wait_for("sendMessage", 10, since=help_mark)
    assert not tg.calls_to("sendVideo"), "the render was already over: /help proves nothing"
    assert "/yahey" in help_reply.params["text"]

    delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    failed = [c for c in tg.calls_to("sendVideo") if not c.ok]
    assert [c.error_code for c in failed] == [429]
    assert metrics.DELIVERY_RETRIES._value.get() == retries_before + 1
    params = delivered.params
    assert params["reply_parameters"]["message_id"] == photo["message_id"]
    assert params["supports_streaming"] is True
    assert "短" in params["caption"]
    assert params["width"] > 0 and params["height"] > 0 and params["duration"] >= 1
    described = streams(delivered.files["video"], tmp_path)
    assert "Video: h264" in described and "Audio: aac" in described

    # The status message went queued -> rendering -> done, in place of the keyboard.
    await tg.wait_for("editMessageText", 10, where=lambda c: c.params["text"].startswith("✅"))
    edits = [c.params["text"] for c in tg.calls_to("editMessageText")
             if c.params["message_id"] == keyboard.result["message_id"]]
    assert edits[0].startswith("⏳") and any("🎬" in e for e in edits) and edits[-1].startswith("✅")

    (job,) = jobs_rows(bot_app.bot_data["services"].settings)
    assert job["status"] == "done" and job["result_file_id"] == delivered.result["video"]["file_id"]
    data_dir = bot_app.bot_data["services"].settings.storage.data_dir
    work = data_dir / "tmp" / str(job["id"])
    await eventually(lambda: not work.exists(), what="temp folder removed after success")
    assert (data_dir / "renders" / f"{job['id']}.mp4").is_file()  # the render is kept until retention


async def test_same_photo_and_template_answered_from_the_file_id_cache(tg: FakeTelegram, bot_app,
                                                                        face_photo: Path) -> None:
    ben = tg.user(first_name="Ben", language_code="en")
    dm = tg.private_chat(ben)
    image = face_photo.read_bytes()

    tg.send_photo(ben, dm, image)
    keyboard = await keyboard_for(tg, dm)
    tg.press_button(ben, dm, keyboard.result, first_button(tg, dm, keyboard))
    first = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    assert "video" in first.files  # uploaded

    mark = tg.mark()
    renders_before = metrics.RENDER_SECONDS._sum.get()
    tg.send_photo(ben, dm, image)  # the same photo again: same file_unique_id
    keyboard = await keyboard_for(tg, dm, mark)
    tg.press_button(ben, dm, keyboard.result, first_button(tg, dm, keyboard))
    second = await tg.wait_for("sendVideo", 30, since=mark, where=lambda c: c.ok)
    assert second.files == {}  # no upload: the stored file_id was sent
    assert second.params["video"] == first.result["video"]["file_id"]
    assert "Short" in second.params["caption"]
    assert metrics.RENDER_SECONDS._sum.get() == renders_before  # nothing rendered
    settings = bot_app.bot_data["services"].settings
    await eventually(lambda: [(r["status"], bool(r["from_cache"])) for r in jobs_rows(settings)]
                     == [("done", False), ("done", True)], what="the cached delivery recorded as done")


async def test_a_user_who_blocked_the_bot_fails_and_the_next_job_goes_on(tg: FakeTelegram, bot_app,
                                                                         face_photo: Path) -> None:
    ann, ben = tg.user(language_code="en"), tg.user(language_code="en")
    dm_a, dm_b = tg.private_chat(ann), tg.private_chat(ben)
    image = face_photo.read_bytes()
    tg.send_photo(ann, dm_a, image)
    keyboard = await keyboard_for(tg, dm_a)
    tg.press_button(ann, dm_a, keyboard.result, first_button(tg, dm_a, keyboard))
    mark = tg.mark()
    tg.send_photo(ben, dm_b, image[:-1] + b"\0")
    keyboard = await keyboard_for(tg, dm_b, mark)
    tg.press_button(ben, dm_b, keyboard.result, first_button(tg, dm_b, keyboard))
    await tg.wait_for("sendChatAction", 60, where=lambda c: c.params["chat_id"] == dm_a["id"])
    tg.block_bot(ann)  # mid-render

    await tg.wait_for("sendVideo", 180, where=lambda c: c.ok and c.params["chat_id"] == dm_b["id"])
    refused = [c for c in tg.calls_to("sendVideo", dm_a["id"])]
    assert [c.error_code for c in refused] == [403]  # Forbidden is final: not retried
    settings = bot_app.bot_data["services"].settings
    await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["failed", "done"], what="failed, done")
    assert jobs_rows(settings)[0]["error"].startswith("delivery:")


async def test_an_image_sent_as_a_file_gets_the_keyboard(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    document = tg.send_document(user, dm, face_photo.read_bytes(), "me.png", "image/png")
    keyboard = await keyboard_for(tg, dm)
    assert keyboard.params["reply_parameters"]["message_id"] == document["message_id"]
    assert tg.buttons(dm["id"], keyboard.result["message_id"]) == [("Short", first_button(tg, dm, keyboard))]
