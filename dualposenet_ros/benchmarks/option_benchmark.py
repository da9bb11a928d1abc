"""``dualposenet benchmark --options``: speed and accuracy cost of each inference option.

The command line routes ``benchmark --options`` here (``cli.ROUTES``).

Options are the precision of the torch backend (``fp32``, ``bf16``, ``int8``, see
``precision.py``) and the ``onnxruntime`` backend (``backends.py``). For each option, on the same
model and the same frames:

* per-frame latency of the whole pipeline (three centring passes, no refinement) for 1/3/6/10
  instances; the options are timed in turn within every repeat, so a machine whose load changes
  during the run slows them alike (the report gives medians and minima);
* the pose difference against ``fp32`` on those frames (largest rotation angle, translation and
  relative size difference over all instances);
* with ``--accuracy N``: the ``test`` phase on N fresh synthetic validation images (a seed the
  shipped model's training never used) and its NOCS mAP, plus the pose difference against
  ``fp32`` over all of their instances. This needs trained weights (the shipped model by default).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.estimates import ObjectEstimate
from ..core.frames import public_pose
from ..inference.backends import Backend
from ..model.precision import Precision
from .benchmark import INSTANCE_COUNTS, benchmark_frame, machine, seconds_of, write_report

__all__ = ["OPTIONS", "Option", "configure_parser", "parse_option", "pose_difference", "run"]

OPTIONS = (*Precision.values(), Backend.ONNXRUNTIME.value)
ACCURACY_SEED = 20261130
MAP_KEYS = ("3D25", "3D50", "3D75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")
Pose = tuple[np.ndarray, np.ndarray, np.ndarray]
"""(rotation (3, 3), translation (3,) metres, size (3,) metres) of one instance."""


@dataclass(frozen=True)
class Option:
    name: str
    backend: Backend
    precision: Precision


def parse_option(name: str) -> Option:
    """``fp32``/``bf16``/``int8`` (torch backend) or ``onnxruntime`` (float32)."""
    text = name.strip().lower()
    if text in (Backend.ONNXRUNTIME.value, "ort"):
        return Option(Backend.ONNXRUNTIME.value, Backend.ONNXRUNTIME, Precision.FP32)
    try:
        return Option(text, Backend.TORCH, Precision.parse(text))
    except ValueError:
        raise ValueError(f"unknown option {name!r}: expected one of {', '.join(OPTIONS)}") from None


def _rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of a^T b, accurate near zero (from the chord, not the trace)."""
    chord = np.linalg.norm(a - b) / (2 * np.sqrt(2))
    return float(np.degrees(2 * np.arcsin(min(1.0, chord))))


def _differences(poses: list[Pose], reference: list[Pose]) -> dict[str, float]:
    """Largest rotation (degrees), translation (mm) and relative size difference over paired poses."""
    rotation = [_rotation_angle_deg(a[0], b[0]) for a, b in zip(poses, reference)]
    translation = [float(np.linalg.norm(a[1] - b[1])) * 1e3 for a, b in zip(poses, reference)]
    size = [float(np.max(np.abs(a[2] - b[2]) / np.maximum(np.abs(b[2]), 1e-9))) for a, b in zip(poses, reference)]
    return {"rotation_deg_max": max(rotation, default=0.0), "rotation_deg_median": float(np.median(rotation or [0])),
            "translation_mm_max": max(translation, default=0.0), "size_rel_max": max(size, default=0.0)}


def pose_difference(estimates: list[ObjectEstimate], reference: list[ObjectEstimate]) -> dict[str, float]:
    """Largest rotation (degrees), translation (mm) and relative size difference over paired estimates."""
    if len(estimates) != len(reference):
        raise ValueError("pose_difference needs the same instances in both lists")
    return _differences([(e.rotation, e.translation, e.size) for e in estimates],
                        [(e.rotation, e.translation, e.size) for e in reference])


def _result_poses(result: dict[str, Any]) -> list[Pose]:
    """The predicted poses of a result pickle (pred_RTs with the scale folded in, pred_scales)."""
    poses = []
    for matrix, scales in zip(result["pred_RTs"], result["pred_scales"]):
        rotation, translation, scale = public_pose(matrix)
        poses.append((rotation, translation, scales * scale))
    return poses


def _matrix_difference(results: list[dict[str, Any]], reference: list[dict[str, Any]]) -> dict[str, float]:
    """The same differences from result pickles, and how many instances they cover."""
    poses, reference_poses = [], []
    for got, ref in zip(results, reference):
        got_poses, ref_poses = _result_poses(got), _result_poses(ref)
        count = min(len(got_poses), len(ref_poses))
        poses += got_poses[:count]
        reference_poses += ref_poses[:count]
    return {**_differences(poses, reference_poses), "instances": len(poses)}


def _timings(estimators: dict[str, Any], repeats: int, counts: tuple[int, ...]) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(1)
    rows, differences = [], {}
    for count in counts:
        frame = benchmark_frame(count, rng)
        outputs = {name: estimator.estimate(frame, refine="none") for name, estimator in estimators.items()}  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in estimators}
        for _ in range(repeats):
            for name, estimator in estimators.items():
                samples[name].append(seconds_of(lambda: estimator.estimate(frame, refine="none"), estimator.device))
        for name in estimators:
            rows.append({"option": name, "instances": count, "ms_median": statistics.median(samples[name]) * 1e3,
                         "ms_min": min(samples[name]) * 1e3})
            difference = pose_difference(outputs[name], outputs[next(iter(estimators))])
            previous = differences.setdefault(name, difference)
            for key, value in difference.items():
                previous[key] = max(previous[key], value)
    return rows, differences


def _accuracy(estimators: dict[str, Any], images: int, scratch: Path) -> dict[str, dict[str, Any]]:
    from ..data.synth.writer import SynthSettings, generate_dataset
    from ..evaluation import evaluate_results, load_results
    from ..research.phases import run_phase

    data = scratch / "synth"
    scenes = max(1, (images + 1) // 2)
    generate_dataset(data, {"train": 0, "val": scenes}, SynthSettings(seed=ACCURACY_SEED, images_per_scene=2),
                     progress=False)
    results: dict[str, dict[str, Any]] = {}
    loaded: dict[str, list[dict[str, Any]]] = {}
    for name, estimator in estimators.items():
        out = scratch / f"results_{name}"
        run_phase(estimator, data, "CAMERA25", "test", out, max_images=images)
        loaded[name], sources = load_results(out, progress=False)
        evaluation = evaluate_results(loaded[name], sources).map
        results[name] = {"map": {key: float(evaluation[key]) for key in MAP_KEYS}}
    reference = next(iter(loaded))
    for name in estimators:
        results[name]["difference"] = _matrix_difference(loaded[name], loaded[reference])
    return results


def format_options(report: dict[str, Any]) -> str:
    lines = [f"Inference options: {report['model']} on {report['device_name']}, torch {report['torch']}, "
             f"onnxruntime {report.get('onnxruntime', '-')}", "",
             "ms per frame (3 passes, no refinement), median / min over the repeats:"]
    names = list(report["differences"])
    header = f"{'instances':>9} " + " ".join(f"{name:>17}" for name in names)
    lines += [header]
    for count in sorted({row["instances"] for row in report["frames"]}):
        cells = {row["option"]: row for row in report["frames"] if row["instances"] == count}
        lines.append(f"{count:>9} " + " ".join(f"{cells[n]['ms_median']:>8.1f} / {cells[n]['ms_min']:>6.1f}"
                                               for n in names))
    caveat = " (random weights: a random network's poses say nothing about accuracy)" if report.get("random") else ""
    lines += ["", f"Pose difference against {names[0]} on those frames (largest over all instances){caveat}:"]
    for name, diff in report["differences"].items():
        lines.append(f"  {name:>12}: rotation {diff['rotation_deg_max']:.3f} deg, translation "
                     f"{diff['translation_mm_max']:.3f} mm, size {diff['size_rel_max'] * 100:.3f} %")
    if report.get("accuracy"):
        lines += ["", f"Synthetic validation, {report['accuracy_images']} images: mAP (%) and pose difference against "
                  f"{names[0]}:", f"{'option':>12} " + " ".join(f"{key:>8}" for key in MAP_KEYS)
                  + "   rot max / median (deg)  trans max (mm)"]
        for name, result in report["accuracy"].items():
            diff = result["difference"]
            lines.append(f"{name:>12} " + " ".join(f"{result['map'].get(key, float('nan')):>8.1f}" for key in MAP_KEYS)
                         + f"   {diff['rotation_deg_max']:>7.2f} / {diff['rotation_deg_median']:<7.3f}"
                         f"       {diff['translation_mm_max']:>8.2f}")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--options", nargs="*", metavar="OPTION", required=True,
                        help=f"inference options to compare ({', '.join(OPTIONS)}; default all); fp32 is the reference")
    parser.add_argument("--preset", default="compact", help="model preset: compact or paper (random weights)")
    parser.add_argument("--checkpoint", help="benchmark a checkpoint instead of a preset")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--instances", type=int, nargs="+", metavar="N",
                        help="instance counts of the timed frames (default 1 3 6 10)")
    parser.add_argument("--accuracy", type=int, default=0, metavar="IMAGES",
                        help="also the mAP of each option on this many fresh synthetic validation images (needs "
                             "trained weights: the shipped model unless --checkpoint)")
    parser.add_argument("--residual-points", type=int, default=0, metavar="N",
                        help="points per object of the consistency residual, for every option (0 = all)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")


def run(args: argparse.Namespace) -> int:
    """``dualposenet benchmark --options``: the arguments of :func:`configure_parser`."""
    from ..core.config import get_preset
    from ..inference.pipeline import EstimatorSettings, PoseEstimator, resolve_device
    from ..model.checkpoint import load_checkpoint
    from ..model.network import DualPoseNet

    options = [parse_option(name) for name in args.options or OPTIONS]
    if not options or options[0].name != "fp32":
        options = [parse_option("fp32")] + [option for option in options if option.name != "fp32"]
    device = resolve_device(args.device)
    if args.checkpoint or args.accuracy:
        from ..models import default_checkpoint

        source = args.checkpoint or default_checkpoint()
        model, _ = load_checkpoint(source)
        name = Path(str(source)).stem
    else:
        torch.manual_seed(0)
        model, name = DualPoseNet(get_preset(args.preset)), f"{args.preset} (random weights)"
    estimators = {}
    for option in options:
        if option.precision is Precision.INT8 and device.type != "cpu":
            print(f"skipping {option.name}: int8 dynamic quantisation runs on the CPU only")
            continue
        settings = EstimatorSettings(residual_points=args.residual_points)
        estimators[option.name] = PoseEstimator(model, device, settings, precision=option.precision,
                                                backend=option.backend)
    counts = tuple(args.instances or INSTANCE_COUNTS)
    frames, differences = _timings(estimators, max(1, args.repeats), counts)
    report: dict[str, Any] = {
        "model": name, "parameters": model.count_parameters(), **machine(device),
        "frames": frames, "differences": differences, "accuracy_images": args.accuracy,
        "random": not (args.checkpoint or args.accuracy), "residual_points": args.residual_points,
    }
    try:
        import onnxruntime

        report["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if args.accuracy:
        with tempfile.TemporaryDirectory(prefix="dualposenet-options-") as scratch:
            report["accuracy"] = _accuracy(estimators, args.accuracy, Path(scratch))
    print(format_options(report))
    write_report(report, args.json)
    return 0
