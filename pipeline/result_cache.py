"""The key under which a delivered video is reused: what the video depends on besides the photo.

The template's *content* (its video and sound hashed), not its id or title: a template deleted and
added again under the same name is another template. And the render options, so a different
choice (a plain background) is another video. (A conversion of the video is looked up under this key
and its output kind.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from engine import RenderOptions, Template


def result_key(template: Template, options: RenderOptions) -> str:
    """Blocking (hashes the template's files, memoised per file): call it off the event loop."""
    described = json.dumps({"template": template.fingerprint(), "options": dataclasses.asdict(options)},
                           sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()[:40]
