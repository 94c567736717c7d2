"""Does every pin of the lock have a wheel for each supported Python? (`make test` runs this once per
version of the requirement files.)

    python scripts/lock_wheels.py [--python 3.11 3.12 3.13]

For each version, pip resolves the CPU set-up's pins (requirements-cpu.txt with requirements.txt,
and requirements-dev.txt) against the package index as that Python would, binary wheels only
(`pip install --dry-run --only-binary=:all: --python-version X --ignore-installed`): for the Python
running it with their dependencies, for the others each pin alone (--no-deps: pip evaluates the
markers of a dependency's metadata, e.g. paddle2onnx's `onnxoptimizer; python_version < "3.12"`, for
the Python running it, not the one checked; the lock pins every dependency anyway); ppgan
(requirements-nodeps.txt, installed with --no-deps) alone. pip stops at the first
pin it cannot satisfy, so that pin is named, left out, and the rest resolved again until all the
others pass. Exit 0 when every pin resolves for every version, 1 otherwise (each missing pin named),
2 when the index cannot be reached. The GPU wheel (requirements-gpu.txt) lives on PaddlePaddle's
own index and is not checked here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.12", "3.13")
WITH_DEPS = ("requirements-cpu.txt", "requirements-dev.txt")
NO_DEPS = ("requirements-nodeps.txt",)
_UNSATISFIED = re.compile(r"(?:No matching distribution found for|Could not find a version that "
                          r"satisfies the requirement) ([A-Za-z0-9_.\-\[\]]+(?:[=<>!~]=?[^\s;)]+)?)")
_OFFLINE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
            "ConnectionError", "Max retries exceeded")


@dataclass(frozen=True)
class Pin:
    line: str  # "name==version" as written
    source: str  # the requirements file it is in

    @property
    def name(self) -> str:
        return canonical(re.split(r"[=<>!~\[; ]", self.line, maxsplit=1)[0])


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(file: Path) -> list[Pin]:
    """The requirement lines of a file and of the files it includes with -r, in order."""
    pins: list[Pin] = []
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            pins += read_pins(file.parent / line.split(None, 1)[1])
        elif not line.startswith("-"):
            pins.append(Pin(line, file.name))
    return pins


def for_python(pins: list[Pin], python: str) -> list[Pin]:
    """The pins that apply to `python`, their environment markers dropped: pip would evaluate a
    marker for the Python running it, not for the --python-version it checks."""
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    kept = []
    for pin in pins:
        requirement, _, marker = pin.line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(environment):
            continue
        kept.append(Pin(requirement.strip(), pin.source))
    return kept


def unsatisfied(pip_output: str) -> str | None:
    """The requirement pip could not satisfy, from its output (None when it names none)."""
    found = _UNSATISFIED.findall(pip_output)
    return found[-1] if found else None


class Offline(RuntimeError):
    pass


class PipFailed(RuntimeError):
    pass


def _pip(pins: list[Pin], python: str, deps: bool) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("".join(f"{p.line}\n" for p in pins), encoding="utf-8")
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
               "--only-binary=:all:", "--python-version", python, "--disable-pip-version-check",
               "--target", str(Path(tmp) / "target"),  # pip < 24 wants it next to --python-version
               "-r", str(reqs)] + ([] if deps else ["--no-deps"])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def missing_wheels(pins: list[Pin], python: str, deps: bool) -> list[str]:
    """Each pin (or dependency of one) without a wheel for `python`; [] when all resolve."""
    remaining = list(pins)
    missing: list[str] = []
    while remaining:
        run = _pip(remaining, python, deps)
        if run.returncode == 0:
            return missing
        output = run.stdout + run.stderr
        failed = unsatisfied(output)
        if failed is None:
            if any(marker in output for marker in _OFFLINE):
                raise Offline(output.strip().splitlines()[-1])
            lines = [ln for ln in output.strip().splitlines() if ln.strip()]
            raise PipFailed(lines[-1] if lines else f"exit status {run.returncode}")
        name = canonical(re.split(r"[=<>!~\[]", failed, maxsplit=1)[0])
        pin = next((p for p in remaining if p.name == name), None)
        if pin is None:  # a dependency the lock does not pin
            missing.append(f"{failed} (a dependency of the lock, not pinned in it)")
            return missing
        missing.append(f"{pin.line} ({pin.source})")
        remaining.remove(pin)
    return missing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", nargs="+", default=list(PYTHONS), help="versions, e.g. 3.12")
    args = ap.parse_args()
    with_deps = [p for f in WITH_DEPS for p in read_pins(ROOT / f)]
    no_deps = [p for f in NO_DEPS for p in read_pins(ROOT / f)]
    problems = 0

    def check(python: str) -> list[str]:
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        return (missing_wheels(for_python(with_deps, python), python, deps=python == running)
                + missing_wheels(for_python(no_deps, python), python, deps=False))

    # pip spends its time fetching metadata from the index: the versions are checked side by side
    with ThreadPoolExecutor(len(args.python)) as pool:
        futures = {python: pool.submit(check, python) for python in args.python}
        for python, future in futures.items():
            try:
                missing = future.result()
            except Offline as exc:
                print(f"lock: cannot reach the package index to check the wheels ({exc})",
                      file=sys.stderr)
                return 2
            except PipFailed as exc:
                print(f"lock: pip could not check Python {python}: {exc}", file=sys.stderr)
                problems += 1
                continue
            for m in missing:
                print(f"lock: no wheel for Python {python}: {m}", file=sys.stderr)
            problems += len(missing)
            if not missing:
                print(f"lock: every pin ({len(with_deps) + len(no_deps)}) has a wheel for "
                      f"Python {python}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
