"""Where matrix work runs: one small function, used by every model."""

from __future__ import annotations

import os

import torch


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
