"""The gettext catalogues: every message of i18n/texts.py translated in every language, its English
current (not fuzzy), its placeholders kept, and the committed .mo compiled from the .po as it is.
`catalogue_problems` is run on the real catalogues and on damaged copies (it must name each fault)."""

from __future__ import annotations

import gettext
import shutil
import string
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from i18n.languages import BY_CODE, DOMAIN, EN, LANGUAGES, LOCALES_DIR, lang_of
from i18n.texts import MESSAGES, t

TRANSLATED = [language for language in LANGUAGES if language.code != EN]


def _fields(text: str) -> set[str]:
    """The {placeholders} of a str.format template; ValueError for a broken brace."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def catalogue_problems(po_path: Path, mo_path: Path, messages: dict[str, str]) -> list[str]:
    """Every way the catalogue at `po_path` (and its compiled `mo_path`) falls short of `messages`."""
    problems: list[str] = []
    with po_path.open("rb") as f:
        po = read_po(f)
    found = {m.context: m for m in po if m.id}
    problems += [f"missing {key}" for key in messages if key not in found]
    problems += [f"not in i18n/texts.py: {key}" for key in found if key not in messages]
    for key, english in messages.items():
        entry = found.get(key)
        if entry is None:
            continue
        if entry.id != english:
            problems.append(f"{key}: msgid is not the current English")
        if entry.fuzzy:
            problems.append(f"{key}: fuzzy")
        if not entry.string:
            problems.append(f"{key}: untranslated")
            continue
        try:
            if _fields(entry.string) != _fields(english):
                problems.append(f"{key}: placeholders {sorted(_fields(entry.string))}, "
                                f"English has {sorted(_fields(english))}")
            else:
                entry.string.format(**dict.fromkeys(_fields(english), "x"))
        except (ValueError, IndexError, KeyError) as err:
            problems.append(f"{key}: broken braces ({err})")
    if not mo_path.exists():
        return [*problems, "no compiled .mo"]
    with mo_path.open("rb") as f:
        mo = read_mo(f)
    compiled = {(m.context, m.id): m.string for m in mo if m.id}
    wanted = {(m.context, m.id): m.string for m in po if m.id and m.string and not m.fuzzy}
    if compiled != wanted:
        problems.append("the .mo is stale: run make i18n")
    return problems


def _paths(locale: str, root: Path = LOCALES_DIR) -> tuple[Path, Path]:
    folder = root / locale / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


@pytest.mark.parametrize("language", TRANSLATED, ids=[language.locale for language in TRANSLATED])
def test_every_message_is_translated_with_its_placeholders_and_compiled(language) -> None:
    assert catalogue_problems(*_paths(language.locale), MESSAGES) == []


def test_the_languages_shipped() -> None:
    assert {language.code for language in LANGUAGES} == {"en", "zh", "ru", "es", "pt", "id"}
    assert {p.name for p in LOCALES_DIR.iterdir() if p.is_dir()} == {language.locale for language in TRANSLATED}


def test_a_damaged_catalogue_is_reported_fault_by_fault(tmp_path: Path) -> None:
    shutil.copytree(LOCALES_DIR / "ru", tmp_path / "ru")
    po_path, mo_path = _paths("ru", tmp_path)
    with po_path.open("rb") as f:
        po = read_po(f)
    po.delete(MESSAGES["cancelled"], context="cancelled")
    po.get(MESSAGES["queued"], context="queued").string = "⏳ В очереди (место {position}): {title}"
    po.get(MESSAGES["done"], context="done").string = "✅ Готово: {title"
    po.get(MESSAGES["sending"], context="sending").string = ""
    po.get(MESSAGES["error"], context="error").flags.add("fuzzy")
    with po_path.open("wb") as f:
        write_po(f, po, width=0)
    changed = dict(MESSAGES, grid_cancel="Stop")  # the English changed since the last make i18n
    problems = catalogue_problems(po_path, mo_path, changed)
    assert "missing cancelled" in problems
    assert any(p.startswith("queued: placeholders ['position', 'title']") for p in problems)
    assert any(p.startswith("done: broken braces") for p in problems)
    assert "sending: untranslated" in problems and "error: fuzzy" in problems
    assert "grid_cancel: msgid is not the current English" in problems
    assert "the .mo is stale: run make i18n" in problems  # the .mo still holds the old texts

    with mo_path.open("wb") as f:  # compiled again: only the .po's own faults remain
        write_mo(f, po)
    assert "the .mo is stale: run make i18n" not in catalogue_problems(po_path, mo_path, changed)


@pytest.mark.parametrize("language_code, code", [
    ("ru", "ru"), ("es", "es"), ("es-419", "es"), ("pt-br", "pt"), ("pt", "pt"), ("id", "id"), ("in", "id"),
    ("zh-hans", "zh"), ("zh-cn", "zh"), ("zh", "zh"), ("zh-hant", "zh"), ("en", "en"), ("fr", "en"), ("", "en"),
    (None, "en"),
])
def test_a_telegram_language_code_picks_a_language(language_code: str | None, code: str) -> None:
    assert lang_of(language_code) == code


def test_texts_come_from_the_compiled_catalogues() -> None:
    for language in TRANSLATED:
        compiled = gettext.translation(DOMAIN, LOCALES_DIR, [language.locale])  # the stdlib's reading of the .mo
        expected = compiled.pgettext("queued", MESSAGES["queued"]).format(pos=3, title="蚂蚁呀嘿")
        assert t(language.code, "queued", pos=3, title="蚂蚁呀嘿") == expected != MESSAGES["queued"].format(
            pos=3, title="蚂蚁呀嘿")
    assert t(EN, "queued", pos=3, title="T") == "⏳ Queued (position 3): T"
    assert t("fr", "cancelled") == MESSAGES["cancelled"]
    assert BY_CODE["zh"].locale == "zh_Hans" and t("zh", "cancelled") == "🚫 已取消。"


def test_two_messages_with_one_key_are_refused() -> None:
    from i18n.texts import _unique

    with pytest.raises(ValueError, match="'done'"):
        _unique([("done", "✅ Done"), ("cancelled", "🚫 Cancelled."), ("done", "✅ Finished")])
