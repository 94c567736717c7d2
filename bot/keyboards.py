"""The template keyboard and its callback data ("t:<offer id>:<template key>", at most 64 bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from engine import Template

PREFIX = "t"
CALLBACK_PATTERN = r"^t:\d+:"
_MAX_DATA = 64


def template_key(template_id: str, offer_id: int) -> str:
    """The template id itself when it fits Telegram's 64 bytes, else a short hash of it."""
    if len(f"{PREFIX}:{offer_id}:{template_id}".encode()) <= _MAX_DATA:
        return template_id
    return "#" + hashlib.sha1(template_id.encode()).hexdigest()[:12]


def template_keyboard(offer_id: int, templates: Sequence[Template], lang: str) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(tpl.title_for(lang), callback_data=f"{PREFIX}:{offer_id}:{template_key(tpl.id, offer_id)}")]
        for tpl in templates
    ]
    return InlineKeyboardMarkup(rows)


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
