"""``dualposenet benchmark``: speed and memory of the parts a robot pays for per frame.

Reports (table on stdout, optional JSON):
* spherical maps: vectorised numpy and batched torch against the per-point reference loop, on the
  same points in the same run (ratio), and one call for all instances of a frame;
* network latency per batch size (encoder + both decoders);
* per-frame latency of the whole pipeline for 1/3/6/10 instances, without and with each
  refinement mode, and the peak memory of that run;
* ``--options``: each inference option (precision, backend) against float32: speed and accuracy
  cost (:mod:`dualposenet_ros.benchmarks.option_benchmark`);
* ``--node``: end-to-end latency and throughput of the ROS node over DDS (needs rclpy;
  :mod:`dualposenet_ros.ros_tools.node_benchmark`).

The command line routes ``--options`` and ``--node`` to those modules (``cli.ROUTES``), so this
one imports neither (nor any ROS code).

Timings are medians over ``--repeats`` after warm-up; on CUDA every timing synchronises.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.config import get_preset
from ..core.estimates import FrameInput, InstanceInput, RefineMode
from ..inference.backends import Backend
from ..inference.pipeline import EstimatorSettings, PoseEstimator, resolve_device
from ..model.network import DualPoseNet
from ..model.precision import Precision
from ..model.preprocess import Intrinsics, spherical_maps, spherical_maps_batch, spherical_maps_reference

POINTS_PER_INSTANCE = 5000
INSTANCE_COUNTS = (1, 3, 6, 10)
BATCH_SIZES = (1, 2, 4, 8, 16)


def seconds_of(function: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call of ``function`` on ``device`` (on CUDA, the work queued before and by it is waited for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _timer(device: torch.device, repeats: int, warmup: int = 2) -> Callable[[Callable[[], Any]], float]:
    """Returns a function measuring the median seconds of a callable on ``device``."""

    def measure(function: Callable[[], Any]) -> float:
        for _ in range(warmup):
            function()
        return statistics.median(seconds_of(function, device) for _ in range(repeats))

    return measure


def machine(device: torch.device) -> dict[str, Any]:
    """What a report says about where it ran: the device, torch's version and threads, the GPU's or CPU's name."""
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    return {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(), "device_name": name}


def write_report(report: dict[str, Any], path: Path | None) -> None:
    """``report`` as JSON at ``path`` (its folder made), where one is given."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


def random_cloud(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A centred object-sized cloud (a noisy ellipsoid surface) with colours."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = (directions * [0.05, 0.08, 0.04] + rng.normal(0, 0.002, (count, 3))).astype(np.float32)
    return points - points.mean(0), rng.uniform(-0.5, 0.5, (count, 3)).astype(np.float32)


def benchmark_frame(num_instances: int, rng: np.random.Generator, size: tuple[int, int] = (480, 640)) -> FrameInput:
    """A 640x480 frame with ``num_instances`` masks of about 5,000 depth points each."""
    height, width = size
    rows, cols = np.mgrid[:height, :width]
    depth = (0.7 + 0.05 * np.sin(cols / 23.0) * np.cos(rows / 17.0)).astype(np.float32)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    side = int(np.sqrt(POINTS_PER_INSTANCE))
    instances = []
    for index in range(num_instances):
        top = (index // 5) * (side + 20) + 10
        left = (index % 5) * (side + 40) + 10
        mask = np.zeros((height, width), bool)
        mask[top: top + side, left: left + side] = True
        instances.append(InstanceInput(mask=mask, class_id=index % 6 + 1, score=0.9, instance_id=index + 1))
    return FrameInput(rgb=rgb, depth=depth, intrinsics=Intrinsics.CAMERA, instances=tuple(instances))


def bench_spherical_maps(resolution: int, device: torch.device, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    points, colors = random_cloud(POINTS_PER_INSTANCE, rng)
    cpu = _timer(torch.device("cpu"), repeats)
    reference = cpu(lambda: spherical_maps_reference(points, colors, resolution))
    vectorised = cpu(lambda: spherical_maps(points, colors, resolution))
    if not all(np.array_equal(a, b) for a, b in zip(spherical_maps(points, colors, resolution),
                                                      spherical_maps_reference(points, colors, resolution))):
        raise AssertionError("vectorised spherical maps differ from the per-point reference")
    clouds = [random_cloud(POINTS_PER_INSTANCE, rng) for _ in range(6)]
    batch_points = torch.as_tensor(np.stack([c[0] for c in clouds]), device=device)
    batch_colors = torch.as_tensor(np.stack([c[1] for c in clouds]), device=device)
    valid = torch.ones(batch_points.shape[:2], dtype=torch.bool, device=device)
    batched = _timer(device, repeats)(lambda: spherical_maps_batch(batch_points, batch_colors, valid, resolution))
    return {"points": POINTS_PER_INSTANCE, "reference_loop_ms": reference * 1e3, "vectorised_ms": vectorised * 1e3,
            "speedup": reference / vectorised, "batch6_torch_ms": batched * 1e3}


def bench_network(estimator: PoseEstimator, repeats: int) -> dict[int, float]:
    """Encoder and both decoders through the estimator's backend, per batch size."""
    config, device = estimator.model.config, estimator.device
    n, points = config.resolution, config.num_points
    timer = _timer(device, repeats)
    latency = {}
    for batch in BATCH_SIZES:
        inputs = (torch.randn(batch, 1, n, n, device=device), torch.randn(batch, 3, n, n, device=device),
                  torch.randn(batch, points, 3, device=device) * 0.05)
        with torch.no_grad():
            latency[batch] = timer(lambda: estimator.network(*inputs, amp=estimator.settings.amp)) * 1e3
    return latency


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def bench_frames(estimator: PoseEstimator, repeats: int, modes: list[RefineMode]) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    timer = _timer(estimator.device, repeats, warmup=1)
    rows = []
    for count in INSTANCE_COUNTS:
        frame = benchmark_frame(count, rng)
        for mode in modes:
            if estimator.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(estimator.device)
            seconds = timer(lambda: estimator.estimate(frame, refine=mode))
            rows.append({"instances": count, "refine": mode.value, "ms_per_frame": seconds * 1e3,
                         "fps": 1.0 / seconds, "peak_memory_mb": _peak_memory_mb(estimator.device)})
    return rows


def format_report(report: dict[str, Any]) -> str:
    maps = report["spherical_maps"]
    lines = [
        f"DualPoseNet benchmark: {report['model']} ({report['parameters'] / 1e6:.1f} M parameters) "
        f"on {report['device_name']}, torch {report['torch']}, backend {report['backend']}, "
        f"precision {report['precision']}",
        "",
        f"Spherical maps, one {maps['points']}-point instance at n={report['resolution']}:",
        f"  per-point loop {maps['reference_loop_ms']:.2f} ms | vectorised {maps['vectorised_ms']:.3f} ms "
        f"| speed-up {maps['speedup']:.1f}x (identical output) "
        f"| 6 instances batched (torch) {maps['batch6_torch_ms']:.2f} ms",
        "",
        "Network forward (both decoders), ms per batch:",
        "  " + " | ".join(f"B={batch}: {ms:.1f}" for batch, ms in report["network_ms"].items()),
        "",
        f"{'instances':>9} {'refine':>8} {'ms/frame':>9} {'fps':>7} {'peak MB':>8}",
    ]
    lines += [f"{row['instances']:>9} {row['refine']:>8} {row['ms_per_frame']:>9.1f} {row['fps']:>7.2f} "
              f"{row['peak_memory_mb']:>8.0f}" for row in report["frames"]]
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="compact", help="model preset: compact or paper (random weights)")
    parser.add_argument("--checkpoint", help="benchmark a checkpoint instead of a preset")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--refine", nargs="*", default=["none", "feature", "encoder"],
                        help="refinement modes to time per frame")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--precision", default="fp32", choices=Precision.values(),
                        help="precision of the torch backend's large linear layers (default fp32)")
    parser.add_argument("--backend", default="torch", choices=Backend.values(),
                        help="inference backend of the un-refined passes (default torch)")
    parser.add_argument("--import", dest="import_preset", nargs="?", const="paper", metavar="PRESET",
                        help="time and peak memory of import-tf on a checkpoint of the official layout at this "
                             "preset's size (default paper: 67.8 M parameters) instead")
    parser.epilog = ("dualposenet benchmark --options [...] compares the inference options (fp32, bf16, int8, "
                     "onnxruntime; see dualposenet benchmark --options --help); dualposenet benchmark --node [...] "
                     "benchmarks the ROS node end to end over DDS (see dualposenet benchmark --node --help)")


def run(args: argparse.Namespace) -> int:
    if args.import_preset:
        from .import_benchmark import run_import_benchmark

        return run_import_benchmark(args.import_preset, args.json)
    device = resolve_device(args.device)
    settings = EstimatorSettings(amp=args.amp)
    choice = dict(precision=args.precision, backend=args.backend)
    if args.checkpoint:
        estimator = PoseEstimator.from_checkpoint(args.checkpoint, device, settings, **choice)
        name = Path(args.checkpoint).stem
    else:
        torch.manual_seed(0)
        estimator = PoseEstimator(DualPoseNet(get_preset(args.preset)), device, settings, **choice)
        name = args.preset
    model = estimator.model
    report = {
        "model": name, "parameters": model.count_parameters(), "resolution": model.config.resolution,
        **machine(device),
        "spherical_maps": bench_spherical_maps(model.config.resolution, device, args.repeats),
        "precision": estimator.precision.value, "backend": estimator.backend_name.value,
        "network_ms": bench_network(estimator, args.repeats),
        "frames": bench_frames(estimator, args.repeats, [RefineMode.parse(m) for m in args.refine]),
    }
    print(format_report(report))
    write_report(report, args.json)
    return 0
