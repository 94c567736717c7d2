"""What a requester may choose per job (today: a plain background), stored with the job
(storage/codecs.py) and applied over the configured RenderOptions by whichever stage renders it,
and what the render then has to say about them (a grid's photo left out, a background that could not be cleaned), stored
with the result and worded in the caption. The choices are part of the result's cache key
(pipeline/result_cache.py hashes the effective options)."""

from __future__ import annotations

import dataclasses

from engine import RenderOptions, RenderResult
from i18n.texts import t
from storage.codecs import RenderChoices, RenderNotes


def render_choices(clean_background: bool) -> RenderChoices | None:
    """The job's `options` column: None when nothing differs from the configuration."""
    choices = RenderChoices(clean_background=clean_background)
    return choices if choices.any else None


def effective_options(base: RenderOptions, choices: RenderChoices | None) -> RenderOptions:
    """The configuration with the job's choices applied."""
    if choices is None or not choices.clean_background:
        return base
    return dataclasses.replace(base, clean_background=True)


def render_notes(result: RenderResult) -> RenderNotes | None:
    """The job's `notes` column: the facts a caption must mention, None when there are none."""
    # The engine's own lines (result.notes) are today only the background fallback.
    notes = RenderNotes(skipped=tuple(result.skipped), background_fallback=bool(result.notes))
    return notes if notes.any else None


def caption_notes(notes: RenderNotes | None, lang: str) -> list[str]:
    """The lines a caption adds for the job's notes, in the user's language."""
    if notes is None:
        return []
    lines = []
    if notes.skipped:
        lines.append(t(lang, "grid_skipped_note", photos=", ".join(map(str, notes.skipped))))
    if notes.background_fallback:
        lines.append(t(lang, "background_fallback"))
    return lines
