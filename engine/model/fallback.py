"""What the compiled runners (Paddle Inference, OpenVINO) share: when a forward fails mid-run,
every later call goes to a slower runner for good (engine/model/choose.py says which); without
one the failure is raised (the checks at export and load, the int8 gate)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from .errors import one_line
from .runner_types import Keypoints, ModelRunner

log = logging.getLogger(__name__)


class FallsBack:
    what = "the compiled model"  # in the reason logged and shown by /healthz ...
    instead: str | None = None  # ... with what takes over (None: the fallback's name)
    name: str
    precision: str

    def _init_fallback(self, factory: Callable[[], ModelRunner] | None) -> None:
        self.fallback_reason: str | None = None  # set if a forward fails mid-run
        self.fallback_factory = factory
        self._fallback: ModelRunner | None = None
        self._fallback_lock = threading.Lock()

    def _keypoints(self, frames: np.ndarray) -> Keypoints:
        raise NotImplementedError

    def _generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        raise NotImplementedError

    def keypoints(self, frames: np.ndarray) -> Keypoints:
        if self._fallback is None:
            try:
                return self._keypoints(frames)
            except Exception as exc:
                self._fall_back(exc)
        assert self._fallback is not None
        return self._fallback.keypoints(frames)

    def generate(self, source: np.ndarray, kp_source: Keypoints, kp_driving: Keypoints) -> np.ndarray:
        if self._fallback is None:
            try:
                return self._generate(source, kp_source, kp_driving)
            except Exception as exc:
                self._fall_back(exc)
        assert self._fallback is not None
        return self._fallback.generate(source, kp_source, kp_driving)

    def _fall_back(self, exc: Exception) -> None:
        """Switch to the fallback for good, or re-raise. A fallback that cannot be built (say, no
        Paddle here) re-raises the original failure, chained."""
        if self.fallback_factory is None:
            raise exc
        with self._fallback_lock:
            if self._fallback is not None:  # another thread switched already
                return
            try:
                fallback = self.fallback_factory()
            except Exception as fallback_exc:
                raise exc from fallback_exc
            reason = (f"{self.what} failed mid-run ({type(exc).__name__}: {one_line(exc)}): using "
                      f"{self.instead or fallback.name} until restart")
            log.warning("%s", reason)
            self.name, self.precision = fallback.name, fallback.precision
            # the fallback's own reason (say, the dynamic graph standing in for Paddle Inference)
            self.fallback_reason = f"{reason}; {fallback.fallback_reason}" if fallback.fallback_reason else reason
            self._fallback = fallback
