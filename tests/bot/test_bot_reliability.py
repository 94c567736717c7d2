"""The pipeline against a Bot API that misbehaves the way Telegram sometimes does, and against users
who flood, edit, and send odd files. Every fault is injected explicitly (the fake server's outages,
delays and drops; a gate in front of the render), so nothing here depends on how fast a render is.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import aiohttp
import numpy as np
import pillow_heif
from bot_helpers import (
    ADMIN_ID,
    eventually,
    first_button,
    free_port,
    jobs_rows,
    keyboard_for,
    reply_text,
    running_bot,
    services_of,
    settings_of,
)
from PIL import Image

from engine import Engine
from engine.video_io import ffmpeg_exe
from ops.metrics import REGISTRY
from pipeline.renderer import EngineRenderer
from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram
from tests.media_probe import assert_telegram_video


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def ask(tg: FakeTelegram, user: dict, chat: dict, image: bytes, mark: int | None = None) -> dict:
    """Send a photo and press the first template button; returns the keyboard call's result."""
    mark = tg.mark() if mark is None else mark
    tg.send_photo(user, chat, image)
    keyboard = await keyboard_for(tg, chat, mark)
    tg.press_button(user, chat, keyboard.result, first_button(tg, chat, keyboard))
    return keyboard.result


async def test_a_slow_upload_answer_delivers_one_video(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    # Telegram takes the upload at once but answers 8 s later, longer than PTB's 5 s default read
    # timeout: a client that gives up then sends the video again.
    tg.delay_next("sendVideo", 8.0)
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    await ask(tg, user, dm, face_photo.read_bytes())
    await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    settings = settings_of(bot_app)
    await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done"], what="done")
    assert len(tg.calls_to("sendVideo")) == 1
    assert len([m for m in tg.messages_in(dm["id"]) if "video" in m]) == 1


async def test_forty_photos_in_a_burst_and_another_user_is_answered(tg: FakeTelegram, bot_app,
                                                                    face_photo: Path) -> None:
    flooder, other = tg.user(language_code="en"), tg.user(language_code="en")
    dm_f, dm_o = tg.private_chat(flooder), tg.private_chat(other)
    image = face_photo.read_bytes()
    throttled = sample("yahey_photos_throttled_total", {"reason": "flood"})
    sent = [tg.send_photo(flooder, dm_f, image + bytes([i])) for i in range(40)]  # 40 different photos
    tg.send_photo(other, dm_o, image)
    await keyboard_for(tg, dm_o)  # the other user is answered
    flooder_files = {m["photo"][-1]["file_id"] for m in sent}

    def downloads() -> int:
        return len([c for c in tg.calls_to("getFile") if c.params["file_id"] in flooder_files])

    # Every one of the 40 was either taken (downloaded) or dropped by the flood control.
    await eventually(lambda: downloads() + sample("yahey_photos_throttled_total", {"reason": "flood"}) - throttled
                     >= 40, timeout=60, what="all 40 photos handled")
    assert downloads() <= 5
    replies = tg.calls_to("sendMessage", dm_f["id"])
    assert len(replies) <= 6
    assert sum("wait a minute" in c.params["text"] for c in replies) == 1  # told once, politely


async def test_an_outage_mid_delivery_parks_the_job_and_delivers_it_once_afterwards(
        tg: FakeTelegram, make_settings, fake_engine, face_photo: Path) -> None:
    gate = Gate()
    async with running_bot(make_settings(), fake_engine.gated(gate)) as app:
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        keyboard = await ask(tg, user, dm, face_photo.read_bytes())
        await gate.wait_entered()
        tg.start_outage(502, methods=["sendVideo"])  # uploads fail; edits still get through
        gate.open()
        settings = settings_of(app)
        await eventually(lambda: jobs_rows(settings)[0]["parked_tries"] >= 2, timeout=60, what="parked twice")
        assert jobs_rows(settings)[0]["status"] == "delivering"
        waiting = tg.message(dm["id"], keyboard["message_id"])["text"]
        assert "Waiting for Telegram" in waiting  # not stuck at "Rendering 0%"
        # The whole Bot API goes away for a while, then comes back.
        tg.start_outage(502)
        await eventually(lambda: jobs_rows(settings)[0]["parked_tries"] >= 4, timeout=60, what="parked again")
        tg.end_outage()
        delivered = await tg.wait_for("sendVideo", 60, where=lambda c: c.ok)
        await eventually(lambda: jobs_rows(settings)[0]["status"] == "done", what="done")
    assert len([c for c in tg.calls_to("sendVideo") if c.ok]) == 1
    assert tg.outage_answers >= 4
    assert_telegram_video(delivered.files["video"])
    assert tg.message(dm["id"], keyboard["message_id"])["text"].startswith("✅")


async def test_an_outage_during_the_photo_download_waits_then_renders(tg: FakeTelegram, bot_app,
                                                                      face_photo: Path) -> None:
    user = tg.user(language_code="zh-hans")
    dm = tg.private_chat(user)
    mark = tg.mark()
    tg.send_photo(user, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm, mark)
    tg.start_outage(503, "Service Unavailable", methods=["getFile"])  # after the offer, before the render
    tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
    settings = settings_of(bot_app)
    await eventually(lambda: jobs_rows(settings) and jobs_rows(settings)[0]["parked_tries"] >= 2, timeout=60,
                     what="download parked")
    # Each retry shows "rendering" again before its download fails and says "waiting" once more.
    await eventually(lambda: "等待 Telegram" in tg.message(dm["id"], keyboard.result["message_id"])["text"],
                     what="the status says it waits for Telegram")
    tg.end_outage()
    await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    await eventually(lambda: jobs_rows(settings)[0]["status"] == "done", what="done")
    assert len(tg.calls_to("sendVideo")) == 1
    assert jobs_rows(settings)[0]["attempts"] == 1  # the waits were not failed attempts


async def test_a_dropped_connection_on_the_upload_is_retried(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    tg.drop_next("sendVideo")
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    await ask(tg, user, dm, face_photo.read_bytes())
    await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    assert tg.dropped == ["sendVideo"]
    assert len([m for m in tg.messages_in(dm["id"]) if "video" in m]) == 1


async def test_a_model_that_cannot_load_gives_503_and_a_polite_refusal(tg: FakeTelegram, make_settings,
                                                                       tmp_path: Path, face_photo: Path) -> None:
    broken = tmp_path / "broken.pdparams"
    broken.write_bytes(b"not a paddle checkpoint" * 100)
    port = free_port()
    settings = make_settings(engine={"checkpoint": str(broken), "cache_dir": str(tmp_path / "cache")},
                             http={"port": port})
    async with running_bot(settings, EngineRenderer(Engine(broken, tmp_path / "cache", device="cpu"))) as app:
        svc = services_of(app)
        await eventually(lambda: svc.engine.status.state == "failed", timeout=60, what="engine failed")
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as health:
            body = await health.json()
        assert health.status == 503 and body["database"] == "ok"
        assert body["engine"]["state"] == "failed" and body["engine"]["detail"]
        assert sample("yahey_engine_info", {"state": "failed", "runner": "", "precision": "", "device": ""}) == 1
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        mark = tg.mark()
        tg.send_photo(user, dm, face_photo.read_bytes())
        assert "video maker is down" in await reply_text(tg, dm, mark)
        assert not tg.calls_to("getFile")  # refused before any download
        mark = tg.mark()
        tg.send_text(user, dm, "/help")
        assert "/yahey" in await reply_text(tg, dm, mark)  # still serving


def _upright_face(face_photo: Path) -> Image.Image:
    """The face on a taller (portrait) canvas, so that a sideways copy is visibly landscape."""
    face = Image.open(face_photo).convert("RGB")
    canvas = Image.new("RGB", (face.width, face.height * 3 // 2), (120, 130, 140))
    canvas.paste(face, (0, 0))
    return canvas


def rotated_jpeg(face_photo: Path) -> bytes:
    """Stored sideways with EXIF orientation 6 ("rotate 90° clockwise to show"), as phones do."""
    stored = _upright_face(face_photo).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def gray16_png(face_photo: Path) -> bytes:
    """16 bits per pixel (what a scanner or a RAW converter writes): convert("RGB") would clip it white."""
    gray = np.asarray(_upright_face(face_photo).convert("L"), dtype=np.uint16) * 257
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "PNG")  # uint16 -> mode "I;16"
    return buf.getvalue()


def heic(face_photo: Path) -> bytes:
    """An iPhone's photo as a file: HEIC."""
    buf = io.BytesIO()
    pillow_heif.from_pillow(_upright_face(face_photo)).save(buf, quality=90)
    return buf.getvalue()


async def test_rotated_16_bit_and_heic_photos_are_rendered(tg: FakeTelegram, bot_app, face_photo: Path) -> None:
    files = [("rotated.jpg", "image/jpeg", rotated_jpeg(face_photo)),
             ("scan.png", "image/png", gray16_png(face_photo)),
             ("IMG_0001.HEIC", "image/heic", heic(face_photo))]
    assert Image.open(io.BytesIO(files[1][2])).mode == "I;16"
    chats = []
    for name, mime, data in files:
        user = tg.user(language_code="en")
        dm = tg.private_chat(user)
        mark = tg.mark()
        tg.send_document(user, dm, data, name, mime)
        keyboard = await keyboard_for(tg, dm, mark)
        tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
        chats.append(dm)
    for dm in chats:
        delivered = await tg.wait_for("sendVideo", 240, where=lambda c, d=dm: c.ok and c.params["chat_id"] == d["id"])
        video = assert_telegram_video(delivered.files["video"])
        if dm is chats[0]:
            assert video.height > video.width  # shown upright: portrait, as the EXIF says
    settings = settings_of(bot_app)
    await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done"] * 3, what="all done")


async def test_edits_channel_posts_and_foreign_buttons_start_nothing(tg: FakeTelegram, bot_app,
                                                                     face_photo: Path) -> None:
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    photo = tg.send_photo(user, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm)
    tg.edit_message(photo, caption="me!")  # an edit is not a new photo
    channel = tg.channel_chat()
    tg.post_to_channel(channel, face_photo.read_bytes(), caption="/yahey")  # no sender: ignored
    # A button naming this offer, pressed on a message of another chat, is not this offer's.
    grp = tg.group_chat()
    other = tg.send_text(user, grp, "/help")
    forged = tg.press_button(user, grp, other, first_button(tg, dm, keyboard), check=False)
    answer = await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == forged["id"])
    assert "expired" in answer.params["text"]
    mark = tg.mark()
    tg.send_text(user, dm, "/status")
    await reply_text(tg, dm, mark)  # everything before it was handled
    assert len([c for c in tg.calls_to("sendMessage") if c.params.get("reply_markup")]) == 1
    assert not tg.calls_to("sendMessage", channel["id"])
    assert jobs_rows(settings_of(bot_app)) == []


async def test_a_render_that_keeps_failing_stops_after_max_attempts(tg: FakeTelegram, bot_app, templates_dir: Path,
                                                                    face_photo: Path) -> None:
    # A template whose sound file is garbage: ffmpeg fails every time it starts the encode.
    broken = templates_dir / "broken"
    broken.mkdir()
    shutil.copyfile(templates_dir / "short" / "video.mp4", broken / "video.mp4")
    (broken / "song.m4a").write_bytes(b"not audio" * 50)
    (broken / "template.toml").write_text('title = "Broken"\nvideo = "video.mp4"\naudio = "song.m4a"\n')
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    tg.send_photo(user, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm)
    button = next(data for text, data in tg.buttons(dm["id"], keyboard.result["message_id"]) if text == "Broken")
    tg.press_button(user, dm, keyboard.result, button)
    final = await tg.wait_for("editMessageText", 240, where=lambda c: "tries" in c.params["text"])
    assert "Rendering failed (3 tries)" in final.params["text"]
    (row,) = jobs_rows(settings_of(bot_app))
    assert row["status"] == "failed" and row["attempts"] == 3 and "encode" in row["error"]
    assert not tg.calls_to("sendVideo")


async def test_a_damaged_template_video_is_refused_and_the_next_render_runs(
        tg: FakeTelegram, bot_app, damaged_face_video: Path, face_photo: Path) -> None:
    # The damage makes ffmpeg print more than a pipe holds: a reader that does not drain stderr hangs.
    flood = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(damaged_face_video), "-f", "null", "-"],
                           capture_output=True)
    assert len(flood.stderr) > 64 * 1024
    admin = tg.user(id=ADMIN_ID, language_code="en")
    dm_admin = tg.private_chat(admin)
    mark = tg.mark()
    tg.send_video(admin, dm_admin, damaged_face_video.read_bytes(), caption="/addtemplate Glitch")
    refused = await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "can't be" in c.params["text"])
    assert "damaged" in refused.params["text"]
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    await ask(tg, user, dm, face_photo.read_bytes())
    delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    assert delivered.params["chat_id"] == dm["id"]
    assert not (services_of(bot_app).templates_dir / "glitch").exists()
