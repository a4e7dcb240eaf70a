"""GPU speed of Tastemaker's models with nothing but torch (and recsys), printed as one table.

At ``--scale full`` (the issue's figures, one H100/H200-class card):

* ``ials`` seconds per epoch at 10M and 50M interactions, 64 factors; ``bpr`` per epoch at 10M;
* top-10 for every user of the 10M data (200k users x 50k items): ``recommend()`` end to end, and the
  bare kernel (score blocks + ``topk`` on the card, no seen-item masking) for scale;
* EASE fit at 20k items;
* the card's copy bandwidth: host to device (pinned and pageable), device to host, device to device;
* the building blocks the iALS epoch is made of at 10M x 64: CSR x dense (SpMM), sampled dense-dense
  (SDDMM) and a per-interaction gather, for where-the-time-goes questions.

Epoch times are wall-clock between consecutive epoch callbacks with the device synchronised (so
asynchronous kernels are counted), median of the measured epochs after warm-up. Data come from
:mod:`benchmarks.synthetic` (10M: 200k users x 50k items; 50M: 1M users x 250k items). It is built to
finish in under five minutes end to end.

    python -m benchmarks.gpu                                  # CUDA, full scale
    python -m benchmarks.gpu --device cpu --scale small       # a tiny run anywhere (what CI runs)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks import synthetic
from benchmarks.machine import machine_info, machine_markdown, markdown_table, publish, size_label

SCALES: dict[str, dict[str, Any]] = {
    "full": {"ials": [10_000_000, 50_000_000], "bpr": [10_000_000], "ease_items": 20_000,
             "ease_users": 100_000, "copy_bytes": 1 << 30, "warmup": 2, "epochs": 5},
    "small": {"ials": [20_000, 50_000], "bpr": [20_000], "ease_items": 300,
              "ease_users": 2_000, "copy_bytes": 1 << 24, "warmup": 1, "epochs": 2},
}
TARGETS_SECONDS = {  # the GPU targets (full scale only)
    ("ials epoch", 10_000_000): 0.015,
    ("ials epoch", 50_000_000): 0.080,
    ("bpr epoch", 10_000_000): 0.025,
    ("top-10 recommend()", 10_000_000): 0.060,
    ("EASE fit", 20_000): 0.3,
}
REFERENCE_H200 = {  # plain-torch reference points from the issue (H200)
    ("ials epoch", 10_000_000): "18 ms (sparse products), 240 ms (gathers)",
    ("bpr epoch", 10_000_000): "54 ms (1M-sample batches)",
    ("top-10 recommend()", 10_000_000): "152 ms",
    ("EASE fit", 20_000): "460 ms",
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall seconds of ``fn()`` with the device synchronised before and after each call."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_data(n_interactions: int, seed: int = 0):
    """Synthetic interactions of the benchmark's shape, as a recsys Interactions."""
    n_users, n_items = synthetic.shape_for(n_interactions)
    users, items = synthetic.generate(n_users, n_items, n_interactions, seed=seed)
    return synthetic.to_interactions(users, items, n_users, n_items)


def train_epochs(name: str, train, device: torch.device, warmup: int, epochs: int, factors: int = 64):
    """Fit our model for ``warmup + epochs`` epochs; returns (model, measured epoch seconds, setup s)."""
    from recsys.models import make_model

    probe = make_model(name)
    wanted = {"factors": factors, "epochs": warmup + epochs, "device": str(device)}
    model = make_model(name, **{k: v for k, v in wanted.items() if k in probe.param_names()})
    marks: list[float] = []

    def on_epoch(record: dict[str, Any]) -> None:
        synchronize(device)
        marks.append(time.perf_counter())

    synchronize(device)
    started = time.perf_counter()
    model.fit(train, on_epoch=on_epoch)
    walls = np.diff([started, *marks])
    return model, [float(x) for x in walls[warmup:]], float(walls[0]) if len(walls) else float("nan")


def topk_kernel(n_users: int, n_items: int, device: torch.device, factors: int = 64, k: int = 10) -> float:
    """Seconds for scores + top-k of every user against every item (random factors, blocks of about
    2^28 scores), no seen-item masking: the floor under ``recommend()``."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    users = torch.rand(n_users, factors, generator=gen).to(device)
    items = torch.rand(n_items, factors, generator=gen).to(device)
    block = max(1, (1 << 28) // n_items)

    def run() -> None:
        for start in range(0, n_users, block):
            torch.topk(users[start : start + block] @ items.T, k, dim=1)

    return timed(run, device)


def copy_bandwidth(device: torch.device, n_bytes: int) -> dict[str, float]:
    """Copy rates in GB/s (10^9 bytes copied per second; a device-to-device copy reads and writes, so
    its memory traffic is twice that). On a CPU only the host memory copy is measured."""
    out: dict[str, float] = {}
    if device.type == "cuda":
        host_pinned = torch.empty(n_bytes, dtype=torch.uint8, pin_memory=True)
        host_paged = torch.empty(n_bytes, dtype=torch.uint8)
        host_paged.fill_(1)
        host_pinned.fill_(1)
        on_device = torch.empty(n_bytes, dtype=torch.uint8, device=device)
        other = torch.empty(n_bytes, dtype=torch.uint8, device=device)
        out["host to device, pinned"] = n_bytes / timed(lambda: on_device.copy_(host_pinned, non_blocking=True), device) / 1e9
        out["host to device, pageable"] = n_bytes / timed(lambda: on_device.copy_(host_paged), device) / 1e9
        out["device to host, pinned"] = n_bytes / timed(lambda: host_pinned.copy_(on_device, non_blocking=True), device) / 1e9
        out["device to device"] = n_bytes / timed(lambda: other.copy_(on_device), device) / 1e9
    else:
        src = torch.ones(n_bytes, dtype=torch.uint8)
        dst = torch.empty_like(src)
        out["host memory copy"] = n_bytes / timed(lambda: dst.copy_(src), device) / 1e9
    return out


def primitives(train, device: torch.device, factors: int = 64) -> dict[str, float]:
    """Seconds of one SpMM (R @ Y), one SDDMM (<x_u, y_i> at R's pattern) and one gather-multiply-sum
    (``(X[rows] * Y[cols]).sum(1)``) at the data's size: the pieces of a CG step."""
    csr = train.to_csr(use_values=False)
    index = torch.int32 if csr.nnz < 2**31 - 1 else torch.int64
    pattern = torch.sparse_csr_tensor(
        torch.as_tensor(csr.indptr.astype(np.int64)).to(index), torch.as_tensor(csr.indices.astype(np.int64)).to(index),
        torch.as_tensor(csr.data), size=csr.shape,
    ).to(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(csr.shape[0], factors, generator=gen).to(device)
    y = torch.rand(csr.shape[1], factors, generator=gen).to(device)
    rows = torch.as_tensor(np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))).to(device)
    cols = torch.as_tensor(csr.indices.astype(np.int64)).to(device)
    return {
        "SpMM R @ Y": timed(lambda: pattern @ y, device),
        "SDDMM sampled_addmm": timed(lambda: torch.sparse.sampled_addmm(pattern, x, y.T, beta=0.0), device),
        "gather (X[rows] * Y[cols]).sum(1)": timed(lambda: (x[rows] * y[cols]).sum(1), device),
    }


def run(device_name: str = "cuda", scale: str = "full", seed: int = 0) -> dict[str, Any]:
    """Every figure of the GPU benchmark at ``scale``; returns rows for the table and raw numbers."""
    from recsys.device import describe_device, pick_device
    from recsys.models import make_model

    config = SCALES[scale]
    device = pick_device(device_name)
    if device_name.startswith("cuda") and device.type != "cuda":
        raise SystemExit("No CUDA device is visible: run with --device cpu --scale small for a dry run.")
    begun = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(), "device": describe_device(device), "scale": scale,
                               "rows": [], "details": {}}
    rows = results["rows"]

    def add(figure: str, size: int, size_text: str, seconds: float | None, note: str = "") -> None:
        target = TARGETS_SECONDS.get((figure, size)) if scale == "full" else None
        rows.append({"figure": figure, "size": size_text, "ms": None if seconds is None else seconds * 1000,
                     "target_ms": None if target is None else target * 1000,
                     "met": None if target is None or seconds is None else seconds <= target,
                     "h200_reference": REFERENCE_H200.get((figure, size)) if scale == "full" else None,
                     "note": note})
        print(f"[gpu] {figure} {size_text}: {seconds}", file=sys.stderr)

    def guarded(label: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one failing figure must not hide the rest
            rows.append({"figure": label, "size": "", "ms": None, "target_ms": None, "met": None,
                         "h200_reference": None, "note": f"failed: {type(exc).__name__}: {exc}"[:300]})
            print(f"[gpu] {label} failed: {exc!r}", file=sys.stderr)

    for name, value in copy_bandwidth(device, config["copy_bytes"]).items():
        rows.append({"figure": f"copy: {name}", "size": f"{config['copy_bytes'] >> 20} MiB",
                     "ms": None, "target_ms": None, "met": None, "h200_reference": None,
                     "note": f"{value:.1f} GB/s"})
        results["details"][f"copy {name} GB/s"] = value

    datasets: dict[int, Any] = {}

    def data(size: int):
        if size not in datasets:
            started = time.perf_counter()
            datasets[size] = make_data(size, seed)
            results["details"][f"generate {size_label(size)} s"] = time.perf_counter() - started
        return datasets[size]

    first = config["ials"][0]
    for size in sorted(set(config["ials"]) | set(config["bpr"])):
        label = f"{size_label(size)} ({data(size).n_users:,} x {data(size).n_items:,})"
        for name in ("ials", "bpr"):
            if size not in config[name]:
                continue

            def one(name: str = name, size: int = size, label: str = label) -> None:
                model, walls, setup = train_epochs(name, data(size), device, config["warmup"], config["epochs"])
                add(f"{name} epoch", size, label, statistics.median(walls),
                    f"median of {len(walls)} after {config['warmup']} warm-up; setup {setup:.2f} s")
                results["details"][f"{name} {size_label(size)} epochs s"] = walls
                if name == "ials" and size == first:
                    seconds = timed(lambda: model.recommend(None, k=10), device, repeats=3)
                    add("top-10 recommend()", size, label, seconds, "every user, seen items excluded")
                    kernel = topk_kernel(model.n_users_, model.n_items_, device)
                    add("top-10 kernel", size, label, kernel, "scores + topk on the card, no masking")

            guarded(f"{name} epoch {size_label(size)}", one)
        if size == first:
            guarded("primitives", lambda size=size, label=label: [
                add(f"building block: {k}", size, label, v, "one call, 64 factors")
                for k, v in primitives(data(size), device).items()])
        datasets.pop(size, None)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def ease() -> None:
        n_items, n_users = config["ease_items"], config["ease_users"]
        users, items = synthetic.generate(n_users, n_items, min(50 * n_items, n_users * n_items // 5), seed=seed)
        train = synthetic.to_interactions(users, items, n_users, n_items)
        probe = make_model("ease")
        settings = {"device": str(device)} if "device" in probe.param_names() else {}
        seconds = timed(lambda: make_model("ease", **settings).fit(train), device, repeats=1, warmup=1)
        add("EASE fit", n_items, f"{n_items:,} items, {len(train):,} interactions", seconds, "fit() end to end")

    guarded("EASE fit", ease)
    results["total_seconds"] = time.perf_counter() - begun
    return results


def report_markdown(results: dict[str, Any]) -> str:
    dev = results["device"]
    memory = f", {dev['total_bytes'] / 2**30:.0f} GiB" if dev.get("total_bytes") else ""
    header = ["figure", "size", "ms", "target ms", "met", "H200 plain-torch reference", "note"]
    rows = [[r["figure"], r["size"], r["ms"], r["target_ms"],
             None if r["met"] is None else ("yes" if r["met"] else "NO"), r["h200_reference"], r["note"]]
            for r in results["rows"]]
    return "\n".join([
        "### Machine", "", machine_markdown(results["machine"]),
        f"- device: {dev['name']} ({dev['kind']}{memory})", "",
        f"Scale: {results['scale']}; total {results['total_seconds']:.0f} s end to end.", "",
        markdown_table(header, rows), "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GPU speed figures with torch only.")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write all numbers here")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args(argv)
    results = run(args.device, args.scale, args.seed)
    text = report_markdown(results)
    publish(text, results, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
