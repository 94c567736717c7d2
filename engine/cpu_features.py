"""What the CPU can do, from /proc/cpuinfo (Linux); used to pick bf16 on oneDNN."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# oneDNN runs bf16 convolutions natively with either extension; without them it emulates slowly.
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The `flags` (x86) or `Features` (ARM) of the first processor in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This machine's CPU flags (empty when /proc/cpuinfo is unreadable, e.g. not Linux)."""
    try:
        return parse_cpu_flags(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        return frozenset()


def has_fast_bf16() -> bool:
    return bool(BF16_FLAGS & cpu_flags())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
