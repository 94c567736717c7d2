"""Photo + template -> 蚂蚁呀嘿 video with the First Order Motion Model (ppgan networks on paddle).

Pure compute: no Telegram, no SQL. Importing this package does not import paddle; Engine.load does.
"""

from .engine import Engine, RenderOptions, RenderResult
from .errors import (BadImage, BadTemplateVideo, CheckpointMissing, EngineError, ImageTooLarge,
                     ImageTooSmall, NoFaceFound, RenderCancelled, TemplateMissing)
from .images import check_image
from .templates import Template, import_template, list_templates, load_template

__all__ = [
    "Engine", "RenderOptions", "RenderResult", "Template",
    "list_templates", "load_template", "import_template", "check_image",
    "EngineError", "NoFaceFound", "BadImage", "ImageTooLarge", "ImageTooSmall",
    "CheckpointMissing", "TemplateMissing", "BadTemplateVideo", "RenderCancelled",
]
