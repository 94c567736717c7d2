"""The JSON text columns, decoded and encoded here and nowhere else: callers see typed values.

Each column keeps the JSON it always held (old rows stay readable, no migration): decoding ignores
keys it does not know (written by a newer version) and fills keys an older row lacks. Values are
immutable (frozen dataclasses, tuples), so a change is always an assignment, which the ORM sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")


@dataclass(frozen=True)
class OfferPhoto:
    """One photo of an album or of a group's /grid collection, in the order it came."""

    file_id: str
    file_unique_id: str
    message_id: int
    user_id: int  # who sent it (a /forget withdraws it)
    faces: int
    first_name: str | None = None  # a collection's contributor, named in its message; albums: None


@dataclass(frozen=True)
class GridInput:
    """One photo of a grid job, as Telegram names it."""

    file_id: str
    file_unique_id: str


@dataclass(frozen=True)
class FaceBox:
    """An animated face in the render's pixels (what a note centres on, what a sticker cuts out)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class RenderChoices:
    """What the requester chose over the configured render options."""

    clean_background: bool = False

    @property
    def any(self) -> bool:
        return self.clean_background


@dataclass(frozen=True)
class RenderNotes:
    """What a caption must mention about the render."""

    skipped: tuple[int, ...] = ()  # a grid's photos left out (1-based, in the order given)
    background_fallback: bool = False  # the plain background could not be made

    @property
    def any(self) -> bool:
        return bool(self.skipped) or self.background_fallback


class _Json(TypeDecorator[T], Generic[T]):
    """A Text column holding `T` as JSON; NULL is None."""

    impl = Text
    cache_ok = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # SQLAlchemy reads cache_ok from each class's own namespace: a codec is stateless, so its
        # statements may be cached.
        super().__init_subclass__(**kwargs)
        cls.cache_ok = True

    def encode(self, value: T) -> Any:
        raise NotImplementedError

    def decode(self, data: Any) -> T:
        raise NotImplementedError

    def process_bind_param(self, value: T | None, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(self.encode(value))

    def process_result_value(self, value: Any | None, dialect: Dialect) -> T | None:
        return None if value is None else self.decode(json.loads(value))


class OfferPhotosColumn(_Json[tuple[OfferPhoto, ...]]):
    def encode(self, value: tuple[OfferPhoto, ...]) -> Any:
        out = []
        for p in value:
            item: dict[str, Any] = {"file_id": p.file_id, "file_unique_id": p.file_unique_id,
                                    "message_id": p.message_id, "user_id": p.user_id, "faces": p.faces}
            if p.first_name is not None:
                item["first_name"] = p.first_name
            out.append(item)
        return out

    def decode(self, data: Any) -> tuple[OfferPhoto, ...]:
        return tuple(OfferPhoto(file_id=p["file_id"], file_unique_id=p["file_unique_id"],
                                message_id=int(p.get("message_id", 0)), user_id=int(p.get("user_id", 0)),
                                faces=int(p.get("faces", 1)), first_name=p.get("first_name")) for p in data)


class GridInputsColumn(_Json[tuple[GridInput, ...]]):
    def encode(self, value: tuple[GridInput, ...]) -> Any:
        return [{"file_id": i.file_id, "file_unique_id": i.file_unique_id} for i in value]

    def decode(self, data: Any) -> tuple[GridInput, ...]:
        return tuple(GridInput(file_id=i["file_id"], file_unique_id=i["file_unique_id"]) for i in data)


class FaceBoxesColumn(_Json[tuple[FaceBox, ...]]):
    """[[x, y, w, h], ...], to a tenth of a pixel."""

    def encode(self, value: tuple[FaceBox, ...]) -> Any:
        return [[round(b.x, 1), round(b.y, 1), round(b.w, 1), round(b.h, 1)] for b in value]

    def decode(self, data: Any) -> tuple[FaceBox, ...]:
        return tuple(FaceBox(*map(float, b)) for b in data)


class RenderChoicesColumn(_Json[RenderChoices]):
    """{"clean_background": true}; the caller stores None when nothing was chosen."""

    def encode(self, value: RenderChoices) -> Any:
        return {"clean_background": True} if value.clean_background else {}

    def decode(self, data: Any) -> RenderChoices:
        return RenderChoices(clean_background=bool(data.get("clean_background", False)))


class RenderNotesColumn(_Json[RenderNotes]):
    """{"skipped": [2, 5], "background_fallback": true}, each key only when it has something to say."""

    def encode(self, value: RenderNotes) -> Any:
        out: dict[str, Any] = {}
        if value.skipped:
            out["skipped"] = list(value.skipped)
        if value.background_fallback:
            out["background_fallback"] = True
        return out

    def decode(self, data: Any) -> RenderNotes:
        return RenderNotes(skipped=tuple(int(n) for n in data.get("skipped") or ()),
                           background_fallback=bool(data.get("background_fallback", False)))


class StepsColumn(_Json[tuple[str, ...]]):
    """A JSON list of names."""

    def encode(self, value: tuple[str, ...]) -> Any:
        return list(value)

    def decode(self, data: Any) -> tuple[str, ...]:
        return tuple(str(s) for s in data)


class CountsColumn(_Json[Mapping[str, int]]):
    """A JSON object of counts."""

    def encode(self, value: Mapping[str, int]) -> Any:
        return dict(value)

    def decode(self, data: Any) -> Mapping[str, int]:
        return {str(k): int(n) for k, n in data.items()}
