"""The one way the front end says no: a text key and its values, worded in the user's language by
the handler that catches it (intake, albums, grids, own templates, conversions)."""

from __future__ import annotations

from i18n.texts import t


class Refusal(Exception):
    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def text(self, lang: str) -> str:
        return t(lang, self.key, **self.values)
