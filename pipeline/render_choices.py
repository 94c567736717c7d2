"""What a requester may choose per job (today: a plain background), stored with the job as JSON and
applied over the configured RenderOptions by whichever stage renders it, and what the render then
has to say about them (a grid's photo left out, a background that could not be cleaned), stored
with the result and worded in the caption. The choices are part of the result's cache key
(pipeline/result_cache.py hashes the effective options)."""

from __future__ import annotations

import dataclasses
import json

from engine import RenderOptions, RenderResult
from i18n.texts import t


def choices_json(clean_background: bool) -> str | None:
    """The job's `options` column: None when nothing differs from the configuration."""
    return json.dumps({"clean_background": True}) if clean_background else None


def effective_options(base: RenderOptions, choices: str | None) -> RenderOptions:
    """The configuration with the job's choices applied (unknown keys, from a newer version, ignored)."""
    if not choices:
        return base
    chosen = json.loads(choices)
    known = {f.name for f in dataclasses.fields(RenderOptions)}
    return dataclasses.replace(base, **{k: v for k, v in chosen.items() if k in known})


def render_notes(result: RenderResult) -> str | None:
    """The job's `notes` column: the facts a caption must mention, None when there are none."""
    notes: dict[str, object] = {}
    if result.skipped:
        notes["skipped"] = list(result.skipped)
    if result.notes:  # the engine's own lines: today only the background fallback
        notes["background_fallback"] = True
    return json.dumps(notes) if notes else None


def caption_notes(notes: str | None, lang: str) -> list[str]:
    """The lines a caption adds for the job's notes, in the user's language."""
    if not notes:
        return []
    facts = json.loads(notes)
    lines = []
    if facts.get("skipped"):
        lines.append(t(lang, "grid_skipped_note", photos=", ".join(map(str, facts["skipped"]))))
    if facts.get("background_fallback"):
        lines.append(t(lang, "background_fallback"))
    return lines
