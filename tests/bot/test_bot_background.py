"""The plain background, one press: a switch on the template keyboard (only the requester may flip
it) that makes the render put the person on a plain background; the choice is part of the job and
of the cache key."""

from __future__ import annotations

import io
import json

import numpy as np
from bot_helpers import eventually, first_button, jobs_rows, keyboard_for, settings_of
from PIL import Image

from tests.fake_telegram import FakeTelegram
from tests.media_probe import assert_telegram_video


def astronaut_png() -> bytes:
    """A person in front of a busy background (a flag, the shuttle)."""
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "PNG")
    return buf.getvalue()


def first_frame(mp4: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(mp4)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


async def test_a_plain_background_with_one_press(tg: FakeTelegram, bot_app) -> None:
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="en")
    grp = tg.group_chat()
    image = astronaut_png()
    mark = tg.mark()
    tg.send_photo(ann, grp, image, caption="/yahey")
    keyboard = await keyboard_for(tg, grp, mark)
    message_id = keyboard.result["message_id"]
    switch = tg.buttons(grp["id"], message_id)[-1]
    assert switch[0] == "☐ Plain background"
    refused = tg.press_button(bob, grp, keyboard.result, switch[1])  # not Bob's photo
    answer = await tg.wait_for("answerCallbackQuery", 10,
                               where=lambda c: c.params["callback_query_id"] == refused["id"])
    assert "Only the person who asked" in answer.params["text"]
    flipped = tg.press_button(ann, grp, keyboard.result, switch[1])
    answer = await tg.wait_for("answerCallbackQuery", 10,
                               where=lambda c: c.params["callback_query_id"] == flipped["id"])
    assert answer.params["text"] == "Plain background: on"
    await eventually(lambda: tg.buttons(grp["id"], message_id)[-1][0] == "☑ Plain background", what="switch shown on")

    tg.press_button(ann, grp, keyboard.result, first_button(tg, grp, keyboard))
    plain = await tg.wait_for("sendVideo", 240, where=lambda c: c.ok)
    assert_telegram_video(plain.files["video"])
    corner = first_frame(plain.files["video"])[:40, :40].astype(np.int16)
    assert np.abs(corner - 242).max() <= 12  # the flag and the stars are gone: the plain grey (#f2f2f2)

    # The same photo without the switch is another video: rendered again, not taken from the cache.
    mark = tg.mark()
    tg.send_photo(ann, tg.private_chat(ann), image)
    keyboard = await keyboard_for(tg, tg.private_chat(ann), mark)
    tg.press_button(ann, tg.private_chat(ann), keyboard.result, first_button(tg, tg.private_chat(ann), keyboard))
    busy = await tg.wait_for("sendVideo", 240, since=mark, where=lambda c: c.ok)
    assert "video" in busy.files  # uploaded: rendered anew
    corner = first_frame(busy.files["video"])[:40, :40].astype(np.int16)
    assert np.abs(corner - 242).max() > 12  # the photo's own background
    settings = settings_of(bot_app)
    await eventually(lambda: [r["status"] for r in jobs_rows(settings)] == ["done", "done"], what="both done")
    rows = jobs_rows(settings)
    assert json.loads(rows[0]["options"]) == {"clean_background": True} and rows[1]["options"] is None
    assert rows[0]["result_key"] != rows[1]["result_key"]
