"""The bot in its users' languages: /help, /privacy and the command menu from the catalogues, chosen by the
user's language_code; /language overrides it (only the sender's press counts), kept across a restart."""

from __future__ import annotations

import gettext
import sqlite3

from bot_helpers import reply_text, running_bot

from bot.app import COMMANDS
from i18n.languages import BY_CODE, DOMAIN, EN, LOCALES_DIR
from i18n.texts import MESSAGES
from storage.from_settings import sqlite_path
from tests.fake_telegram import FakeTelegram


def translated(code: str, key: str) -> str:
    """The catalogue's text as the stdlib's gettext reads the committed .mo (English: the source)."""
    if code == EN:
        return MESSAGES[key]
    return gettext.translation(DOMAIN, LOCALES_DIR, [BY_CODE[code].locale]).pgettext(key, MESSAGES[key])


def help_text(code: str) -> str:
    """/help's answer: the help, then the privacy line (storage.retention_days = 7)."""
    return f"{translated(code, 'help')}\n\n{translated(code, 'privacy_line').format(days=7)}"


def chosen_language(settings, user_id: int) -> str | None:
    with sqlite3.connect(sqlite_path(settings.storage.url)) as raw:
        return raw.execute("SELECT chosen_language FROM users WHERE id = ?", (user_id,)).fetchone()[0]


async def test_help_privacy_and_the_command_menu_answer_in_the_users_language(tg: FakeTelegram, bot_app) -> None:
    answers = {}
    for language_code, code in (("ru", "ru"), ("es", "es"), ("pt-br", "pt"), ("zh-hans", "zh"), ("en", "en"),
                                ("id", "id"), ("fr", "en")):
        user = tg.user(language_code=language_code)
        dm = tg.private_chat(user)
        mark = tg.mark()
        tg.send_text(user, dm, "/help")
        answers[language_code] = await reply_text(tg, dm, mark)
        assert answers[language_code] == help_text(code), language_code
        mark = tg.mark()
        tg.send_text(user, dm, "/privacy")
        assert await reply_text(tg, dm, mark) == translated(code, "privacy").format(days=7), language_code
    assert len({answers[c] for c in ("ru", "es", "pt-br", "zh-hans", "en", "id")}) == 6  # six different languages
    assert "蚂蚁呀嘿" in answers["zh-hans"] and "/language" in answers["ru"]

    for code in ("zh", "ru", "es", "pt", "id"):
        menu = tg.commands(code)
        assert [c["command"] for c in menu] == list(COMMANDS)
        assert [c["description"] for c in menu] == [translated(code, f"cmd_{c}") for c in COMMANDS]
    assert [c["description"] for c in tg.commands()] == [MESSAGES[f"cmd_{c}"] for c in COMMANDS]  # everyone else


async def test_language_is_chosen_by_its_owner_and_kept(tg: FakeTelegram, make_settings, fake_engine) -> None:
    settings = make_settings()
    ann, bob = tg.user(first_name="Ann", language_code="en"), tg.user(first_name="Bob", language_code="es")
    grp = tg.group_chat(title="Friends")
    tg.add_bot_to_group(ann, grp)
    async with running_bot(settings, fake_engine):
        mark = tg.mark()
        tg.send_text(ann, grp, "/language")
        offer = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params.get("reply_markup"))
        assert offer.params["text"] == translated("en", "language_pick")
        buttons = dict(tg.buttons(grp["id"], offer.result["message_id"]))
        assert set(buttons) == {"English", "简体中文", "Русский", "Español", "Português (Brasil)", "Bahasa Indonesia",
                                "✓ " + translated("en", "language_auto")}  # ann follows her Telegram app so far

        refused = tg.press_button(bob, grp, offer.result, buttons["Русский"])  # not bob's keyboard
        answer = await tg.wait_for("answerCallbackQuery", 10,
                                   where=lambda c: c.params["callback_query_id"] == refused["id"])
        assert answer.params["show_alert"] is True and answer.params["text"] == translated("es", "language_not_yours")
        assert chosen_language(settings, bob["id"]) is None

        pressed = tg.press_button(ann, grp, offer.result, buttons["Русский"])
        answer = await tg.wait_for("answerCallbackQuery", 10,
                                   where=lambda c: c.params["callback_query_id"] == pressed["id"])
        assert answer.params["text"] == translated("ru", "language_set")
        edited = await tg.wait_for("editMessageText", 10, where=lambda c: c.params["chat_id"] == grp["id"])
        assert edited.params["text"] == translated("ru", "language_set")  # the keyboard gives way to the answer

        mark = tg.mark()
        tg.send_text(ann, grp, "/help")  # in a group: the asker's language, not the group's or bob's
        assert await reply_text(tg, grp, mark) == help_text("ru")
        mark = tg.mark()
        tg.send_text(bob, grp, "/help")
        assert await reply_text(tg, grp, mark) == help_text("es")

    async with running_bot(settings, fake_engine):  # a restart: the choice is kept with the user
        assert chosen_language(settings, ann["id"]) == "ru"
        dm = tg.private_chat(ann)
        mark = tg.mark()
        tg.send_text(ann, dm, "/help")
        assert await reply_text(tg, dm, mark) == help_text("ru")

        mark = tg.mark()
        tg.send_text(ann, dm, "/language")
        offer = await tg.wait_for("sendMessage", 30, since=mark, where=lambda c: c.params.get("reply_markup"))
        assert offer.params["text"] == translated("ru", "language_pick")
        buttons = dict(tg.buttons(dm["id"], offer.result["message_id"]))
        assert "✓ Русский" in buttons and translated("ru", "language_auto") in buttons
        pressed = tg.press_button(ann, dm, offer.result, buttons[translated("ru", "language_auto")])
        answer = await tg.wait_for("answerCallbackQuery", 10,
                                   where=lambda c: c.params["callback_query_id"] == pressed["id"])
        assert answer.params["text"] == translated("en", "language_auto_set")  # her app's language again
        assert chosen_language(settings, ann["id"]) is None
        mark = tg.mark()
        tg.send_text(ann, dm, "/help")
        assert await reply_text(tg, dm, mark) == help_text("en")
