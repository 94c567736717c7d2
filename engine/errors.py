"""Every error the engine raises on purpose. The bot maps the *class* to its own zh/en text."""

from __future__ import annotations


class EngineError(Exception):
    """Base class; `str(err)` is one short English line fit for a log or the CLI."""


class BadImage(EngineError):
    """The photo's bytes are not a decodable image."""


class ImageTooLarge(EngineError):
    """The photo has more pixels than allowed (checked from the header, before decoding)."""


class ImageTooSmall(EngineError):
    """The photo's shorter side is below the minimum."""


class NoFaceFound(EngineError):
    """No face was detected in the photo (or in a template's video)."""


class CheckpointMissing(EngineError):
    """The FOMM checkpoint file does not exist."""


class TemplateMissing(EngineError):
    """No template folder, template.toml or video by that name."""


class BadTemplateVideo(EngineError):
    """A video cannot serve as a template (no video stream, duration out of range, no face...)."""


class TemplateTooLong(BadTemplateVideo):
    """The video is longer (or shorter) than a template may be."""


class TemplateNoFace(BadTemplateVideo):
    """No face in the video's sampled frames."""


class TemplateSeveralFaces(BadTemplateVideo):
    """Two faces of about the same size in most of the video: which one drives is a guess."""


class RenderCancelled(EngineError):
    """The caller's `cancelled()` returned True; the partial output was removed."""


class DownloadError(EngineError):
    """A download failed (no network, HTTP error, size or checksum mismatch)."""


class FfmpegTimeout(EngineError):
    """An ffmpeg run overran its time limit (a stuck decode or encode) and was killed."""


class GridTooSmall(NoFaceFound):
    """A grid got fewer than two photos with a face; the message names the face-less ones."""


class TooManyPhotos(EngineError):
    """A grid got more photos than it has tiles (max_tiles)."""
