"""Templates: a folder with template.toml (title, video; optional audio, title_zh, title_en).

This file format is a contract shared with users who add their own templates.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BadTemplateVideo, EngineError, TemplateMissing
from .faces import detect_faces
from .video_io import probe, read_sample_frames

if TYPE_CHECKING:
    from .engine import Engine

TEMPLATE_FILE = "template.toml"


@dataclass(frozen=True)
class Template:
    id: str  # folder name, e.g. "yahey"
    dir: Path
    title: str
    title_zh: str | None
    title_en: str | None
    video: Path
    audio: Path | None  # None: the video's own sound track, if it has one

    def title_for(self, lang: str) -> str:
        if lang.lower().startswith("zh"):
            return self.title_zh or self.title
        return self.title_en or self.title

    @property
    def sound(self) -> Path:
        """The file whose first audio stream goes into renders."""
        return self.audio or self.video


def _read(folder: Path) -> Template:
    toml_path = folder / TEMPLATE_FILE
    if not toml_path.is_file():
        raise TemplateMissing(f"no {TEMPLATE_FILE} in {folder}")
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateMissing(f"{toml_path} is not valid TOML: {exc}") from exc
    title, video = data.get("title"), data.get("video")
    if not isinstance(title, str) or not isinstance(video, str):
        raise TemplateMissing(f"{toml_path} needs string keys 'title' and 'video'")
    audio = data.get("audio")
    return Template(
        id=folder.name,
        dir=folder,
        title=title,
        title_zh=data.get("title_zh"),
        title_en=data.get("title_en"),
        video=folder / video,
        audio=folder / audio if isinstance(audio, str) else None,
    )


def load_template(id_or_dir: str | Path, templates_dir: Path) -> Template:
    """A template by id (folder name under templates_dir) or by folder path; raises TemplateMissing."""
    candidate = Path(id_or_dir)
    folder = candidate if candidate.is_dir() else Path(templates_dir) / str(id_or_dir)
    if not folder.is_dir():
        raise TemplateMissing(f"no template '{id_or_dir}' (looked in {templates_dir})")
    template = _read(folder)
    if not template.video.is_file():
        raise TemplateMissing(f"template '{template.id}' has no video file {template.video.name} "
                              f"(for yahey: python -m engine templates fetch)")
    if template.audio is not None and not template.audio.is_file():
        raise TemplateMissing(f"template '{template.id}' has no audio file {template.audio.name}")
    return template


def list_templates(templates_dir: Path) -> list[Template]:
    """Templates whose video exists, sorted by id (broken folders are skipped)."""
    out = []
    root = Path(templates_dir)
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            out.append(load_template(folder, root))
        except TemplateMissing:
            continue
    return out


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return slug or "template"


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def check_template_video(video: Path, min_seconds: float, max_seconds: float) -> None:
    """BadTemplateVideo unless `video` has a video stream, a duration in range and a face."""
    try:
        info = probe(video)
    except EngineError as exc:
        raise BadTemplateVideo("not a readable video") from exc
    if not info.has_video:
        raise BadTemplateVideo("no video stream")
    if not (min_seconds <= info.duration <= max_seconds):
        raise BadTemplateVideo(f"duration {info.duration:.1f}s is outside {min_seconds:g}-{max_seconds:g}s")
    times = [info.duration * (i + 0.5) / 6 for i in range(6)]
    if not any(detect_faces(f) for f in read_sample_frames(video, times)):
        raise BadTemplateVideo("no face found in the video")


def import_template(video: Path, title: str, templates_dir: Path, engine: "Engine | None" = None,
                    min_seconds: float = 1.0, max_seconds: float = 30.0) -> Template:
    """Copy `video` into a new templates_dir/<slug>/ with a template.toml, validated (and prepared
    with `engine` if given). Blocking. On failure nothing is left behind."""
    video = Path(video)
    check_template_video(video, min_seconds, max_seconds)
    root = Path(templates_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = _slug(title)
    folder = root / base
    while folder.exists():
        folder = root / f"{base}-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    try:
        target = folder / f"video{video.suffix.lower() or '.mp4'}"
        shutil.copyfile(video, target)
        (folder / TEMPLATE_FILE).write_text(
            f"title = {_toml_str(title)}\nvideo = {_toml_str(target.name)}\n", encoding="utf-8")
        template = load_template(folder, root)
        if engine is not None:
            engine.prepare_template(template)
        return template
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
