"""Kubernetes resource quantities as numbers, so quotas can be derived from what the pods ask for.

Supports the forms this program uses: CPU as cores or millicores (``"2"``, ``"250m"``),
memory as ``Mi``/``Gi`` (or bare bytes).
"""

from __future__ import annotations

__all__ = ["cpu_millis", "memory_mib", "format_cpu", "format_memory"]


def cpu_millis(value: str) -> int:
    """``"250m"`` -> 250, ``"1.5"`` -> 1500."""
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


def memory_mib(value: str) -> int:
    """``"512Mi"`` -> 512, ``"2Gi"`` -> 2048, bytes rounded up to MiB."""
    if value.endswith("Gi"):
        return int(float(value[:-2]) * 1024)
    if value.endswith("Mi"):
        return int(float(value[:-2]))
    return -(-int(value) // (1024 * 1024))


def format_cpu(millis: int) -> str:
    return f"{millis}m"


def format_memory(mib: int) -> str:
    return f"{mib}Mi"
