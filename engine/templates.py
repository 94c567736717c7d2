"""Templates: a folder with template.toml (title, video; optional audio, title_zh, title_en).

This file format is a contract shared with users who add their own templates.

A template id is a folder name inside the templates folder, nothing else: "data" or "../bot" is
never resolved against the working directory. Folders starting with "." are not templates: an
import is prepared in `.import-<import id>` and renamed into place when it is complete, so a
button never appears for a half-made template and a restarted import reuses its own folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tomllib
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .cancel import CancelToken
from .errors import (
    BadTemplateVideo,
    EngineError,
    FfmpegTimeout,
    RenderCancelled,
    TemplateMissing,
    TemplateNoFace,
    TemplateSeveralFaces,
    TemplateTooLong,
)
from .faces import detect_faces
from .ffmpeg_process import run_ffmpeg
from .hashing import sha256_file
from .video_io import VideoInfo, probe, read_sample_frames


class MotionPreparer(Protocol):
    """What an import and a deletion need of the Engine (engine/engine.py imports this module)."""

    def prepare_template(self, template: Template, cancel: CancelToken | None = None) -> object: ...

    def forget_template(self, template: Template) -> object: ...

TEMPLATE_FILE = "template.toml"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_STAGING = ".import-"
MAX_DECODE_ERRORS = 10  # a phone video may have a glitch or two; a damaged one prints hundreds


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

    def fingerprint(self) -> str:
        """sha256 of what a render takes from the template (its video and its sound): a result
        made from another template with the same id or title is never mistaken for this one's."""
        parts = [sha256_file(self.video)] + ([sha256_file(self.audio)] if self.audio else [])
        return parts[0] if len(parts) == 1 else hashlib.sha256(":".join(parts).encode()).hexdigest()


def _read(folder: Path) -> tuple[Template, dict[str, Any]]:
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
    ), data


def is_template_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def load_template(template_id: str, templates_dir: Path) -> Template:
    """The template `template_id` (a folder name inside templates_dir); raises TemplateMissing."""
    if not is_template_id(template_id):
        raise TemplateMissing(f"no template '{template_id}'")
    folder = Path(templates_dir) / template_id
    if not folder.is_dir():
        raise TemplateMissing(f"no template '{template_id}' (looked in {templates_dir})")
    return load_template_dir(folder)


def load_template_dir(folder: Path) -> Template:
    """The template in this folder, wherever it is (the CLI's `--template PATH/`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TemplateMissing(f"no template folder {folder}")
    template, _ = _read(folder)
    if not template.video.is_file():
        raise TemplateMissing(f"template '{template.id}' has no video file {template.video.name} "
                              f"(for yahey: python -m engine templates fetch)")
    if template.audio is not None and not template.audio.is_file():
        raise TemplateMissing(f"template '{template.id}' has no audio file {template.audio.name}")
    return template


def list_templates(templates_dir: Path) -> list[Template]:
    """Templates whose video exists, sorted by id (broken folders are skipped)."""
    out: list[Template] = []
    root = Path(templates_dir)
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and is_template_id(p.name)):
        try:
            out.append(load_template_dir(folder))
        except TemplateMissing:
            continue
    return out


def decode_errors(video: Path, cancel: CancelToken | None = None, info: VideoInfo | None = None) -> int:
    """How many error lines ffmpeg prints decoding the whole video stream (0 for a sound file).
    `info`: the video's probe when the caller has it already."""
    info = info if info is not None else probe(video, cancel)
    # ~30 s of video decodes in a few seconds; the limit only stops a decoder that is stuck.
    timeout = 60.0 + 10.0 * max(info.duration, 1.0)
    try:
        run = run_ffmpeg(["-v", "error", "-nostdin", "-i", str(video), "-map", "0:v:0", "-f", "null", "-"],
                         f"check {video.name}", timeout, cancel=cancel, check=False)
    except FfmpegTimeout as exc:
        raise BadTemplateVideo("decoding the video got stuck") from exc
    return run.error_lines


SECOND_FACE_SHARE = 0.5  # a second face at least half as wide as the first competes with it


def check_template_video(video: Path, min_seconds: float, max_seconds: float,
                         cancel: CancelToken | None = None, *, one_face: bool = False) -> None:
    """BadTemplateVideo unless `video` has a video stream, a duration in range, decodes cleanly and
    shows a face. `one_face`: also refused (TemplateSeveralFaces) when most sampled frames with a
    face show a second one about as large: the face track would follow whichever is larger."""
    try:
        info = probe(video, cancel)
    except RenderCancelled:
        raise
    except EngineError as exc:
        raise BadTemplateVideo("not a readable video") from exc
    if not info.has_video:
        raise BadTemplateVideo("no video stream")
    if not (min_seconds <= info.duration <= max_seconds):
        raise TemplateTooLong(f"duration {info.duration:.1f}s is outside {min_seconds:g}-{max_seconds:g}s")
    errors = decode_errors(video, cancel, info)
    if errors > MAX_DECODE_ERRORS:
        raise BadTemplateVideo(f"the video is damaged ({errors} decoding errors)")
    times = [info.duration * (i + 0.5) / 6 for i in range(6)]
    found = [faces for faces in (detect_faces(f) for f in read_sample_frames(video, times, cancel=cancel, info=info))
             if faces]
    if not found:
        raise TemplateNoFace("no face found in the video")
    crowded = sum(1 for faces in found if len(faces) > 1 and faces[1].w >= SECOND_FACE_SHARE * faces[0].w)
    if one_face and crowded * 2 > len(found):
        raise TemplateSeveralFaces("several faces in the video")


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    return slug or "template"


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _imported_as(root: Path, import_id: str) -> Template | None:
    """The template an earlier run of the same import already published, if any."""
    for template in list_templates(root):
        try:
            _, data = _read(template.dir)
        except TemplateMissing:
            continue
        if data.get("import_id") == import_id:
            return template
    return None


def import_template(video: Path, title: str, templates_dir: Path, engine: MotionPreparer | None = None,
                    min_seconds: float = 1.0, max_seconds: float = 30.0, *, import_id: str | None = None,
                    cancel: CancelToken | None = None, folder_name: str | None = None,
                    one_face: bool = False) -> Template:
    """Validate `video`, copy it into a new templates_dir/<slug>/ with a template.toml, prepare its
    motion with `engine` if given, then publish it with one rename. Blocking.

    `import_id` names the import (the bot passes its job): running the same import again, after a
    restart in the middle, reuses its staging folder, and returns the published template when the
    first run had got that far. On failure or cancel nothing is left behind.
    `folder_name`: publish as exactly this folder (users' templates: named by the clip's content);
    when it holds a template already, that one is returned (the same clip, imported before).
    `one_face`: see check_template_video."""
    video = Path(video)
    root = Path(templates_dir)
    import_id = import_id or uuid.uuid4().hex[:12]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", import_id):
        raise ValueError(f"bad import id {import_id!r}")
    if folder_name is not None:
        if not is_template_id(folder_name):
            raise ValueError(f"bad folder name {folder_name!r}")
        try:
            return load_template_dir(root / folder_name)
        except TemplateMissing:
            pass
    done = _imported_as(root, import_id) if root.is_dir() else None
    if done is not None:
        return done
    check_template_video(video, min_seconds, max_seconds, cancel, one_face=one_face)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f"{_STAGING}{import_id}"
    shutil.rmtree(staging, ignore_errors=True)  # a run killed mid-way
    staging.mkdir()
    try:
        target = staging / f"video{video.suffix.lower() or '.mp4'}"
        shutil.copyfile(video, target)
        (staging / TEMPLATE_FILE).write_text(
            f"title = {_toml_str(title)}\nvideo = {_toml_str(target.name)}\nimport_id = {_toml_str(import_id)}\n",
            encoding="utf-8")
        if engine is not None:
            engine.prepare_template(load_template_dir(staging), cancel)
        if folder_name is not None:
            folder = root / folder_name
            shutil.rmtree(folder, ignore_errors=True)  # a broken leftover (no loadable template.toml)
        else:
            base = _slug(title)
            folder = root / base
            while folder.exists():
                folder = root / f"{base}-{uuid.uuid4().hex[:6]}"
        os.rename(staging, folder)  # atomic: listed complete or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_template_dir(folder)


def delete_template(template: Template, engine: MotionPreparer | None = None) -> None:
    """Remove a template: out of every list at once (renamed to a hidden folder), then its cached
    motion and its files."""
    if engine is not None:
        engine.forget_template(template)
    hidden = template.dir.parent / f".deleted-{template.id}-{uuid.uuid4().hex[:6]}"
    os.rename(template.dir, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def clean_staging(templates_dir: Path, keep: AbstractSet[str] = frozenset()) -> int:
    """Remove leftover import/delete folders (not those of imports in `keep`); returns how many."""
    root = Path(templates_dir)
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir() or not folder.name.startswith((_STAGING, ".deleted-")):
            continue
        if folder.name.removeprefix(_STAGING) in keep:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed
