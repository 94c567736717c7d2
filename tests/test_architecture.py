"""The shape of the code: bot (the Telegram front end) → pipeline (the job's way through the stages)
→ ops (HTTP server, metrics, logging, start-up checks) → engine / storage / i18n, and worker →
pipeline, ops; never back. No module imports itself round a cycle, counting imports inside
functions and in `if TYPE_CHECKING:` blocks too (a cycle in type hints is still a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "pipeline", "ops", "i18n", "engine", "storage", "worker")


def _modules() -> dict[str, Path]:
    found = {"settings": ROOT / "settings.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:  # "bot.handlers.grid.x" -> the module that holds x
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, name, known) for name, path in known.items()}


def test_no_import_cycles_even_inside_functions():
    edges = _graph()

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(edges[path[-1]]):
            if nxt == start:
                return path + [nxt]
            if nxt not in path and len(path) < 12 and (found := cycle_from(start, path + [nxt])):
                return found
        return None

    cycles = [c for m in sorted(edges) if (c := cycle_from(m, [m]))]
    assert not cycles, " -> ".join(cycles[0])


def test_dependencies_point_one_way():
    graph = _graph()

    def top(name: str) -> str:
        return name.split(".")[0]

    allowed = {
        "engine": {"engine", "settings"},  # pure compute: no Telegram, no SQL
        "storage": {"storage", "settings"},  # no Telegram, no paddle, no engine
        "i18n": {"i18n"},  # the texts: no code of ours below them
        "ops": {"ops", "engine", "storage", "settings"},  # used by the pipeline: never imports it
        "pipeline": {"pipeline", "ops", "i18n", "engine", "storage", "settings"},
        "bot": {"bot", "pipeline", "ops", "i18n", "engine", "storage", "settings"},
        "worker": {"worker", "pipeline", "ops", "engine", "storage", "settings"},
        "settings": {"settings"},
    }
    wrong = [(m, d) for m, deps in graph.items() for d in deps if top(d) not in allowed[top(m)]]
    assert not wrong, wrong
    forbidden = {"engine": {"telegram", "sqlalchemy", "aiosqlite", "asyncpg", "celery"},
                 "storage": {"telegram", "paddle", "ppgan", "cv2", "celery"},
                 "ops": {"telegram", "paddle", "ppgan", "celery"},
                 "i18n": {"telegram", "sqlalchemy"}}
    for package, libraries in forbidden.items():
        for path in (ROOT / package).rglob("*.py"):
            used = {top(name) for name in _external(path)}
            assert not used & libraries, (path, used & libraries)


def _external(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


def test_a_worker_loads_no_bot_module():
    """Importing every worker module (in a fresh interpreter) loads nothing of the front end."""
    import subprocess
    import sys

    workers = sorted(name for name in _modules() if name.split(".")[0] == "worker")
    code = ("import importlib, sys\n"
            f"for name in {workers!r}: importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
