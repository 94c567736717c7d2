"""`python -m engine doctor`: what this machine will run, how fast and how accurately, and what is
missing, before any user waits on it.

It loads the model exactly as the bot does (exporting it into `[engine].cache_dir` when that has
not happened yet), then times every path this machine has on a few frames and checks each against
the reference frame stored with the export. Exit 0 only when the bot would render on its fast path;
otherwise one line per problem, each saying what to do.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EngineError
from ..model.networks import WEIGHTS_FETCH_HINT
from ..model.paddle_compat import set_threads
from .prepare import exported_models

if TYPE_CHECKING:
    from settings import Settings

    from ..engine import Engine
    from ..model.device import GpuInfo
    from ..model.runner_types import Keypoints, ModelRunner
    from ..templates import Template

EXIT_OK = 0
EXIT_PROBLEMS = 1
NEEDED_ENCODERS = ("libx264", "aac", "libvpx-vp9")  # MP4 video, its sound, animated stickers
MIN_FREE_BYTES = 2 * 1024 ** 3  # an export is ~0.6 GB a checkpoint; renders and motion need room too
Reference = dict[str, np.ndarray]  # an export's reference input and frame (engine/model/reference.py)
TEMPLATES_FETCH_HINT = "run `python -m engine templates fetch`"


@dataclass
class PathResult:
    label: str
    runner: str = ""
    ms_per_frame: float | None = None
    psnr_db: float | None = None
    note: str = ""  # why it was skipped or failed
    chosen: bool = False
    floor_db: float | None = None  # the PSNR it must reach at load (None: CPU fp32, to 1e-3)


@dataclass
class Doctor:
    settings: Settings
    frames: int = 2
    out: Callable[[str], None] = print
    problems: list[str] = field(default_factory=list)
    chosen_ms: float | None = None  # the bot's path, ms per frame

    def line(self, label: str, text: str) -> None:
        self.out(f"{label + ':':12s} {text}")

    def problem(self, text: str) -> None:
        self.problems.append(" ".join(text.split()))

    def run(self) -> int:
        # the doctor reports every warning itself, in its own words
        logger = logging.getLogger("engine")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            return self._run()
        finally:
            logger.setLevel(level)

    def _run(self) -> int:
        e = self.settings.engine
        threads = set_threads(e.threads)  # before paddle's first import, as Engine.load does
        self._cpu(threads)
        gpu = self._paddle()
        self._ffmpeg()
        has_checkpoint = self._checkpoint()
        templates = self._templates()
        self._disk()
        if has_checkpoint:
            engine = self._load()
            if engine is not None:
                self._paths(engine, gpu)
                self._motion(engine, templates)
        return self._verdict()

    # -- the machine -------------------------------------------------------------------------

    def _cpu(self, threads: int) -> None:
        from ..cpu_features import describe_cpu

        self.line("CPU", describe_cpu())
        how = "every CPU" if self.settings.engine.threads == 0 else "as configured"
        self.line("threads", f"{threads} ([engine].threads = {self.settings.engine.threads}: {how})")

    def _paddle(self) -> GpuInfo:
        from ..model.device import gpu_info
        from ..model.paddle_compat import import_paddle

        paddle = import_paddle()
        gpu = gpu_info()
        build = f"CUDA {gpu.cuda_version or '?'} build" if gpu.cuda_build else "CPU build (no CUDA)"
        self.line("paddle", f"{paddle.__version__}, {build}")
        if gpu.names:
            self.line("GPU", ", ".join(f"{i}: {name}" for i, name in enumerate(gpu.names))
                      + f" ([engine].gpu_id = {self.settings.engine.gpu_id})")
        else:
            self.line("GPU", "none seen" if gpu.cuda_build else "none (paddle has no CUDA)")
        if gpu.cuda_build and not gpu.names and self.settings.engine.device != "cpu":
            self.problem("paddle is a CUDA build but sees no GPU, so the bot would run on the CPU: "
                         "start the container with a GPU (`docker compose up -d` reserves one, or "
                         "`docker run --gpus all`), or set [engine].device = \"cpu\" to mean it")
        self.line("TF32", gpu.tf32(self.settings.engine.gpu_id))
        return gpu

    def _ffmpeg(self) -> None:
        from ..ffmpeg_process import run_ffmpeg

        def output(flag: str) -> str:
            run = run_ffmpeg(["-hide_banner", flag], f"ffmpeg {flag}", 30.0, check=False)
            return run.stdout.decode(errors="replace")

        try:
            version, listing = output("-version"), output("-encoders")
        except (OSError, RuntimeError, EngineError) as exc:
            self.line("ffmpeg", f"not runnable ({exc})")
            self.problem("imageio-ffmpeg's ffmpeg does not run: reinstall the pinned imageio-ffmpeg "
                         "(`make setup`, or rebuild the image)")
            return
        m = re.search(r"ffmpeg version (\S+)", version)
        encoders = {parts[1] for parts in (ln.split() for ln in listing.splitlines())
                    if len(parts) > 1 and re.fullmatch(r"[VAS][.A-Z]{5}", parts[0])}
        found = ", ".join(f"{name} {'yes' if name in encoders else 'MISSING'}"
                          for name in NEEDED_ENCODERS)
        self.line("ffmpeg", f"{m.group(1) if m else '?'} (imageio-ffmpeg's); {found}")
        for name in NEEDED_ENCODERS:
            if name not in encoders:
                self.problem(f"ffmpeg has no {name} encoder: reinstall the pinned imageio-ffmpeg "
                             f"(`make setup`, or rebuild the image)")

    def _checkpoint(self) -> bool:
        path = Path(self.settings.engine.checkpoint)
        if not path.is_file():
            self.line("checkpoint", f"{path}: missing")
            self.problem(f"checkpoint not found at {path}: {WEIGHTS_FETCH_HINT}")
            return False
        self.line("checkpoint", f"{path} ({path.stat().st_size / 1e6:.0f} MB)")
        return True

    def _templates(self) -> list[Template]:
        from ..templates import list_templates

        folder = Path(self.settings.templates.dir)
        templates = list_templates(folder)
        names = ", ".join(f"{t.id} ({t.title})" for t in templates)
        self.line("templates", f"{folder}: {names or 'none with a video'}")
        if not templates:
            self.problem(f"no template with a video in {folder}: {TEMPLATES_FETCH_HINT}")
        return templates

    def _disk(self) -> None:
        cache = Path(self.settings.engine.cache_dir)
        existing = next((p for p in (cache, *cache.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        self.line("cache_dir", f"{cache}: {free / 1024 ** 3:.1f} GiB free")
        if free < MIN_FREE_BYTES:
            self.problem(f"only {free / 1024 ** 3:.1f} GiB free for {cache} (the export needs "
                         f"~0.6 GB, renders more): free some space or move [engine].cache_dir")

    # -- the model ---------------------------------------------------------------------------

    def _load(self) -> Engine | None:
        from ..from_settings import make_engine
        from ..model.device import explain_device
        from ..model.precision import explain_precision

        e = self.settings.engine
        try:
            device, device_why = explain_device(e.device, e.gpu_id)
            precision, precision_why, _ = explain_precision(device, e.precision, e.gpu_id)
        except (EngineError, ValueError) as exc:
            self.line("runner", f"none: {exc}")
            self.problem(f"{exc}: set [engine].device = \"auto\" (or \"cpu\"), or give the "
                         f"container a GPU (`docker compose up -d` reserves one)")
            return None
        engine = make_engine(self.settings)  # exactly as the bot builds it
        exports = exported_models(e.cache_dir)
        t0 = time.monotonic()
        choice = _ChoiceLog()  # why a runner was passed over, as the bot's log would say
        try:
            with choice:
                engine.load()
        except EngineError as exc:
            self.line("runner", f"none: {exc}")
            self.problem(str(exc))
            return None
        seconds = time.monotonic() - t0
        runner = engine.runner
        if runner.fallback_reason:
            how = "the fallback, loaded"
        elif exported_models(e.cache_dir) - exports:
            how = "exported and loaded (first start for this checkpoint and paddle)"
        else:
            how = "loaded from the cache"
        self.line("device", f"{device} ({device_why})")
        if runner.name.startswith("openvino"):  # OpenVINO decides bf16/int8 itself
            from ..model.precision import explain_openvino_precision as ov_precision

            precision, precision_why = ov_precision(e.precision, getattr(runner, "directory", None))
        self.line("precision", f"{precision} ({precision_why})")
        self.line("runner", f"{runner.name}, {how} in {seconds:.1f} s")
        self.line("batch", f"{engine.batch_size} frames per generator call ([engine].batch_size = "
                           f"{e.batch_size}{': the default on a ' + runner.device if not e.batch_size else ''})")
        self._runner_order(engine, device, f"{precision} ({precision_why})", choice.messages)
        if runner.fallback_reason:
            advice = "" if "install Paddle" in runner.fallback_reason else (
                f"; delete {Path(e.cache_dir) / 'inference'} and run `python -m engine prepare`, "
                f"and report this line if it fails again")
            self.problem(f"the bot would render on paddle's dynamic graph (~20x slower): "
                         f"{runner.fallback_reason}{advice}")
        return engine

    def _paths(self, engine: Engine, gpu: GpuInfo) -> None:
        from ..cpu_features import has_fast_bf16
        from ..model.errors import one_line
        from ..model.export import checkpoint_digest, model_dir
        from ..model.precision import min_psnr_db
        from ..model.reference import load_reference
        from ..model.runner_inference import InferenceRunner

        chosen = engine.runner
        directory = model_dir(engine.cache_dir, checkpoint_digest(engine.checkpoint))
        have_export = (directory / "manifest.json").is_file()
        gpu_id = engine.gpu_id
        wanted = [("cpu", "fp32", "fp32 (oneDNN, CPU)"), ("cpu", "bf16", "bf16 (oneDNN, CPU)"),
                  ("gpu", "bf16", "bf16 (GPU)"), ("gpu", "fp16", "fp16 (GPU)"),
                  ("gpu", "fp32", "fp32 (GPU)")]
        results = []
        reference = load_reference(directory) if have_export else None
        for device, precision, label in wanted:
            result = PathResult(label)
            if device == "gpu" and not gpu.names:
                result.note = "skipped: no GPU"
            elif device == "gpu" and precision == "bf16" and not gpu.supports_bf16(gpu_id):
                result.note = "skipped: this GPU has no bf16 (compute capability below 8.0)"
            elif device == "cpu" and precision == "bf16" and not has_fast_bf16():
                result.note = "skipped: no AMX/AVX512-BF16 (emulated bf16 is slower than fp32)"
            elif reference is None:
                result.note = "skipped: no compiled model"
            else:
                is_chosen = chosen.name == f"inference-{device}-{precision}"
                try:
                    runner = chosen if is_chosen else InferenceRunner(directory, device, precision,
                                                                      gpu_id=gpu_id)
                    self._time(runner, reference, result, warm_up=True)
                    result.floor_db = min_psnr_db(device, precision)
                    result.chosen = is_chosen
                except Exception as exc:  # an unusable path is reported, not fatal here
                    result.note = f"failed: {one_line(exc)}"
            results.append(result)
        results[0:0] = self._openvino_paths(engine, reference)
        results.append(self._dygraph(engine, reference))
        timed_ov = any("OpenVINO" in r.label and r.ms_per_frame is not None for r in results)
        fixed = f" (OpenVINO: whole batches of {engine.batch_size}, its fixed batch)" if timed_ov else ""
        self.out(f"paths:       generator on {self.frames} frame(s), batch {self.frames}{fixed}; PSNR "
                 f"against the reference frame of the export (CPU fp32), with the floor each "
                 f"path must reach at load")
        for r in results:
            if r.ms_per_frame is None:
                self.out(f"  {r.label:22s} {r.note}")
                continue
            if r.psnr_db is None:
                quality = "no reference"  # no export to take the reference frame from
            else:
                quality = "identical" if r.psnr_db >= 200 else f"{r.psnr_db:.1f} dB"
            floor = f"  (>= {r.floor_db:.0f} dB)" if r.floor_db is not None else ""
            mark = "  <- the bot's choice" if r.chosen else ""
            self.out(f"  {r.label:22s} {r.ms_per_frame:7.0f} ms/frame  {quality:>9s}{floor}{mark}")
        self.chosen_ms = next((r.ms_per_frame for r in results if r.chosen), None)

    def _runner_order(self, engine: Engine, device: str, precision: str, passed_over: list[str]) -> None:
        """The order runners are tried in, which one runs and why, and why each other one does
        not (or when it would take over)."""
        from ..model import runner_openvino as rov

        runner = engine.runner
        kind = ("openvino" if runner.name.startswith("openvino") else
                "inference" if runner.name.startswith("inference") else "dygraph")
        ov_failed = next((m.split(": ", 1)[1] for m in passed_over if m.startswith("OpenVINO unavailable")), None)
        if device != "cpu":
            ov = "skipped: CPU only"
        elif not rov.available():
            ov = "skipped: openvino is not installed (pip install -r requirements.txt)"
        elif kind == "openvino":
            ov = (f"chosen: converted for this checkpoint and batch {engine.batch_size}, no Paddle at run "
                  f"time; {precision}")
        elif ov_failed is not None:
            ov = f"failed: {ov_failed}"
        elif runner.fallback_reason and runner.fallback_reason.startswith("OpenVINO failed mid-run"):
            ov = "failed mid-run (see the runner line)"
        else:
            ov = "skipped: not converted (needs Paddle once: `python -m engine prepare`)"
        if kind == "openvino":
            pi = "standby: takes over if OpenVINO fails mid-render (Paddle is imported only then)"
        elif kind == "inference":
            pi = f"chosen: {'the compiled model on the GPU' if device == 'gpu' else 'oneDNN'}; {precision}"
        else:
            pi = f"failed: {runner.fallback_reason}"
        dygraph = ("chosen: the last resort, ~20x slower" if kind == "dygraph"
                   else "standby: the last resort (~20x slower) if the compiled model cannot load")
        self.line("runners", f"tried in this order on the {device}:")
        for n, (name, state) in enumerate((("OpenVINO", ov), ("Paddle Inference", pi),
                                           ("dynamic graph", dygraph)), start=1):
            self.out(f"  {n}. {name:17s} {state}")

    def _openvino_paths(self, engine: Engine, reference: Reference | None) -> list[PathResult]:
        """OpenVINO fp32/bf16/int8 timed like the Paddle paths; the int8 gate's figure."""
        from ..cpu_features import has_fast_bf16
        from ..hashing import sha256_file
        from ..model import runner_openvino as rov
        from ..model.precision import read_int8_gate

        if not rov.available():
            return [PathResult("OpenVINO (CPU)", note="skipped: openvino not installed")]
        directory = rov.model_dir(engine.cache_dir, sha256_file(engine.checkpoint), engine.batch_size)
        if not rov.is_complete(directory):
            return [PathResult("OpenVINO (CPU)", note="skipped: not converted")]
        gate = read_int8_gate(directory)
        if gate is None:
            self.line("int8", "not calibrated (`python -m engine prepare` calibrates it on the "
                              "templates)")
        else:
            self.line("int8", f"{'used' if gate['used'] else 'not used'}: worst template frame "
                              f"{gate['psnr']:.1f} dB against fp32, gate {gate['threshold']:.0f} dB "
                              f"({', '.join(gate['templates'])})")
        chosen, results = engine.runner, []
        for precision in ("fp32", "bf16", "int8"):
            result = PathResult(f"{precision} (OpenVINO, CPU)")
            if precision == "bf16" and not has_fast_bf16():
                result.note = "skipped: no AMX/AVX512-BF16"
            elif precision == "int8" and not (gate and gate["used"]):
                result.note = "skipped: int8 did not pass its gate" if gate else \
                    "skipped: not calibrated"
            else:
                is_chosen = chosen.name == f"openvino-cpu-{precision}"
                try:
                    runner = chosen if is_chosen else rov.OpenVinoRunner(directory, precision)
                    self._time(runner, reference, result, warm_up=True)
                    result.chosen = is_chosen
                except Exception as exc:
                    result.note = f"failed: {' '.join(str(exc).split())[:160]}"
            results.append(result)
        return results

    def _dygraph(self, engine: Engine, reference: Reference | None) -> PathResult:
        from ..model.networks import load_networks
        from ..model.runner_dygraph import DygraphRunner

        chosen = engine.runner
        result = PathResult(f"dynamic graph ({chosen.device})")
        try:
            runner = chosen if chosen.name.startswith("dygraph") else \
                DygraphRunner(load_networks(engine.checkpoint))
            self._time(runner, reference, result, warm_up=False)  # too slow to run twice
            result.chosen = runner is chosen
        except EngineError as exc:
            result.note = f"failed: {exc}"
        return result

    def _time(self, runner: ModelRunner, reference: Reference | None, result: PathResult,
              warm_up: bool) -> None:
        from ..model.reference import reference_psnr

        # OpenVINO's generator has a fixed batch and pads a shorter one: timed on whole batches,
        # or it would look slower per frame than it renders
        fixed = int(getattr(runner, "batch", 1))
        frames = -(-self.frames // fixed) * fixed
        source, ks, kd = _inputs(reference, frames)
        if warm_up:  # oneDNN/cuDNN pick and build kernels on the first run of a batch shape
            runner.generate(source, ks, kd)
        t = time.perf_counter()
        runner.generate(source, ks, kd)
        result.ms_per_frame = 1000 * (time.perf_counter() - t) / frames
        result.runner = runner.name
        result.psnr_db = reference_psnr(runner, reference) if reference is not None else None

    def _motion(self, engine: Engine, templates: list[Template]) -> None:
        from ..driving import MotionCache
        from ..hashing import sha256_file

        cache = MotionCache(engine.cache_dir)
        digest = sha256_file(engine.checkpoint)
        for t in templates:
            try:
                ready = cache.path(cache.key(t.video, digest, engine.runner.name)).is_file()
            except OSError:
                ready = False
            state = "prepared" if ready else \
                "not prepared yet (the bot computes it at start; or `python -m engine prepare`)"
            self.line("motion", f"{t.id}: {state}")

    def _verdict(self) -> int:
        if not self.problems:
            speed = f", {self.chosen_ms:.0f} ms/frame" if self.chosen_ms is not None else ""
            self.out(f"result:      OK, the bot renders on its fast path{speed}")
            return EXIT_OK
        for p in self.problems:
            self.out(f"problem:     {p}")
        self.out(f"result:      {len(self.problems)} problem(s): the bot would not run on its "
                 f"fast path")
        return EXIT_PROBLEMS


class _ChoiceLog(logging.Handler):
    """The runner choice's warnings (engine/model/choose.py) while the doctor has the engine's
    log turned down: why OpenVINO or Paddle Inference was passed over."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self._logger = logging.getLogger("engine.model.choose")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> _ChoiceLog:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def _inputs(reference: Reference | None, frames: int) -> tuple[np.ndarray, Keypoints, Keypoints]:
    """A batch of `frames`: the reference photo, each frame's keypoints moved a little at random
    (random inputs when there is no export to take them from)."""
    rng = np.random.default_rng(0)
    if reference is None:
        source = rng.random((1, 3, 256, 256), dtype=np.float32)
        value = rng.uniform(-0.5, 0.5, (1, 10, 2)).astype(np.float32)
        jacobian = np.broadcast_to(np.eye(2, dtype=np.float32), (1, 10, 2, 2)).copy()
    else:
        source, value, jacobian = reference["source"], reference["ks_value"], reference["ks_jacobian"]

    def repeat(a: np.ndarray) -> np.ndarray:
        return np.repeat(a, frames, axis=0)

    moved = repeat(value) + rng.uniform(-0.05, 0.05, (frames, *value.shape[1:])).astype(np.float32)
    return repeat(source), (repeat(value), repeat(jacobian)), (moved, repeat(jacobian))


def run_doctor(settings: Settings, frames: int = 2, out: Callable[[str], None] = print) -> int:
    """Print the report through `out`; 0 when the bot would run on its fast path, else 1."""
    return Doctor(settings, max(1, frames), out).run()
