"""A private chat from /start to a delivered MP4 with sound, with the real engine (the first test;
the others on the fake one), PTB over HTTP and a 429 on the upload; /help answered while a render
is held open; the file_id cache; a user who blocks the bot mid-render."""

from __future__ import annotations

from pathlib import Path

from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, reply_text, running_bot, settings_of

from ops.metrics import REGISTRY
from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram
from tests.gated_engine import GatedRenderer
from tests.media_probe import assert_telegram_video


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_photo_to_video_with_sound_despite_a_429(tg: FakeTelegram, make_settings, real_engine,
                                                       face_photo: Path) -> None:
    gate = Gate()
    async with running_bot(make_settings(), GatedRenderer(real_engine, gate)) as app:
        ann = tg.user(first_name="Ann", language_code="zh-hans")
        dm = tg.private_chat(ann)

        mark = tg.mark()
        tg.send_text(ann, dm, "/start")
        assert "蚂蚁呀嘿" in await reply_text(tg, dm, mark)  # Chinese for a zh user
        assert [c["command"] for c in tg.commands()] == ["start", "help", "templates", "template", "status", "cancel",
                                                        "language", "privacy", "forget", "yahey", "grid"]

        photo = tg.send_photo(ann, dm, face_photo.read_bytes())
        keyboard = await keyboard_for(tg, dm, mark)
        assert keyboard.params["reply_parameters"]["message_id"] == photo["message_id"]
        assert tg.buttons(dm["id"], keyboard.result["message_id"])[0][0] == "短"  # the zh title

        tg.fail_next("sendVideo", error_code=429, description="Too Many Requests: retry after 1", retry_after=1)
        flood_waits = sample("yahey_telegram_errors_total", {"kind": "retry_after"})
        query = tg.press_button(ann, dm, keyboard.result, first_button(tg, dm, keyboard))
        await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])

        # The render is held open at the gate: /help is answered meanwhile, and nothing was sent.
        await gate.wait_entered()
        help_mark = tg.mark()
        tg.send_text(ann, dm, "/help")
        assert "/yahey" in await reply_text(tg, dm, help_mark)
        assert not tg.calls_to("sendVideo")
        gate.open()

        delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
        assert [c.error_code for c in tg.calls_to("sendVideo") if not c.ok] == [429]
        assert sample("yahey_telegram_errors_total", {"kind": "retry_after"}) == flood_waits + 1
        params = delivered.params
        assert params["reply_parameters"]["message_id"] == photo["message_id"]
        assert params["supports_streaming"] is True and "短" in params["caption"]
        video = assert_telegram_video(delivered.files["video"])
        assert (params["width"], params["height"]) == (video.width, video.height)
        assert params["duration"] == max(1, round(video.duration))

        # The status message went queued -> rendering -> sending -> done, in place of the keyboard.
        await tg.wait_for("editMessageText", 10, where=lambda c: c.params["text"].startswith("✅"))
        edits = [c.params["text"] for c in tg.calls_to("editMessageText")
                 if c.params["message_id"] == keyboard.result["message_id"]]
        assert edits[0].startswith("⏳") and any("🎬" in e for e in edits) and any("📤" in e for e in edits)
        assert edits[-1].startswith("✅")

        settings = settings_of(app)
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done"], what="job done")
        (job,) = jobs_rows(settings)
        assert job["result_file_id"] == delivered.result["video"]["file_id"] and job["attempts"] == 1
        data_dir = settings.storage.data_dir
        await eventually(lambda: not (data_dir / "tmp" / str(job["id"])).exists(), what="temp folder removed")
        (kept,) = (data_dir / "renders").glob(f"{job['id']}-*.mp4")  # named by the job and its claim
        assert kept.read_bytes() == delivered.files["video"]


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
    settings = settings_of(bot_app)
    await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done"], what="first job done")

    # The same photo again, shared in a group (the same file_unique_id; in the same chat within a
    # minute it would be dropped as a duplicate).
    grp = tg.group_chat()
    mark = tg.mark()
    renders = sample("yahey_render_seconds_count")
    tg.send_photo(ben, grp, image, caption="/yahey")
    keyboard = await keyboard_for(tg, grp, mark)
    tg.press_button(ben, grp, keyboard.result, first_button(tg, grp, keyboard))
    second = await tg.wait_for("sendVideo", 30, since=mark, where=lambda c: c.ok)
    assert second.files == {}  # no upload: the stored file_id was sent
    assert second.params["video"] == first.result["video"]["file_id"]
    assert "Short" in second.params["caption"]
    assert sample("yahey_render_seconds_count") == renders  # nothing rendered
    await eventually(lambda: [(r["status"], bool(r["from_cache"])) for r in jobs_rows(settings)]
                     == [("done", False), ("done", True)], what="the cached delivery recorded as done")
    assert len({r["result_key"] for r in jobs_rows(settings)}) == 1


async def test_a_user_who_blocked_the_bot_fails_and_the_next_job_goes_on(tg: FakeTelegram, make_settings,
                                                                         fake_engine, face_photo: Path) -> None:
    gate = Gate()
    async with running_bot(make_settings(), fake_engine.gated(gate)) as app:
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
        await gate.wait_entered()
        tg.block_bot(ann)  # mid-render
        gate.open()

        await tg.wait_for("sendVideo", 180, where=lambda c: c.ok and c.params["chat_id"] == dm_b["id"])
        assert [c.error_code for c in tg.calls_to("sendVideo", dm_a["id"])] == [403]  # final: not retried
        settings = settings_of(app)
        await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["failed", "done"], what="failed, done")
        assert jobs_rows(settings)[0]["error"].startswith("delivery:")


async def test_an_image_sent_as_a_file_gets_the_keyboard(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    document = tg.send_document(user, dm, face_photo.read_bytes(), "me.png", "image/png")
    keyboard = await keyboard_for(tg, dm)
    assert keyboard.params["reply_parameters"]["message_id"] == document["message_id"]
    assert tg.buttons(dm["id"], keyboard.result["message_id"])[0] == ("Short", first_button(tg, dm, keyboard))


async def test_the_keyboard_says_how_many_faces_will_sing(tg: FakeTelegram, make_settings, fake_engine,
                                                          five_face_photo: Path, face_photo: Path) -> None:
    async with running_bot(make_settings(engine={"max_faces": 2}), fake_engine):
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        mark = tg.mark()
        tg.send_photo(user, dm, five_face_photo.read_bytes())
        keyboard = await keyboard_for(tg, dm, mark)
        assert keyboard.params["text"].startswith("5 faces found: the 2 largest will sing.")
        mark = tg.mark()
        tg.send_photo(user, dm, face_photo.read_bytes())
        keyboard = await keyboard_for(tg, dm, mark)
        assert keyboard.params["text"] == "Pick a template 👇"  # one face: nothing to explain
    async with running_bot(make_settings(), fake_engine):
        zh = tg.user(language_code="zh-hans")
        dm = tg.private_chat(zh)
        mark = tg.mark()
        tg.send_photo(zh, dm, five_face_photo.read_bytes())
        keyboard = await keyboard_for(tg, dm, mark)
        assert keyboard.params["text"].startswith("找到 5 张脸，都会一起唱。")
