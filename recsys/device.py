"""Where matrix work runs: one small function, used by every model."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

# What a CPU's caches are taken to be when the system does not say (a small laptop core's).
DEFAULT_CPU_CACHES = {2: 1 << 20, 3: 8 << 20}


def pick_device(preference: str | torch.device | None = None) -> torch.device:
    """Return the torch device to use.

    ``None`` or ``"auto"`` picks CUDA when a GPU is visible, else CPU. ``"cpu"``, ``"cuda"`` or
    ``"cuda:1"`` force a choice; asking for CUDA on a machine without one falls back to CPU, so a
    model saved on a GPU machine still trains and loads on a laptop.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    if preference in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(preference).startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device(preference)


def device_key(preference: str | torch.device | None = None) -> str:
    """The one name a device is booked under: what ``pick_device(preference)`` would use, with the card
    index always written (``"cuda"`` and ``"cuda:0"`` are the same card, so both give ``"cuda:0"`` when
    card 0 is the current one). A preference torch cannot read books the CPU."""
    try:
        device = pick_device(preference)
    except (RuntimeError, ValueError):
        return "cpu"
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return str(device)


def describe_device(device: torch.device | None = None) -> dict:
    """Plain facts about a device for the dashboard: name, kind, free and total memory in bytes."""
    device = device or pick_device()
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return {"kind": "cuda", "name": torch.cuda.get_device_name(index), "free_bytes": free, "total_bytes": total}
    return {"kind": "cpu", "name": "CPU", "free_bytes": None, "total_bytes": None}


def available_memory(device: str | torch.device) -> int | None:
    """Free bytes on ``device``: GPU free memory, or the machine's available RAM (``None`` if unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


@functools.cache
def cpu_cache_bytes() -> dict[int, int]:
    """This machine's CPU data caches by level, in bytes: ``{1: per-core L1d, 2: per-core L2, 3: L3}``,
    as Linux reports them for CPU 0 (``/sys/devices/system/cpu/cpu0/cache``). Levels the system does not
    report take :data:`DEFAULT_CPU_CACHES`. Work that is cut into cache-sized pieces (iALS's item
    half-step) sizes its pieces from this, not from a constant tuned on one CPU."""
    found: dict[int, int] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size:
            found[level] = size
    return {**DEFAULT_CPU_CACHES, **found}


@functools.cache
def cpu_vendor() -> str:
    """The CPU's vendor as Linux names it (``"GenuineIntel"``, ``"AuthenticAMD"``), from ``/proc/cpuinfo``;
    ``""`` where that is not readable (another system, another architecture)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "vendor_id":
                    return value.strip()
    except OSError:
        pass
    return ""


def _parse_size(text: str) -> int:
    """``"1024K"`` -> 1048576, ``"32M"`` -> 33554432, ``"512"`` -> 512."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text[:-1] if text[-1:] in "KMG" else text) * scale


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op CPU threads (unchanged when ``None``), then restore.

    The SGD models (bpr, mf) train on the CPU with one thread: their steps are many small gathers and
    scatters, where a parallel region costs more than it saves, and on a busy machine each one waits for
    a second core (measured on a shared 2-core box: BPR's demo fit 126 s with 2 threads, 7 s with 1).
    One thread also makes their scatter-adds sequential, hence deterministic. ``recommend`` selects
    each block's top-k on one thread for the same reason (about 30 small steps a block of scores; at
    200k x 50k with one of the two cores busy elsewhere: 18-45 s on two threads, 17.5-19 s on one; on a
    quiet machine 7.1-12 s against 8.6-8.9 s)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc refuses a larger M_MMAP_THRESHOLD on 64-bit systems
_HEAP_KEPT = {"bytes": 0}


def keep_heap_for(block_bytes: int) -> bool:
    """Let glibc's malloc serve allocations of up to ``2 * block_bytes`` (at most 32 MB) from its heap
    and keep up to ``4 * block_bytes`` of freed memory at the heap's top (``mallopt``
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``; only ever raised; Linux with glibc only). Returns
    whether the settings are in place.

    Why: ``recommend`` allocates and frees one block of scores per block of users (16 MB at 50k items on
    a CPU with a 32 MB L3). With glibc's own adaptive thresholds, small temporaries placed around that
    block after training left it handed back to the system at each free and page-faulted anew at each
    allocation: at 200k users x 50k items after a BPR fit, 5.3 million page faults and 16.5 s for top-10
    for everyone, against 12 thousand faults and 8.3 s with these settings."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    wanted = int(block_bytes)
    if wanted <= _HEAP_KEPT["bytes"]:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt
        ok = mallopt(_M_MMAP_THRESHOLD, min(2 * wanted, _MMAP_THRESHOLD_MAX)) and mallopt(_M_TRIM_THRESHOLD, 4 * wanted)
    except (OSError, AttributeError):
        return False
    if ok:
        _HEAP_KEPT["bytes"] = wanted
    return bool(ok)
