"""Users' own templates: /template NAME on a clip (or replying to one, a round video note too)
imports it under the render lock for its owner; only that owner's keyboards (a group's: only in
that group) show it; refusals are one line; /templates deletes; unused ones expire."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from bot_helpers import ADMIN_ID, eventually, jobs_rows, keyboard_for, reply_text, services_of, settings_of
from sqlalchemy import update
from test_bot_admin_templates import faceless_video, reversed_clip

from pipeline.housekeeping import clean_up
from storage.from_settings import sqlite_path
from storage.models import OwnedTemplate, utcnow
from tests.fake_telegram import FakeTelegram
from tests.media_probe import assert_telegram_video

CLIP_SECONDS = 3
CLIP_FPS = 10  # few frames: the render on a CPU stays short, the clip still lasts 3 s


@pytest.fixture(scope="module")
def face_clip(face_photo: Path, tmp_path_factory) -> bytes:
    """A 3 s 256x256 clip of the test face nodding, with a 3 s sine as its song."""
    rgb = cv2.cvtColor(cv2.imread(str(face_photo)), cv2.COLOR_BGR2RGB)
    side = min(rgb.shape[:2])
    y, x = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    head = cv2.resize(rgb[y:y + side, x:x + side], (256, 256), interpolation=cv2.INTER_AREA)
    out = tmp_path_factory.mktemp("clips") / "wiggle.mp4"
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    proc = subprocess.Popen([ff, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "256x256",
                             "-framerate", str(CLIP_FPS), "-i", "-", "-f", "lavfi", "-i",
                             f"sine=frequency=330:duration={CLIP_SECONDS}", "-t", str(CLIP_SECONDS),
                             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(CLIP_SECONDS * CLIP_FPS):
        m = cv2.getRotationMatrix2D((128, 128), 6.0 * np.sin(i / 2), 1.0)
        proc.stdin.write(cv2.warpAffine(head, m, (256, 256), borderMode=cv2.BORDER_REFLECT).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return out.read_bytes()


def owned_rows(settings) -> list[dict]:  # type: ignore[no-untyped-def]
    with sqlite3.connect(sqlite_path(settings.storage.url)) as raw:
        raw.row_factory = sqlite3.Row
        return [dict(r) for r in raw.execute("SELECT * FROM owned_templates ORDER BY id")]


async def last_used(db, when) -> None:  # type: ignore[no-untyped-def]
    """Move the templates' last use into the past (through the bot's own engine: a second
    connection would wait on the bot's lock while holding this event loop)."""
    async with db.write() as session:
        await session.execute(update(OwnedTemplate).values(last_used_at=when))


def user_folders(settings) -> list[str]:  # type: ignore[no-untyped-def]
    root = settings.user_templates.dir
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def button_texts(tg: FakeTelegram, chat: dict, message: dict) -> list[str]:
    return [text for text, _ in tg.buttons(chat["id"], message["message_id"])]


async def make_template(tg: FakeTelegram, user: dict, chat: dict, clip: bytes, name: str) -> str:
    """/template NAME as the clip's caption; returns the line the import ended with."""
    mark = tg.mark()
    tg.send_video(user, chat, clip, caption=f"/template {name}")
    status = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == chat["id"])
    assert name in status.params["text"]  # "Making your template NAME"
    ended = await tg.wait_for("editMessageText", 240, since=mark,
                              where=lambda c: c.params["message_id"] == status.result["message_id"])
    return ended.params["text"]


async def test_a_users_3_s_clip_becomes_their_template_and_only_theirs(tg: FakeTelegram, bot_app, face_clip: bytes,
                                                                        face_photo: Path) -> None:
    ann, ben = tg.user(language_code="en"), tg.user(language_code="en")
    dm_ann, dm_ben = tg.private_chat(ann), tg.private_chat(ben)
    settings = settings_of(bot_app)

    ready = await make_template(tg, ann, dm_ann, face_clip, "Wiggle")
    assert ready.startswith("✅") and "Wiggle" in ready and "ready" in ready
    [row] = owned_rows(settings)
    assert (row["owner_kind"], row["owner_id"], row["name"]) == ("user", ann["id"], "Wiggle")
    assert user_folders(settings) == [row["folder"]]
    assert not (settings.templates.dir / row["folder"]).exists()  # never among the public templates

    # Ann's keyboard shows it first; Ben's does not, and a forged press of it is refused.
    mark = tg.mark()
    tg.send_photo(ann, dm_ann, face_photo.read_bytes())
    ann_keyboard = (await keyboard_for(tg, dm_ann, mark)).result
    assert button_texts(tg, dm_ann, ann_keyboard)[:2] == ["Wiggle", "Short"]
    wiggle = tg.buttons(dm_ann["id"], ann_keyboard["message_id"])[0][1]
    mark = tg.mark()
    tg.send_photo(ben, dm_ben, face_photo.read_bytes())
    ben_keyboard = (await keyboard_for(tg, dm_ben, mark)).result
    assert "Wiggle" not in button_texts(tg, dm_ben, ben_keyboard)
    ben_offer = tg.buttons(dm_ben["id"], ben_keyboard["message_id"])[0][1].split(":")[1]
    forged = f"t:{ben_offer}:{wiggle.split(':', 2)[2]}"  # Ann's template on Ben's keyboard
    query = tg.press_button(ben, dm_ben, ben_keyboard, forged, check=False)
    refused = await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])
    assert refused.params["show_alert"] is True and "no longer exists" in refused.params["text"]
    mark = tg.mark()
    tg.send_text(ben, dm_ben, "/templates")
    assert "Wiggle" not in await reply_text(tg, dm_ben, mark)

    # The video made with it lasts as long as the clip.
    tg.press_button(ann, dm_ann, ann_keyboard, wiggle)
    delivered = await tg.wait_for("sendVideo", 300, where=lambda c: c.ok)
    assert delivered.params["chat_id"] == dm_ann["id"] and "Wiggle" in delivered.params["caption"]
    video = assert_telegram_video(delivered.files["video"])
    assert abs(video.duration - CLIP_SECONDS) < 0.25

    # The same clip again is the same template; Ben's copy of it shares the folder, not the row.
    assert "already" in await make_template(tg, ann, dm_ann, face_clip, "Wiggle again")
    assert "ready" in await make_template(tg, ben, dm_ben, face_clip, "Mine")
    assert [(r["owner_id"], r["name"]) for r in owned_rows(settings)] == [(ann["id"], "Wiggle"), (ben["id"], "Mine")]
    assert user_folders(settings) == [row["folder"]]

    # /templates deletes with a button, the owner's presses only; the folder goes with the last owner.
    mark = tg.mark()
    tg.send_text(ann, dm_ann, "/templates")
    listing = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == dm_ann["id"])
    assert "Wiggle" in listing.params["text"] and "Short" in listing.params["text"]
    [(label, delete)] = tg.buttons(dm_ann["id"], listing.result["message_id"])
    assert "Wiggle" in label
    query = tg.press_button(ben, dm_ann, listing.result, delete)
    refused = await tg.wait_for("answerCallbackQuery", 10, where=lambda c: c.params["callback_query_id"] == query["id"])
    assert "Only its owner" in refused.params["text"]
    mark = tg.mark()
    tg.press_button(ann, dm_ann, listing.result, delete)
    await tg.wait_for("editMessageText", 30, since=mark, where=lambda c: "deleted" in c.params["text"])
    assert [r["name"] for r in owned_rows(settings)] == ["Mine"]
    assert user_folders(settings) == [row["folder"]]  # Ben still has the clip
    mark = tg.mark()
    tg.send_text(ben, dm_ben, "/templates")
    listing = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == dm_ben["id"])
    tg.press_button(ben, dm_ben, listing.result, tg.buttons(dm_ben["id"], listing.result["message_id"])[0][1])
    await eventually(lambda: user_folders(settings) == [], 30, "the last owner's deletion removed the folder")
    assert owned_rows(settings) == []


async def test_refusals_are_one_line_and_imports_count_against_the_quota(tg: FakeTelegram, make_settings,
                                                                         fake_engine, face_clip: bytes,
                                                                         tmp_path: Path) -> None:
    from bot_helpers import running_bot

    async with running_bot(make_settings(limits={"daily_quota": 2}), fake_engine) as app:
        settings = settings_of(app)
        cy = tg.user(language_code="en")
        dm = tg.private_chat(cy)

        async def answer(**send) -> str:  # type: ignore[no-untyped-def]
            mark = tg.mark()
            tg.send_video(cy, dm, **send)
            return await reply_text(tg, dm, mark)

        assert "Reply to it with /template" in await answer(data=face_clip)  # a bare clip: a hint
        assert "too long" in await answer(data=face_clip, caption="/template Long", duration=16)
        assert "too large" in await answer(data=face_clip, caption="/template Big", file_size=25 * 1024 * 1024)
        assert "one line of 1–32" in await answer(data=face_clip, caption="/template " + "x" * 33)
        assert jobs_rows(settings) == []  # all refused before any download

        # A clip with no face, then a round video note replied to: both imported and refused.
        assert "couldn't find a face" in await make_template(tg, cy, dm, faceless_video(tmp_path), "Grey")
        mark = tg.mark()
        note = tg.send_video_note(cy, dm, faceless_video(tmp_path))  # notes have no caption
        assert "Reply to it with /template" in await reply_text(tg, dm, mark)
        mark = tg.mark()
        tg.send_text(cy, dm, "/template Round", reply_to=note)
        assert "Round" in await reply_text(tg, dm, mark)
        await tg.wait_for("editMessageText", 120, since=mark,
                          where=lambda c: "couldn't find a face" in c.params["text"])
        assert [r["kind"] for r in jobs_rows(settings)] == ["own_template", "own_template"]
        assert user_folders(settings) == []

        # Two imports today: the daily quota of 2 is used up.
        assert "today's 2 videos" in await answer(data=face_clip, caption="/template Third")
        assert len(jobs_rows(settings)) == 2


async def test_a_clip_longer_than_its_metadata_says_is_refused_by_the_import(tg: FakeTelegram, make_settings,
                                                                             fake_engine,
                                                                             face_clip: bytes) -> None:
    from bot_helpers import running_bot

    async with running_bot(make_settings(user_templates={"max_seconds": 2.5}), fake_engine) as app:
        dee = tg.user(language_code="zh")
        dm = tg.private_chat(dee)
        mark = tg.mark()
        tg.send_video(dee, dm, face_clip, caption="/template 长", duration=2)  # the client's claim
        await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "太长" in c.params["text"])
        assert user_folders(settings_of(app)) == [] and owned_rows(settings_of(app)) == []


async def test_a_groups_template_shows_only_there_and_expires_unused(tg: FakeTelegram, bot_app, templates_root: Path,
                                                                      face_photo: Path, tmp_path: Path) -> None:
    settings, svc = settings_of(bot_app), services_of(bot_app)
    eve = tg.user(language_code="en")
    grp, dm = tg.group_chat(), tg.private_chat(eve)
    video = tg.send_video(eve, grp, reversed_clip(templates_root / "short" / "video.mp4", tmp_path))
    mark = tg.mark()
    tg.send_text(eve, grp, "/template Party", reply_to=video)
    await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "ready" in c.params["text"])
    [row] = owned_rows(settings)
    assert (row["owner_kind"], row["owner_id"], row["created_by"]) == ("chat", grp["id"], eve["id"])

    async def buttons_in(chat: dict) -> list[str]:
        mark = tg.mark()
        tg.send_photo(eve, chat, face_photo.read_bytes(), caption="/yahey" if chat is grp else None)
        return button_texts(tg, chat, (await keyboard_for(tg, chat, mark)).result)

    assert (await buttons_in(grp))[0] == "Party"
    assert "Party" not in await buttons_in(dm)  # the group's, not Eve's

    # Admins see everyone's templates.
    admin = tg.user(id=ADMIN_ID, language_code="en")
    dm_admin = tg.private_chat(admin)
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/templates all")
    assert f"#{row['id']} Party (chat {grp['id']})" in await reply_text(tg, dm_admin, mark)

    # Used a while ago, then not for 30 days: the daily clean-up deletes it with its folder and motion.
    motion = settings.engine.cache_dir / "driving"
    motion_before = set(motion.glob("*.npz"))
    await last_used(svc.db, utcnow() - timedelta(days=29))
    await clean_up(settings, svc.db)
    assert [r["name"] for r in owned_rows(settings)] == ["Party"]  # 29 days: kept
    await last_used(svc.db, utcnow() - timedelta(days=31))
    await clean_up(settings, svc.db)
    assert owned_rows(settings) == [] and user_folders(settings) == []
    assert set(motion.glob("*.npz")) < motion_before  # the clip's motion went with it
    mark = tg.mark()
    tg.send_text(eve, grp, "/templates")
    assert "Party" not in await reply_text(tg, grp, mark)
    mark = tg.mark()
    tg.send_text(admin, dm_admin, f"/deltemplate #{row['id']}")
    assert "No such template" in await reply_text(tg, dm_admin, mark)


async def test_an_admin_removes_a_users_template(tg: FakeTelegram, bot_app, templates_root: Path,
                                                 tmp_path: Path) -> None:
    settings = settings_of(bot_app)
    fay, admin = tg.user(language_code="en"), tg.user(id=ADMIN_ID, language_code="en")
    dm, dm_admin = tg.private_chat(fay), tg.private_chat(admin)
    assert "ready" in await make_template(tg, fay, dm, reversed_clip(templates_root / "short" / "video.mp4", tmp_path),
                                          "Spin")
    [row] = owned_rows(settings)
    mark = tg.mark()
    tg.send_text(fay, dm, f"/deltemplate #{row['id']}")
    assert "only the bot's admins" in await reply_text(tg, dm, mark)
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/templates all")
    listing = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params["chat_id"] == dm_admin["id"])
    [(label, delete)] = tg.buttons(dm_admin["id"], listing.result["message_id"])
    assert "Spin" in label
    mark = tg.mark()
    tg.press_button(admin, dm_admin, listing.result, delete)
    await tg.wait_for("editMessageText", 30, since=mark, where=lambda c: "deleted" in c.params["text"])
    assert owned_rows(settings) == [] and user_folders(settings) == []
