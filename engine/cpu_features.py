"""What the CPU can do, from /proc/cpuinfo (Linux); used to pick bf16 on oneDNN."""

from __future__ import annotations

import math
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


def cgroup_cpu_limit(cpu_max: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` text ("quota period"; "max ..." is no limit)."""
    parts = cpu_max.split()
    if len(parts) < 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _cgroup_limit() -> float | None:
    """This process's cgroup v2 CPU quota (`docker run --cpus`, compose `cpus:`), None if none."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):  # the unified (v2) hierarchy
            path = Path("/sys/fs/cgroup") / line[3:].strip().lstrip("/")
            limits = []
            # the tightest quota on the way up (a container's own, its parent slice's)
            for folder in (path, *path.parents):
                if not str(folder).startswith("/sys/fs/cgroup"):
                    break
                try:
                    limit = cgroup_cpu_limit((folder / "cpu.max").read_text())
                except OSError:
                    continue
                if limit is not None:
                    limits.append(limit)
            return min(limits) if limits else None
    return None


def usable_cpus() -> int:
    """CPUs this process may use: its affinity (a container's cpuset), capped by a cgroup CPU quota
    (a container's CPU limit), rounded up; never the host's count when a container has less."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = _cgroup_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(1, cpus)


def describe_cpu(flags: frozenset[str] | None = None) -> str:
    """One line: model, usable CPUs, and the flags that decide oneDNN's fp32/bf16 path."""
    flags = cpu_flags() if flags is None else flags

    def has(name: str) -> str:
        return "yes" if name in flags else "no"

    return (f"{cpu_model()}, {usable_cpus()} CPUs; AVX-512 {has('avx512f')}, "
            f"AVX512-BF16 {has('avx512_bf16')}, AMX-BF16 {has('amx_bf16')}")


def compute_threads() -> int:
    """Threads for the model runners: OMP_NUM_THREADS when set (paddle_compat.set_threads sets it
    from [engine].threads), else every CPU the process may use."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return usable_cpus()
