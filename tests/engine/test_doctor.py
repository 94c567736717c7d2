"""`python -m engine doctor`: names the path the bot would run and its speed, exits 0 only on the
fast path, and otherwise prints one line per problem naming the fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import runner_inference as ri
from engine.cpu_features import has_fast_bf16
from engine.doctor import run_doctor
from settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PRECISION = "bf16" if has_fast_bf16() else "fp32"


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


def test_this_machine_runs_the_onednn_path_and_exits_0(random_checkpoint, engine_cache_dir,
                                                       templates_root, tmp_path):
    res = doctor(_config(tmp_path / "config.toml", random_checkpoint, engine_cache_dir,
                         templates_root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    out = res.stdout
    lines = out.splitlines()
    assert _problems(lines) == []
    assert re.search(r"^CPU: +.+, \d+ CPUs; AVX-512 (yes|no), AVX512-BF16 (yes|no), AMX-BF16 (yes|no)$",
                     out, re.M)
    assert re.search(r"^paddle: +3\.\d+\.\d+, CPU build \(no CUDA\)$", out, re.M)
    assert re.search(r"^ffmpeg: +.+; libx264 yes, aac yes, libvpx-vp9 yes$", out, re.M)
    assert re.search(rf"^precision: +{PRECISION} \(auto: ", out, re.M)
    # the CPU's first choice is OpenVINO; the Paddle Inference paths are still timed beside it
    assert re.search(rf"^runner: +openvino-cpu-{PRECISION}, ", out, re.M)
    assert re.search(r"^runners: +1\. OpenVINO: converted, no Paddle at run time; 2\. Paddle", out, re.M)
    assert re.search(r"^int8: +(not calibrated|used|not used)", out, re.M)
    assert re.search(r"^  fp32 \(OpenVINO, CPU\) +\d+ ms/frame +\d+\.\d dB", out, re.M)
    # every path of this machine is timed and checked against the reference frame
    assert re.search(r"^  fp32 \(oneDNN, CPU\) +\d+ ms/frame +\d+\.\d dB", out, re.M)
    bf16 = re.search(r"^  bf16 \(oneDNN, CPU\) +(.+)$", out, re.M).group(1)
    assert ("ms/frame" in bf16) == has_fast_bf16()
    assert re.search(r"^  fp16 \(GPU\) +skipped: no GPU$", out, re.M)
    assert re.search(r"^  dynamic graph \(cpu\) +\d+ ms/frame +identical$", out, re.M)
    chosen = [ln for ln in lines if ln.endswith("<- the bot's choice")]
    assert len(chosen) == 1 and chosen[0].startswith(f"  {PRECISION} (OpenVINO, CPU)")
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


def test_a_gpu_setting_without_a_gpu_is_one_problem(random_checkpoint, engine_cache_dir, tmp_path):
    empty = tmp_path / "templates"
    empty.mkdir()
    settings = load_settings(_config(tmp_path / "config.toml", random_checkpoint, engine_cache_dir,
                                     empty, extra='device = "gpu"'), env={})
    lines: list[str] = []
    assert run_doctor(settings, frames=1, out=lines.append) == 1
    assert _problems(lines) == [
        f"no template with a video in {empty}: run `python -m engine templates fetch`",
        "device 'gpu' requested but paddle sees no CUDA GPU (this paddle is a CPU build): set "
        "[engine].device = \"auto\" (or \"cpu\"), or give the container a GPU (`docker compose up "
        "-d` reserves one)"]


def test_a_dynamic_graph_fallback_is_a_problem_with_its_reason(random_checkpoint, tmp_path,
                                                               templates_root, monkeypatch):
    """As on an image with Paddle 2.6: the bot would still render, ~20x slower; doctor says why."""
    monkeypatch.setattr(ri, "paddle_version", lambda: "2.6.2")
    settings = load_settings(_config(tmp_path / "config.toml", random_checkpoint, tmp_path / "cache",
                                     templates_root), env={})
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
