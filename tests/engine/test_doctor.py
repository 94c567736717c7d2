"""`python -m engine doctor`: names the path the bot would run and its speed, exits 0 only on the
fast path, and otherwise prints one line per problem naming the fix."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cpu_features import has_fast_bf16
from engine.model import export
from engine.model import precision as model_precision
from engine.model.device import GpuInfo
from engine.tools.doctor import run_doctor
from settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _config(path: Path, checkpoint: Path, cache: Path, templates: Path, extra: str = "") -> Path:
    path.write_text(f'[engine]\ncheckpoint = "{checkpoint}"\ncache_dir = "{cache}"\n{extra}\n'
                    f'[templates]\ndir = "{templates}"\n', encoding="utf-8")
    return path


def doctor(config: Path) -> subprocess.CompletedProcess:
    # one frame per path keeps it short: the dynamic graph alone takes seconds a frame here
    return subprocess.run([sys.executable, "-m", "engine", "doctor", "--frames", "1", "--config",
                           str(config)], cwd=REPO, capture_output=True, text=True, timeout=600)


def _problems(lines: list[str]) -> list[str]:
    return [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("problem:")]


# The label doctor prints for each compiled path.
LABELS = {("cpu", "fp32"): "fp32 (oneDNN, CPU)", ("cpu", "bf16"): "bf16 (oneDNN, CPU)",
          ("gpu", "bf16"): "bf16 (GPU)", ("gpu", "fp16"): "fp16 (GPU)", ("gpu", "fp32"): "fp32 (GPU)"}
# The dynamic graph against the export's reference frame (the same fp32 networks on the CPU): on a
# CPU only rounding differs (identical on AMD EPYC, ~123 dB on an AMX Xeon, whose oneDNN kernels
# order their sums differently between calls); a lossy path lands near 40-60 dB. On a GPU: TF32.
DYGRAPH_FLOOR_DB = {"cpu": 80.0, "gpu": model_precision.MIN_GPU_FP32_PSNR_DB}


def openvino_converts() -> bool:
    """OpenVINO and its converter are installed (paddle2onnx has no wheel for Python 3.13 yet: there
    the CPU keeps Paddle Inference)."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "paddle2onnx"))


def _quality_db(text: str) -> float:
    return 200.0 if text == "identical" else float(text.removesuffix(" dB"))


def test_this_machine_runs_its_fast_path_and_exits_0(small_checkpoint, engine_cache_dir,
                                                     templates_root, tmp_path):
    """Whatever this machine is (AMD or Intel, AMX or not, a GPU or not), doctor names the path
    this machine reports and exits 0; each figure is checked against what the machine has."""
    from engine.model.device import explain_device, gpu_info

    gpu = gpu_info()
    device, _ = explain_device("auto")
    precision, _, _ = model_precision.explain_precision(device, "auto")
    res = doctor(_config(tmp_path / "config.toml", small_checkpoint, engine_cache_dir,
                         templates_root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert "ccache" not in res.stdout + res.stderr
    out = res.stdout
    lines = out.splitlines()
    assert _problems(lines) == []
    assert re.search(r"^CPU: +.+, \d+ CPUs; AVX-512 (yes|no), AVX512-BF16 (yes|no), AMX-BF16 (yes|no)$",
                     out, re.M)
    build = r"CUDA [\d.?]+ build" if gpu.cuda_build else r"CPU build \(no CUDA\)"
    assert re.search(rf"^paddle: +3\.\d+\.\d+, {build}$", out, re.M)
    assert re.search(r"^TF32: +(not used \(no GPU\)|on |off |not available )", out, re.M)
    assert re.search(r"^ffmpeg: +.+; libx264 yes, aac yes, libvpx-vp9 yes$", out, re.M)
    assert re.search(rf"^device: +{device} \(auto: ", out, re.M)
    assert re.search(rf"^precision: +{precision} \(auto: ", out, re.M)
    if device == "cpu" and openvino_converts():
        # the CPU's first choice is OpenVINO; the Paddle Inference paths are still timed beside it
        chosen_label = f"{precision} (OpenVINO, CPU)"
        assert re.search(rf"^runner: +openvino-cpu-{precision}, ", out, re.M)
        # the order, the choice and its reason, and when the others would take over
        assert re.search(r"^runners: +tried in this order on the cpu:\n"
                         rf"  1\. OpenVINO +chosen: converted for this checkpoint and batch 4, no Paddle at "
                         rf"run time; {precision} \(auto: .+\)\n"
                         r"  2\. Paddle Inference +standby: takes over if OpenVINO fails mid-render .+\n"
                         r"  3\. dynamic graph +standby: the last resort", out, re.M), out
        assert re.search(r"^int8: +(not calibrated|used|not used)", out, re.M)
        assert re.search(r"^  fp32 \(OpenVINO, CPU\) +\d+ ms/frame +(identical|\d+\.\d dB)", out, re.M)
    else:
        chosen_label = LABELS[device, precision]
        assert re.search(rf"^runner: +inference-{device}-{precision}, ", out, re.M)
    default = {"cpu": 4, "gpu": 16}[device]
    assert re.search(rf"^batch: +{default} frames per generator call \(\[engine\].batch_size = 0: "
                     rf"the default on a {device}\)$", out, re.M)
    # every path of this machine is timed and checked against the reference frame; the others
    # say why they are skipped
    assert re.search(r"^  fp32 \(oneDNN, CPU\) +\d+ ms/frame +(identical|\d+\.\d dB)"
                     r"(  <- the bot's choice)?$", out, re.M)
    bf16 = re.search(r"^  bf16 \(oneDNN, CPU\) +(.+)$", out, re.M).group(1)
    assert ("ms/frame" in bf16) == has_fast_bf16()
    for (dev, prec), label in LABELS.items():
        if dev != "gpu":
            continue
        line = re.search(rf"^  {re.escape(label)} +(.+)$", out, re.M).group(1)
        if not gpu.names:
            assert line == "skipped: no GPU"
        elif prec == "bf16" and not gpu.supports_bf16():
            assert line.startswith("skipped: this GPU has no bf16")
        else:  # timed, and above the floor it must reach at load
            m = re.match(r"\d+ ms/frame +(identical|\d+\.\d dB)  \(>= (\d+) dB\)", line)
            assert m and _quality_db(m.group(1)) >= float(m.group(2)), line
    m = re.search(rf"^  dynamic graph \({device}\) +\d+ ms/frame +(identical|\d+\.\d dB)$", out, re.M)
    assert m and _quality_db(m.group(1)) >= DYGRAPH_FLOOR_DB[device], out
    chosen = [ln for ln in lines if ln.endswith("<- the bot's choice")]
    assert len(chosen) == 1 and chosen[0].startswith(f"  {chosen_label} ")
    assert re.search(r"^motion: +short: (prepared|not prepared yet)", out, re.M)
    ms = re.search(r"^result: +OK, the bot renders on its fast path, (\d+) ms/frame$", out, re.M)
    assert ms and f" {ms.group(1)} ms/frame" in chosen[0]


def test_without_the_checkpoint_it_names_weights_fetch(tmp_path, templates_root):
    res = doctor(_config(tmp_path / "config.toml", tmp_path / "absent.pdparams", tmp_path / "cache",
                         templates_root))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert _problems(res.stdout.splitlines()) == [
        f"checkpoint not found at {tmp_path / 'absent.pdparams'}: run `python -m engine weights fetch`"]
    assert "result:      1 problem(s)" in res.stdout


def test_a_gpu_setting_without_a_gpu_is_one_problem(small_checkpoint, engine_cache_dir, tmp_path,
                                                     monkeypatch):
    # as on a CPU build, whatever this machine has
    monkeypatch.setattr("engine.model.device.gpu_info", lambda: GpuInfo(False, None, ()))
    empty = tmp_path / "templates"
    empty.mkdir()
    settings = load_settings(_config(tmp_path / "config.toml", small_checkpoint, engine_cache_dir,
                                     empty, extra='device = "gpu"'), env={})
    lines: list[str] = []
    assert run_doctor(settings, frames=1, out=lines.append) == 1
    assert _problems(lines) == [
        f"no template with a video in {empty}: run `python -m engine templates fetch`",
        "device 'gpu' requested but paddle sees no CUDA GPU (this paddle is a CPU build): set "
        "[engine].device = \"auto\" (or \"cpu\"), or give the container a GPU (`docker compose up "
        "-d` reserves one)"]


def test_a_dynamic_graph_fallback_is_a_problem_with_its_reason(small_checkpoint, tmp_path,
                                                               templates_root, monkeypatch):
    """As on an image with Paddle 2.6: the bot would still render, ~20x slower; doctor says why."""
    monkeypatch.setattr(export, "paddle_version", lambda: "2.6.2")
    # on the CPU, so that the dynamic graph's line is the same on a GPU host
    settings = load_settings(_config(tmp_path / "config.toml", small_checkpoint, tmp_path / "cache",
                                     templates_root, extra='device = "cpu"'), env={})
    lines: list[str] = []
    assert run_doctor(settings, frames=1, out=lines.append) == 1
    assert _problems(lines) == [
        "the bot would render on paddle's dynamic graph (~20x slower): compiled model unavailable: "
        "Paddle 2.6.2 cannot export or load the compiled model (PIR .json programs need Paddle 3): "
        "install Paddle 3 (requirements-cpu.txt, or the Dockerfile's GPU wheel)"]
    assert any(ln.startswith("runner:      dygraph-fp32, the fallback, loaded in ") for ln in lines)
    assert any(re.fullmatch(r"  dynamic graph \(cpu\) +\d+ ms/frame +no reference  <- the bot's choice",
                            ln) for ln in lines), lines
    assert "  fp32 (oneDNN, CPU)     skipped: no compiled model" in lines


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2", "AVX-512 no, AVX512-BF16 no, AMX-BF16 no"),
    ("avx2 avx512f avx512_bf16", "AVX-512 yes, AVX512-BF16 yes, AMX-BF16 no"),
    ("avx512f amx_tile amx_bf16", "AVX-512 yes, AVX512-BF16 no, AMX-BF16 yes"),
])
def test_cpu_line_names_the_flags_that_pick_the_path(flags, expected):
    from engine.cpu_features import describe_cpu, parse_cpu_flags

    line = describe_cpu(parse_cpu_flags(f"processor\t: 0\nflags\t\t: {flags}\n"))
    assert line.endswith(f" CPUs; {expected}")
