"""Templates from the chat: /addtemplate and /deltemplate for admins, a polite no for others, bad
videos refused with the reason; the import runs in the worker like a render."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
from bot_helpers import ADMIN_ID, eventually, first_button, keyboard_for, reply_text, running_bot, services_of

from engine import list_templates
from tests.fake_engine import Gate
from tests.fake_telegram import FakeTelegram


def faceless_video(tmp_path: Path) -> bytes:
    path = tmp_path / "grey.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=128x128:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path.read_bytes()


async def test_admin_adds_and_deletes_a_template_strangers_cannot(tg: FakeTelegram, bot_app, templates_root: Path,
                                                                  tmp_path: Path) -> None:
    admin, stranger = tg.user(id=ADMIN_ID, language_code="en"), tg.user(language_code="zh")
    dm_admin, dm_stranger = tg.private_chat(admin), tg.private_chat(stranger)
    clip = (templates_root / "short" / "video.mp4").read_bytes()

    video = tg.send_video(stranger, dm_stranger, clip)
    assert "/template 名字" in await reply_text(tg, dm_stranger, 0)  # a bare clip: how to make it their own
    mark = tg.mark()
    tg.send_text(stranger, dm_stranger, "/addtemplate Dance", reply_to=video)
    assert "只有管理员" in await reply_text(tg, dm_stranger, mark)

    mark = tg.mark()
    video = tg.send_video(admin, dm_admin, clip)
    tg.send_text(admin, dm_admin, "/addtemplate Dance Party", reply_to=video)
    assert "queued" in await reply_text(tg, dm_admin, mark)
    added = await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "New template" in c.params["text"])
    assert "Dance Party (dance-party)" in added.params["text"]
    templates_dir = services_of(bot_app).templates_dir
    assert (templates_dir / "dance-party" / "template.toml").is_file()

    mark = tg.mark()
    tg.send_text(stranger, dm_stranger, "/templates")
    assert "Dance Party" in await reply_text(tg, dm_stranger, mark)  # the new button is there for everyone

    mark = tg.mark()
    tg.send_video(admin, dm_admin, faceless_video(tmp_path), caption="/addtemplate Grey")
    refused = await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "can't be" in c.params["text"])
    assert "no face" in refused.params["text"]
    assert not (templates_dir / "grey").exists()

    mark = tg.mark()
    tg.send_text(stranger, dm_stranger, "/deltemplate dance-party")
    assert "只有管理员" in await reply_text(tg, dm_stranger, mark)
    assert (templates_dir / "dance-party").is_dir()
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/deltemplate dance-party")
    assert "will be deleted" in await reply_text(tg, dm_admin, mark)
    await tg.wait_for("editMessageText", 60, since=mark, where=lambda c: "deleted." in c.params["text"])
    assert not (templates_dir / "dance-party").exists()
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/deltemplate ../short")
    assert "No such template" in await reply_text(tg, dm_admin, mark)


def reversed_clip(source: Path, tmp_path: Path) -> bytes:
    """The same clip played backwards: another video (another sha256) of the same length."""
    out = tmp_path / "reversed.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-vf", "reverse",
                    "-af", "areverse", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True)
    return out.read_bytes()


async def add_template(tg: FakeTelegram, admin: dict, dm: dict, clip: bytes, title: str) -> str:
    """/addtemplate as a video's caption; returns the new template's id."""
    mark = tg.mark()
    tg.send_video(admin, dm, clip, caption=f"/addtemplate {title}")
    added = await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "New template" in c.params["text"])
    return added.params["text"].rsplit("(", 1)[1].rstrip(")")


async def test_a_template_named_like_a_folder_of_the_checkout_renders(tg: FakeTelegram, bot_app,
                                                                       templates_root: Path, face_photo: Path) -> None:
    # "Engine" becomes the id "engine", and the working directory has an engine/ folder.
    admin = tg.user(id=ADMIN_ID, language_code="en")
    dm_admin = tg.private_chat(admin)
    assert await add_template(tg, admin, dm_admin, (templates_root / "short" / "video.mp4").read_bytes(),
                              "Engine") == "engine"
    user = tg.user(language_code="en")
    dm = tg.private_chat(user)
    mark = tg.mark()
    tg.send_photo(user, dm, face_photo.read_bytes())
    keyboard = await keyboard_for(tg, dm, mark)
    button = next(data for text, data in tg.buttons(dm["id"], keyboard.result["message_id"]) if text == "Engine")
    tg.press_button(user, dm, keyboard.result, button)
    delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
    assert "Engine" in delivered.params["caption"]


async def test_a_template_re_added_under_the_same_name_is_rendered_anew(tg: FakeTelegram, bot_app,
                                                                        templates_root: Path, face_photo: Path,
                                                                        tmp_path: Path) -> None:
    admin = tg.user(id=ADMIN_ID, language_code="en")
    dm_admin = tg.private_chat(admin)
    clip = templates_root / "short" / "video.mp4"
    first_id = await add_template(tg, admin, dm_admin, clip.read_bytes(), "Dance")
    user = tg.user(language_code="en")
    image = face_photo.read_bytes()

    async def render_in(chat: dict) -> dict:
        mark = tg.mark()
        tg.send_photo(user, chat, image, caption="/yahey" if chat["type"] != "private" else None)
        keyboard = await keyboard_for(tg, chat, mark)
        button = next(data for text, data in tg.buttons(chat["id"], keyboard.result["message_id"]) if text == "Dance")
        tg.press_button(user, chat, keyboard.result, button)
        return (await tg.wait_for("sendVideo", 180, since=mark, where=lambda c: c.ok)).__dict__

    first = await render_in(tg.private_chat(user))
    mark = tg.mark()
    tg.send_text(admin, dm_admin, f"/deltemplate {first_id}")
    await tg.wait_for("editMessageText", 60, since=mark, where=lambda c: "deleted." in c.params["text"])
    second_id = await add_template(tg, admin, dm_admin, reversed_clip(clip, tmp_path), "Dance")
    assert second_id == first_id  # same title, same id: only the content tells them apart
    second = await render_in(tg.group_chat())  # the same photo elsewhere (not a duplicate there)
    assert "video" in second["files"]  # rendered and uploaded, not the first template's video
    assert second["files"]["video"] != first["files"]["video"]


async def test_deltemplate_waits_for_the_running_render_and_cancel_stops_an_import(
        tg: FakeTelegram, make_settings, fake_engine, templates_root: Path, face_photo: Path) -> None:
    gate, prepare_gate = Gate(), Gate(opened=True)
    async with running_bot(make_settings(), fake_engine.gated(gate, prepare_gate)) as app:
        svc = services_of(app)
        await eventually(lambda: svc.stages.render.readiness.ready, timeout=60, what="ready")
        admin, user = tg.user(id=ADMIN_ID, language_code="en"), tg.user(language_code="en")
        dm_admin, dm = tg.private_chat(admin), tg.private_chat(user)
        mark = tg.mark()
        tg.send_photo(user, dm, face_photo.read_bytes())
        keyboard = await keyboard_for(tg, dm, mark)
        tg.press_button(user, dm, keyboard.result, first_button(tg, dm, keyboard))
        await gate.wait_entered()  # a render of "short" is under way ...
        mark = tg.mark()
        tg.send_text(admin, dm_admin, "/deltemplate short")
        assert "after the current render" in await reply_text(tg, dm_admin, mark)
        assert (svc.templates_dir / "short").is_dir()  # ... so the template stays until it is over
        gate.open()
        delivered = await tg.wait_for("sendVideo", 180, where=lambda c: c.ok)
        assert delivered.params["chat_id"] == dm["id"]
        await tg.wait_for("editMessageText", 60, since=mark, where=lambda c: "deleted." in c.params["text"])
        assert not (svc.templates_dir / "short").exists()

        # An import held while its motion is prepared: /cancel stops it and nothing is published.
        prepare_gate.close()
        mark = tg.mark()
        tg.send_video(admin, dm_admin, (templates_root / "short" / "video.mp4").read_bytes(),
                      caption="/addtemplate Halfway")
        await prepare_gate.wait_entered()
        assert list_templates(svc.templates_dir) == []  # not listed while it is being made
        tg.send_text(admin, dm_admin, "/cancel")
        await tg.wait_for("editMessageText", 60, since=mark, where=lambda c: "Cancelled" in c.params["text"])
        assert list(svc.templates_dir.iterdir()) == []  # no folder, no staging folder
