"""Templates from the chat: /addtemplate and /deltemplate for admins, a polite no for others, bad
videos refused with the reason; the import runs in the worker like a render."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from bot_helpers import ADMIN_ID, reply_text
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
    assert "请发一张照片" in await reply_text(tg, dm_stranger, 0)  # a video is not what users send
    mark = tg.mark()
    tg.send_text(stranger, dm_stranger, "/addtemplate Dance", reply_to=video)
    assert "只有管理员" in await reply_text(tg, dm_stranger, mark)

    mark = tg.mark()
    video = tg.send_video(admin, dm_admin, clip)
    tg.send_text(admin, dm_admin, "/addtemplate Dance Party", reply_to=video)
    assert "queued" in await reply_text(tg, dm_admin, mark)
    added = await tg.wait_for("editMessageText", 120, since=mark, where=lambda c: "New template" in c.params["text"])
    assert "Dance Party (dance-party)" in added.params["text"]
    templates_dir = bot_app.bot_data["services"].templates_dir
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
    assert "deleted" in await reply_text(tg, dm_admin, mark)
    assert not (templates_dir / "dance-party").exists()
    mark = tg.mark()
    tg.send_text(admin, dm_admin, "/deltemplate ../short")
    assert "No such template" in await reply_text(tg, dm_admin, mark)
