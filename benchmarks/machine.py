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
        "cpu_identity": cpu_identity(),
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
    info["torch_kernels"] = torch_kernels(info.get("torch_threads"))
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
        f"- kernels: {cpu_caption(info)}",
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


def cpu_identity() -> dict[str, Any]:
    """This CPU's vendor, model name, family and model numbers, and its widest vector extensions, from
    /proc/cpuinfo (the model name alone, from platform, elsewhere)."""
    keys = {"vendor_id": "vendor", "model name": "model", "cpu family": "family", "model": "model_number"}
    found: dict[str, Any] = {}
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = (part.strip() for part in line.partition(":"))
                if key in keys:
                    found[keys[key]] = value
                elif key == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    found.setdefault("vendor", "unknown")
    found.setdefault("model", cpu_model())
    found["vector"] = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if flag in flags]
    return found


_KERNEL_PROBE = r"""
import json, torch
from recsys.models import products
torch.set_num_threads(THREADS)
a, b = torch.randn(83, 64), torch.randn(50000, 64)
torch.mm(a, b.T)
products.scores_product(a, b)
print("@@" + json.dumps({"scores": "oneDNN" if products._FASTER_ONEDNN.get(64) else "torch (MKL)",
                         "capability": torch.backends.cpu.get_cpu_capability()}))
"""


def torch_kernels(threads: int | None = None) -> dict[str, Any]:
    """What torch's CPU kernels chose on this machine, from a short probe process with MKL's and
    oneDNN's verbose output on: MKL's code path (its verbose header names the instruction set it took,
    e.g. "Intel(R) AVX-512 ... enabled processors", or "Intel(R) Architecture processors" for its generic
    path, what it takes on non-Intel CPUs), oneDNN's instruction set and the kernel of one scoring
    product, torch's own vectorisation level, and which kernel :mod:`recsys.models.products` picked
    for the scores. Empty where the probe fails."""
    import subprocess

    threads = threads or os.cpu_count() or 1
    env = dict(os.environ, MKL_VERBOSE="1", ONEDNN_VERBOSE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    try:
        probe = subprocess.run([sys.executable, "-c", _KERNEL_PROBE.replace("THREADS", str(int(threads)))],
                               capture_output=True, text=True, timeout=120, env=env)
    except (OSError, subprocess.SubprocessError):
        return {}
    out: dict[str, Any] = {}
    for line in (probe.stdout + probe.stderr).splitlines():
        if line.startswith("@@"):
            out.update(json.loads(line[2:]))
        elif line.startswith("MKL_VERBOSE") and "mkl" not in out and " architecture " in line:
            out["mkl"] = line.split(" architecture ", 1)[1].split(",", 1)[0].strip()
            out["mkl_version"] = line.split("MKL_VERBOSE", 1)[1].split(" Product", 1)[0].strip()
        elif line.startswith("onednn_verbose") and ",isa:" in line:
            out["onednn_isa"] = line.split(",isa:", 1)[1].strip()
        elif line.startswith("onednn_verbose") and ",exec,cpu," in line and "onednn_kernel" not in out:
            out["onednn_kernel"] = line.split(",exec,cpu,", 1)[1].split(",")[1]
    return out


def cpu_caption(info: dict[str, Any]) -> str:
    """One line naming the CPU and the kernels each library chose, for under every table."""
    cpu = info.get("cpu_identity") or {}
    vector = ", ".join(cpu.get("vector") or []) or "no AVX2"
    family = f"family {cpu['family']} model {cpu['model_number']}; " if cpu.get("family") else ""
    blas = "; ".join(
        f"{p['internal_api']} {p.get('version')} {p.get('architecture')} kernels"
        for p in info.get("threadpools", []) if p.get("user_api") == "blas"
    ) or "n/a"
    kernels = info.get("torch_kernels") or {}
    torch_part = (f"torch {kernels.get('capability', '?')}, MKL: {kernels.get('mkl', '?')}, "
                  f"oneDNN: {kernels.get('onednn_kernel', '?')}, scores by {kernels.get('scores', '?')}")
    return (f"CPU: {cpu.get('vendor', '?')} {cpu.get('model', info.get('cpu'))} ({family}{vector}); "
            f"numpy/scipy BLAS: {blas}; {torch_part}")
