"""The real engine with a gate in front of each render, so a test can hold a render open for as long
as it needs (instead of hoping the render is slower than a few HTTP round trips).

In-process: `GatedEngine(engine, Gate())`; the test awaits `gate.entered` and calls `gate.open()`.
Across processes (tests/gated_bot.py): `FileGate(folder)`; the render is held until the test creates
`folder/open`, and each render that reaches the gate leaves `folder/entered-<n>`.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

from engine import CancelToken, RenderCancelled


class Gate:
    def __init__(self, opened: bool = False) -> None:
        self._open = threading.Event()
        self.entered = threading.Event()
        self.renders = 0
        if opened:
            self._open.set()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()
        self.entered.clear()

    def arrive(self) -> None:
        self.renders += 1
        self.entered.set()

    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait_entered(self, timeout: float = 120) -> None:
        if not await asyncio.to_thread(self.entered.wait, timeout):
            raise AssertionError("no render reached the gate")


class FileGate(Gate):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._n = itertools.count(1)

    def arrive(self) -> None:
        super().arrive()
        (self.folder / f"entered-{next(self._n)}").touch()

    def is_open(self) -> bool:
        return (self.folder / "open").exists()


def gated_process_args(argv: list[str]) -> tuple[FileGate, list[str], Any]:
    """For tests/gated_bot.py and tests/gated_worker.py: `--gate DIR` taken out of the command line;
    returns the gate, the rest of the arguments, and the settings their `--config` names."""
    from settings import load_settings

    gate_dir = Path(argv[argv.index("--gate") + 1])
    rest = [a for i, a in enumerate(argv) if a != "--gate" and (i == 0 or argv[i - 1] != "--gate")]
    return FileGate(gate_dir), rest, load_settings(rest[rest.index("--config") + 1])


class GatedEngine:
    """Delegates everything to the wrapped Engine; `render` first waits at the gate (in the render
    thread, where the stage's cancel token still stops it). With a `prepare_gate`, so does
    `prepare_template` (start-up preparation and template imports)."""

    def __init__(self, inner: Any, gate: Gate, prepare_gate: Gate | None = None) -> None:
        self._inner = inner
        self.gate = gate
        self.prepare_gate = prepare_gate

    def prepare_template(self, template: Any, cancel: CancelToken | None = None) -> None:
        if self.prepare_gate is not None:
            self._wait(self.prepare_gate, cancel)
        self._inner.prepare_template(template, cancel)

    @staticmethod
    def _wait(gate: Gate, cancel: CancelToken | None) -> None:
        gate.arrive()
        while not gate.is_open():
            if cancel is not None and cancel.cancelled:
                raise RenderCancelled("cancelled at the test's gate")
            time.sleep(0.02)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def render(self, *args: Any, cancel: CancelToken | None = None, **kwargs: Any) -> Any:
        if len(args) >= 6:  # positional cancel token (the render stage passes it so)
            args, cancel = args[:5], args[5]
        self._wait(self.gate, cancel)
        return self._inner.render(*args, cancel=cancel, **kwargs)
