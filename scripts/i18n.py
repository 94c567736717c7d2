"""The bot's gettext catalogues (README "Languages"):

    .venv/bin/python scripts/i18n.py update              # `make i18n`: extract, update every .po, compile every .mo
    .venv/bin/python scripts/i18n.py fill TRANSLATIONS.json  # {"ru": {"key": "…"}, "es": {…}, …} into the .po files
    .venv/bin/python scripts/i18n.py absorb OLD_TEXTS.py     # e.g. <(git show BRANCH:i18n/texts.py)

`update` runs pybabel: the English messages of i18n/texts.py (keyword N_: the key is the msgctxt, the
text the msgid) into i18n/locales/bot.pot (not committed), every catalogue updated from it (new
messages untranslated, changed ones fuzzy, obsolete ones dropped), then compiled to bot.mo.

`absorb` brings texts written the old way (i18n/texts.py's `{"key": {ZH: ..., EN: ...}}` dict, from
branches made before the catalogues) in: it appends each key of the old dict that i18n/texts.py lacks
as `N_("key", "English")` and puts its Chinese into the zh_Hans catalogue; keys whose English
differs from i18n/texts.py are listed, not changed (decide by hand). `fill` writes translations,
keyed by language code (ru, es, pt, id, zh), into the catalogues.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
START_OF_MESSAGES = "MESSAGES: dict[str, str] = _unique(["  # in i18n/texts.py
END_OF_MESSAGES = "\n])\n"


def _literal(text: str) -> str:
    """`text` as the rest of an N_( call's line: one string literal per line of the message, from the
    next line on when there are several."""
    lines = [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]
    parts = [json.dumps(line, ensure_ascii=False) for line in lines if line]
    return " " + parts[0] if len(parts) == 1 else "\n       " + "\n       ".join(parts)


def _old_texts(path: Path) -> dict[str, dict[str, str]]:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # our own old module
    texts = namespace.get("_TEXTS")
    if not isinstance(texts, dict):
        raise SystemExit(f"{path}: no _TEXTS dict (is it an old i18n/texts.py?)")
    return texts


def _messages(root: Path) -> dict[str, str]:
    namespace: dict[str, object] = {}
    source = (root / "i18n" / "texts.py").read_text(encoding="utf-8")
    start = source.index(START_OF_MESSAGES)
    body = source[start:source.index(END_OF_MESSAGES, start) + len(END_OF_MESSAGES)]
    exec("def N_(key, text):\n    return key, text\n_unique = dict\n" + body, namespace)
    messages = namespace["MESSAGES"]
    assert isinstance(messages, dict), "MESSAGES is a dict of key -> English"
    return messages


def _catalogue_path(root: Path, locale: str) -> Path:
    return root / "i18n" / "locales" / locale / "LC_MESSAGES" / "bot.po"


def _locales(root: Path) -> dict[str, str]:
    """Language code -> catalogue folder, from i18n/languages.py."""
    sys.path.insert(0, str(root))
    from i18n.languages import LANGUAGES

    return {language.code: language.locale for language in LANGUAGES if language.locale}


def _set_strings(path: Path, english: dict[str, str], strings: dict[str, str]) -> None:
    with path.open("rb") as f:
        catalogue = read_po(f)
    for key, string in strings.items():
        entry = catalogue.get(english[key], context=key)
        if entry is None:
            catalogue.add(english[key], string, context=key)
        else:
            entry.string = string
            entry.flags.discard("fuzzy")
    with path.open("wb") as f:
        write_po(f, catalogue, width=0, ignore_obsolete=True)


def absorb(old_path: Path, root: Path = ROOT) -> list[str]:
    """Returns the keys added."""
    old, messages = _old_texts(old_path), _messages(root)
    added = [key for key in old if key not in messages]
    for key in old:
        if key in messages and old[key].get("en") != messages[key]:
            print(f"English differs, left as it is: {key}\n  old branch: {old[key].get('en')!r}\n"
                  f"  i18n/texts.py: {messages[key]!r}")
    if not added:
        return []
    texts = root / "i18n" / "texts.py"
    source = texts.read_text(encoding="utf-8")
    end = source.index(END_OF_MESSAGES, source.index(START_OF_MESSAGES))
    entries = "".join(f"\n    N_({json.dumps(key)},{_literal(old[key]['en'])})," for key in added)
    texts.write_text(source[:end] + entries + source[end:], encoding="utf-8")
    english = {key: old[key]["en"] for key in added}
    chinese = {key: old[key]["zh"] for key in added if old[key].get("zh")}
    _set_strings(_catalogue_path(root, _locales(root)["zh"]), english, chinese)
    print(f"added {len(added)}: {', '.join(added)}\nnow: make i18n, then translate them (scripts/i18n.py fill)")
    return added


def fill(translations_path: Path, root: Path = ROOT) -> None:
    translations: dict[str, dict[str, str]] = json.loads(translations_path.read_text(encoding="utf-8"))
    messages, locales = _messages(root), _locales(root)
    for code, strings in translations.items():
        unknown = [key for key in strings if key not in messages]
        if code not in locales or unknown:
            raise SystemExit(f"{code}: not a translated language" if code not in locales
                             else f"{code}: unknown keys {unknown}")
        _set_strings(_catalogue_path(root, locales[code]), messages, strings)
        print(f"{code}: {len(strings)} translation(s) written")


def update(root: Path = ROOT) -> None:
    locales, texts = root / "i18n" / "locales", root / "i18n" / "texts.py"
    pot = locales / "bot.pot"
    for args in (
        ["extract", "--no-default-keywords", "--keyword=N_:1c,2", "--no-location", "--no-wrap",
         "--project=yahey-bot", "-o", str(pot), str(texts)],
        ["update", "-D", "bot", "-i", str(pot), "-d", str(locales), "--no-wrap", "--ignore-obsolete",
         "--ignore-pot-creation-date", "--previous"],
        ["compile", "-D", "bot", "-d", str(locales), "--statistics"],
    ):
        if CommandLineInterface().run(["pybabel", *args]):
            raise SystemExit(f"pybabel {args[0]} failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("update")
    commands.add_parser("absorb").add_argument("old_texts", type=Path)
    commands.add_parser("fill").add_argument("translations", type=Path)
    args = parser.parse_args(argv)
    if args.command == "update":
        update()
    elif args.command == "absorb":
        absorb(args.old_texts)
    else:
        fill(args.translations)


if __name__ == "__main__":
    main()
