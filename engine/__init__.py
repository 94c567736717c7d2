"""Photo + template -> 蚂蚁呀嘿 video with the First Order Motion Model (ppgan networks on paddle).

Pure compute: no Telegram, no SQL. Importing this package does not import paddle; Engine.load does.
"""

from .background import DEFAULT_BACKGROUND, BadBackground, clean_background, parse_background
from .cancel import CancelToken
from .convert import BadRender, ConvertResult, OutputKind, OutputTooLarge, convert
from .engine import Engine, EngineState, EngineStatus, RenderResult
from .errors import (
                     BadImage,
                     BadTemplateVideo,
                     CheckpointMissing,
                     EngineError,
                     FfmpegTimeout,
                     GridTooSmall,
                     ImageTooLarge,
                     ImageTooSmall,
                     NoFaceFound,
                     RenderCancelled,
                     TemplateMissing,
                     TemplateNoFace,
                     TemplateSeveralFaces,
                     TemplateTooLong,
                     TooManyPhotos,
)
from .faces import MIN_FACE_PX, Box, Face, animated_count, faces_in_photo
from .ffmpeg_process import kill_all as kill_all_ffmpeg
from .grid import DEFAULT_MAX_TILES, GridLayout, grid_layout
from .images import check_image, check_size
from .options import RenderOptions
from .segmentation import SEGMENTERS, PersonSegmenter, SegmenterUnavailable, make_segmenter
from .templates import (
                     Template,
                     clean_staging,
                     delete_template,
                     import_template,
                     list_templates,
                     load_template,
                     load_template_dir,
)

__all__ = [
    "Engine", "EngineState", "EngineStatus", "RenderOptions", "RenderResult", "Template", "CancelToken",
    "list_templates", "load_template", "load_template_dir", "import_template", "delete_template",
    "clean_staging", "check_image", "check_size", "kill_all_ffmpeg",
    "EngineError", "NoFaceFound", "BadImage", "ImageTooLarge", "ImageTooSmall", "FfmpegTimeout",
    "CheckpointMissing", "TemplateMissing", "BadTemplateVideo", "RenderCancelled",
    "TemplateTooLong", "TemplateNoFace", "TemplateSeveralFaces",
    "Face", "faces_in_photo", "animated_count", "MIN_FACE_PX",
    "Box", "GridTooSmall", "TooManyPhotos", "DEFAULT_MAX_TILES", "GridLayout", "grid_layout",
    "clean_background", "parse_background", "DEFAULT_BACKGROUND", "BadBackground",
    "PersonSegmenter", "make_segmenter", "SEGMENTERS", "SegmenterUnavailable",
    "convert", "OutputKind", "ConvertResult", "BadRender", "OutputTooLarge",
]
