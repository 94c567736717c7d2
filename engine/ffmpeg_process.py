"""Every ffmpeg run goes through here: stderr drained as it goes, a time limit, killed on cancel or
shutdown, and its last stderr lines in the log and the error when it fails.

Why: a pipe that nobody reads fills at ~64 KB. A damaged video makes ffmpeg print decode errors
by the hundred; if stderr is only read at exit, ffmpeg blocks on its stderr write, stops feeding
stdout, and the reader waits forever (a render that no SIGTERM can stop). Here a thread keeps the
last lines and drops the rest, and a watchdog kills a process that overruns its limit:
- `timeout`: the whole run (one-shot commands: probing, sampling frames, conversions);
- `stalled()`: one blocking pipe operation (streaming: a frame read or write that takes longer
  than that means ffmpeg is stuck, however long the whole render legitimately takes).
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from .cancel import CancelToken
from .errors import EngineError, FfmpegTimeout

log = logging.getLogger(__name__)

STDERR_LINES = 20  # kept for the log and the error message
STALL_S = 60.0  # one frame read or written by ffmpeg never legitimately takes this long

_live: weakref.WeakSet[FfmpegProcess] = weakref.WeakSet()
_live_lock = threading.Lock()


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


class FfmpegProcess:
    """One ffmpeg process. `args` exclude the executable. Use as a context manager or call
    `finish()`/`kill()`; the process is killed when the block is left early."""

    def __init__(self, args: Sequence[str], what: str, *, stdin: bool = False, stdout: bool = False,
                 timeout: float | None = None, cancel: CancelToken | None = None,
                 keep_stderr: int = 0) -> None:
        self.what = what
        self._tail: deque[str] = deque(maxlen=STDERR_LINES)
        self._head: list[str] = []  # the first `keep_stderr` characters (probing reads them)
        self._head_room = keep_stderr
        self.stderr_lines = 0  # with `-v error`, the number of errors ffmpeg reported
        self._cond = threading.Condition()
        self._deadline: float | None = None if timeout is None else time.monotonic() + timeout
        self._stall_deadline: float | None = None
        self._ended = False
        self.timed_out = False
        self.killed = False
        self._cancel = cancel
        self.proc = subprocess.Popen(
            [ffmpeg_exe(), *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        with _live_lock:
            _live.add(self)
        if cancel is not None:
            cancel.on_cancel(self.kill)
        self._drainer = threading.Thread(target=self._drain, name=f"ffmpeg-stderr {what}", daemon=True)
        self._drainer.start()
        self._watchdog = threading.Thread(target=self._watch, name=f"ffmpeg-watchdog {what}", daemon=True)
        self._watchdog.start()

    # --- pipes -------------------------------------------------------------------------------
    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @contextmanager
    def stalled(self, seconds: float = STALL_S) -> Iterator[None]:
        """Kill ffmpeg if the operation inside the block blocks for longer than `seconds`."""
        with self._cond:
            self._stall_deadline = time.monotonic() + seconds
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._stall_deadline = None

    # --- threads -----------------------------------------------------------------------------
    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if self._head_room > 0:
                self._head.append(line[: self._head_room])
                self._head_room -= len(line) + 1
            if line:
                self.stderr_lines += 1
                self._tail.append(line)

    def _watch(self) -> None:
        with self._cond:
            while not self._ended:
                limits = [d for d in (self._deadline, self._stall_deadline) if d is not None]
                if not limits:
                    self._cond.wait()
                    continue
                remaining = min(limits) - time.monotonic()
                if remaining <= 0:
                    self.timed_out = True
                    self._kill_locked()
                    return
                self._cond.wait(remaining)

    # --- ending ------------------------------------------------------------------------------
    def _kill_locked(self) -> None:
        if self.proc.poll() is None:
            self.killed = True
            self.proc.kill()

    def kill(self) -> None:
        """Stop ffmpeg now (cancel, shutdown, abort). Safe to call from any thread, twice."""
        with self._cond:
            self._kill_locked()

    @property
    def stderr_tail(self) -> str:
        return " | ".join(self._tail)

    @property
    def stderr_head(self) -> str:
        """The start of stderr, as many characters as `keep_stderr` asked for (after exit)."""
        return "\n".join(self._head)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit (killed after `timeout` seconds); returns the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.kill()
            code = self.proc.wait()
        self._close()
        return code

    def _close(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify()
        self._drainer.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:  # BrokenPipe on a stdin ffmpeg already closed
                pass
        with _live_lock:
            _live.discard(self)
        if self._cancel is not None:
            self._cancel.forget(self.kill)

    def error(self) -> EngineError:
        """The exception for a failed run, with the reason and ffmpeg's last lines (also logged)."""
        if self._cancel is not None and self._cancel.cancelled:
            from .errors import RenderCancelled

            return RenderCancelled(f"{self.what}: cancelled")
        tail = self.stderr_tail
        if self.timed_out:
            log.warning("ffmpeg %s timed out and was killed; last output: %s", self.what, tail or "(none)")
            return FfmpegTimeout(f"{self.what}: ffmpeg timed out")
        log.warning("ffmpeg %s failed (exit %s); last output: %s", self.what, self.proc.returncode, tail or "(none)")
        return EngineError(f"{self.what}: ffmpeg failed: {tail[-300:]}" if tail else f"{self.what}: ffmpeg failed")

    def finish(self, timeout: float | None = None) -> None:
        """Wait for a clean exit; raise `error()` otherwise."""
        if self.wait(timeout) != 0 or self.timed_out or self.killed:
            raise self.error()

    def __enter__(self) -> FfmpegProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        if not self._ended:
            self.wait()


@dataclass(frozen=True)
class FfmpegRun:
    code: int
    stdout: bytes
    stderr_head: str  # the first `keep_stderr` characters
    stderr_tail: str  # the last lines, " | "-joined
    error_lines: int  # stderr lines in all (with `-v error`: errors reported)


def run_ffmpeg(args: Sequence[str], what: str, timeout: float, cancel: CancelToken | None = None,
               check: bool = True, keep_stderr: int = 0) -> FfmpegRun:
    """One-shot ffmpeg. Raises when `check` and the run failed; a timeout or a cancel always raises."""
    with FfmpegProcess(args, what, stdout=True, timeout=timeout, cancel=cancel, keep_stderr=keep_stderr) as proc:
        out = proc.stdout.read()
        code = proc.wait(timeout)
        if proc.timed_out or (proc.killed and cancel is not None and cancel.cancelled):
            raise proc.error()
        if check and code != 0:
            raise proc.error()
        return FfmpegRun(code, out, proc.stderr_head, proc.stderr_tail, proc.stderr_lines)


def kill_all() -> int:
    """Kill every ffmpeg this process started that is still running (shutdown). Returns how many."""
    with _live_lock:
        live = list(_live)
    for proc in live:
        proc.kill()
    return len(live)


def live_count() -> int:
    with _live_lock:
        return sum(1 for p in _live if p.proc.poll() is None)
