"""The inline keyboards and their callback data (at most 64 bytes each):
- under a photo, one button per template: "t:<offer id>:<template key>", then the plain-background
  switch: "b:<offer id>";
- under /templates, a delete button per own template: "dt:<owned template id>";
- under a delivered video, its other forms: "c:<job id>:<note|sticker|gif|pack>", and a share
  button that opens inline mode in a chat the user picks;
- under /language, one button per language and one to follow Telegram's: "l:<user id>:<code|auto>"
  (the user who sent /language: only their presses count).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from engine import OutputKind, Template
from i18n.languages import BY_CODE, LANGUAGES
from i18n.texts import t

PREFIX = "t"
CALLBACK_PATTERN = r"^t:\d+:"
_MAX_DATA = 64


def template_key(template_id: str, offer_id: int) -> str:
    """The template id itself when it fits Telegram's 64 bytes, else a short hash of it."""
    if len(f"{PREFIX}:{offer_id}:{template_id}".encode()) <= _MAX_DATA:
        return template_id
    return "#" + hashlib.sha1(template_id.encode()).hexdigest()[:12]


BACKGROUND_PREFIX = "b"
BACKGROUND_PATTERN = r"^b:\d+$"


def template_buttons(offer_id: int, templates: Sequence[Template], lang: str) -> list[list[InlineKeyboardButton]]:
    """One row per template."""
    return [
        [InlineKeyboardButton(tpl.title_for(lang),
                              callback_data=f"{PREFIX}:{offer_id}:{template_key(tpl.id, offer_id)}")]
        for tpl in templates
    ]


def template_keyboard(offer_id: int, templates: Sequence[Template], lang: str,
                      clean_background: bool = False) -> InlineKeyboardMarkup:
    """One button per template, then the plain-background switch (its state shown by ☑/☐)."""
    rows = template_buttons(offer_id, templates, lang)
    mark = "☑" if clean_background else "☐"
    rows.append([InlineKeyboardButton(f"{mark} {t(lang, 'button_background')}",
                                      callback_data=f"{BACKGROUND_PREFIX}:{offer_id}")])
    return InlineKeyboardMarkup(rows)


def parse_background(data: str) -> int | None:
    prefix, _, offer_id = data.partition(":")
    return int(offer_id) if prefix == BACKGROUND_PREFIX and offer_id.isdigit() else None


def parse_callback(data: str) -> tuple[int, str] | None:
    parts = data.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


def find_template(key: str, offer_id: int, templates: Sequence[Template]) -> Template | None:
    for tpl in templates:
        if template_key(tpl.id, offer_id) == key:
            return tpl
    return None


DELETE_PREFIX = "dt"
DELETE_PATTERN = r"^dt:\d+$"


def own_templates_keyboard(rows: Sequence[tuple[int, str]], lang: str) -> InlineKeyboardMarkup:
    """One delete button per (owned template id, name)."""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(lang, "button_delete_template", name=name), callback_data=f"{DELETE_PREFIX}:{row_id}")]
        for row_id, name in rows
    ])


def parse_delete(data: str) -> int | None:
    prefix, _, row_id = data.partition(":")
    return int(row_id) if prefix == DELETE_PREFIX and row_id.isdigit() else None


CONVERT_PREFIX = "c"
CONVERT_PATTERN = r"^c:\d+:(note|sticker|gif|pack)$"
CONVERSIONS = (OutputKind.NOTE, OutputKind.STICKER, OutputKind.GIF, OutputKind.PACK)


def result_keyboard(job_id: int, lang: str) -> InlineKeyboardMarkup:
    """Under a delivered video: a round note, a sticker, a GIF, the user's pack, share."""

    def button(kind: OutputKind) -> InlineKeyboardButton:
        return InlineKeyboardButton(t(lang, f"button_{kind}"), callback_data=f"{CONVERT_PREFIX}:{job_id}:{kind}")

    return InlineKeyboardMarkup([
        [button(OutputKind.NOTE), button(OutputKind.STICKER), button(OutputKind.GIF)],
        [button(OutputKind.PACK), InlineKeyboardButton(t(lang, "button_share"), switch_inline_query="")],
    ])


def parse_conversion(data: str) -> tuple[int, OutputKind] | None:
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != CONVERT_PREFIX or not parts[1].isdigit():
        return None
    try:
        kind = OutputKind(parts[2])
    except ValueError:
        return None
    return (int(parts[1]), kind) if kind in CONVERSIONS else None


LANGUAGE_PREFIX = "l"
LANGUAGE_AUTO = "auto"
LANGUAGE_PATTERN = rf"^l:\d+:({'|'.join(BY_CODE)}|{LANGUAGE_AUTO})$"


def language_keyboard(user_id: int, lang: str, chosen: str | None) -> InlineKeyboardMarkup:
    """The languages in their own names, two a row, the chosen one ticked; then "Telegram's language"
    (ticked while nothing is chosen)."""

    def button(label: str, code: str, ticked: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(f"✓ {label}" if ticked else label,
                                    callback_data=f"{LANGUAGE_PREFIX}:{user_id}:{code}")

    buttons = [button(language.name, language.code, language.code == chosen) for language in LANGUAGES]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([button(t(lang, "language_auto"), LANGUAGE_AUTO, chosen is None)])
    return InlineKeyboardMarkup(rows)


def parse_language(data: str) -> tuple[int, str | None] | None:
    """(the user whose keyboard it is, the code chosen or None for Telegram's language)."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != LANGUAGE_PREFIX or not parts[1].isdigit():
        return None
    if parts[2] == LANGUAGE_AUTO:
        return int(parts[1]), None
    return (int(parts[1]), parts[2]) if parts[2] in BY_CODE else None
