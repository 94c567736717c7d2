"""The languages the bot speaks, which one a user gets, and their gettext catalogues.

A user's language is the one they chose with /language, else the one their Telegram app sends
(`language_code`, an IETF tag such as "pt-br" or "zh-hans"), else English. The bot stores and
passes around the two-letter code (also what setMyCommands takes); the catalogue of a code is
i18n/locales/<locale>/LC_MESSAGES/bot.mo, compiled from the bot.po beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "bot"
EN, ZH, RU, ES, PT, ID = "en", "zh", "ru", "es", "pt", "id"


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1: kept with users and jobs, and the language_code of setMyCommands
    locale: str  # its catalogue's folder under i18n/locales ("" for English, the source language)
    name: str  # in the language itself, for the /language keyboard


LANGUAGES: tuple[Language, ...] = (
    Language(EN, "", "English"),
    Language(ZH, "zh_Hans", "简体中文"),
    Language(RU, "ru", "Русский"),
    Language(ES, "es", "Español"),
    Language(PT, "pt_BR", "Português (Brasil)"),
    Language(ID, "id", "Bahasa Indonesia"),
)
BY_CODE = {language.code: language for language in LANGUAGES}
# Telegram sends IETF tags; the primary subtag picks the language ("zh-hant" readers get Simplified
# Chinese rather than English, "pt-pt" the Brazilian catalogue). "in" is Indonesian's old code.
_ALIASES = {"in": ID}


def lang_of(language_code: str | None) -> str:
    """The bot's language for a Telegram language_code (or a stored code): English when it has none."""
    primary = (language_code or "").strip().lower().replace("_", "-").split("-", 1)[0]
    primary = _ALIASES.get(primary, primary)
    return primary if primary in BY_CODE else EN


@functools.cache
def catalogue(lang: str) -> NullTranslations:
    """The compiled catalogue of `lang` (English, and any unknown code: the messages as written).
    A catalogue that is missing raises: a forgotten `make i18n` must not quietly answer in English."""
    language = BY_CODE.get(lang_of(lang), BY_CODE[EN])
    if not language.locale:
        return NullTranslations()
    found = Translations.load(LOCALES_DIR, [language.locale], DOMAIN)
    if not isinstance(found, Translations):
        raise FileNotFoundError(f"no compiled catalogue for {language.locale} in {LOCALES_DIR}: run make i18n")
    return found
