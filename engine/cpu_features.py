"""What the CPU can do, from /proc/cpuinfo (Linux); used to pick bf16 on oneDNN."""

from __future__ import annotations

import os
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


def usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def describe_cpu(flags: frozenset[str] | None = None) -> str:
    """One line: model, usable CPUs, and the flags that decide oneDNN's fp32/bf16 path."""
    flags = cpu_flags() if flags is None else flags

    def has(name: str) -> str:
        return "yes" if name in flags else "no"

    return (f"{cpu_model()}, {usable_cpus()} CPUs; AVX-512 {has('avx512f')}, "
            f"AVX512-BF16 {has('avx512_bf16')}, AMX-BF16 {has('amx_bf16')}")
