"""What every benchmark prints with its numbers: the machine, the libraries, and small table helpers."""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_total_gb() -> float | None:
    """Physical memory in GiB (Linux), else None."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def version(module: str) -> str | None:
    """``module.__version__`` if it imports, else None (nothing is installed or required)."""
    try:
        return getattr(importlib.import_module(module), "__version__", "?")
    except Exception:  # noqa: BLE001 - a missing or broken optional library is just "absent"
        return None


def threadpools() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS/OpenMP pools (library, API, version, threads, kernel)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "version", "num_threads", "architecture", "filepath")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB: ``VmHWM`` of /proc/self/status on Linux.

    Not ``ru_maxrss``: Linux carries the parent's peak into a child across fork and exec, so a worker
    started by a big parent would report at least the parent's memory. ``VmHWM`` belongs to the
    process's own address space. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS) is the fallback.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def machine_info() -> dict[str, Any]:
    """CPU model, usable cores, memory, load, Python and library versions, relevant environment."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": round(memory_total_gb() or 0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for module in ("torch", "numpy", "scipy", "implicit"):
        info[module] = version(module)
    info["env"] = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OPENBLAS", "OMP_", "MKL_"))}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkl"] = bool(torch.backends.mkl.is_available())
    except ImportError:
        pass
    info["threadpools"] = threadpools()
    return info


def machine_markdown(info: dict[str, Any]) -> str:
    """The machine facts as a short Markdown list."""
    pools = "; ".join(
        f"{p['internal_api']} {p['version']} ({p['num_threads']} threads, {p['architecture']}, "
        f"{os.path.basename(str(p['filepath']))})"
        for p in info.get("threadpools", [])
    )
    lines = [
        f"- CPU: {info['cpu']}, {info['usable_cores']} usable cores of {info['cores']}, "
        f"{info['memory_gb']} GiB memory; load average at start {info['load_average']}",
        f"- Python {info['python']} on {info['platform']}",
        f"- torch {info.get('torch')} ({info.get('torch_threads')} threads, MKL {info.get('torch_mkl')}), "
        f"numpy {info.get('numpy')}, scipy {info.get('scipy')}, implicit {info.get('implicit') or 'not installed'}",
        f"- thread pools (threadpoolctl): {pools or 'n/a'}",
        f"- BLAS/OpenMP environment: {info.get('env') or 'none set'}",
    ]
    return "\n".join(lines)


def publish(text: str, results: dict[str, Any], json_path: str | None, markdown_path: str | None) -> None:
    """Print a benchmark's Markdown report; also write it, and the full results as JSON, where asked."""
    print(text)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=1, default=str))
    if markdown_path:
        Path(markdown_path).write_text(text + "\n")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table; floats printed with 3 significant digits, None as an em dash."""

    def cell(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if value != value:  # NaN
                return "—"
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def parse_size(text: str) -> int:
    """``"10M"`` -> 10_000_000, ``"500k"`` -> 500_000, ``"2000"`` -> 2000."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "kmg" else text
    return int(float(number) * scale)


def size_label(n: int) -> str:
    """10_000_000 -> "10M", 500_000 -> "500k"."""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return str(n)
