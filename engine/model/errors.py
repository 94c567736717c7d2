"""The model's own failures: an export or a conversion that cannot be used. The runner choice
(engine/model/choose.py) catches them and falls back; they never reach a user as such."""

from __future__ import annotations


class ExportError(RuntimeError):
    """The networks could not be exported or the exported model does not match the reference."""


class OpenVinoUnavailable(RuntimeError):
    """No usable OpenVINO model here (not installed, not converted, or it failed its check)."""


def one_line(exc: BaseException, limit: int = 240) -> str:
    """An exception as one short line (paddle's errors run to many lines of C++ context)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 1] + "…"
