"""``dualposenet test``: the three test phases of the original code base, one code path.

Like the original, a phase takes every ``results_*.pkl`` segmentation file of a folder (sorted by
name; the public Mask R-CNN format), reads the image its ``image_path`` names (``_color.png`` and
``_depth.png`` appended), runs the shared
:class:`~dualposenet_ros.inference.pipeline.PoseEstimator` with the phase's refinement mode, and
writes the pose result under the input's own file name: every key of the input kept,
``pred_masks`` dropped, ``pred_RTs`` (optical camera frame like the public files, scale folded in)
and ``pred_scales`` (normalised) added, ready for ``dualposenet evaluate``.

The folder is ``DATA/segmentation_results/<REAL275|CAMERA25>`` (the original's layout, where its
released files go), else ``DATA/segmentation_results/<split tag>`` (the project's generated data),
or ``--segmentation``. ``image_path`` is looked up relative to the working folder (the released
files' ``data/real/test/scene_1/0000``), then to ``DATA`` and its parent, with the dataset folder
spelled ``Real``/``real`` or ``CAMERA``/``camera``, then from the dataset folder on
(:func:`~dualposenet_ros.data.nocs_io.image_prefix_candidates`). A file that cannot be read or
whose image is missing is skipped with a warning that names it, and counted. Images are read by a
thread pool while the network runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.camera import Intrinsics
from ..core.categories import NOCS_CATEGORIES, CategorySet
from ..core.estimates import EstimateStatus, FrameInput, InstanceInput, ObjectEstimate, RefineMode
from ..core.frames import public_pose_matrix
from ..data import nocs_io
from ..inference.backends import Backend
from ..inference.pipeline import EstimatorSettings, PoseEstimator
from ..model.precision import Precision

LOGGER = logging.getLogger(__name__)

PHASES: dict[str, RefineMode] = {
    "test": RefineMode.NONE,
    "test_refine_encoder": RefineMode.ENCODER,
    "test_refine_feature": RefineMode.FEATURE,
}
DATASETS: dict[str, str] = {"CAMERA25": "CAMERA/val", "REAL275": "Real/test"}
"""Test split of each dataset (the names of the original code base)."""
SEGMENTATION_PATTERN = "results_*.pkl"
NAMED_WARNINGS_PER_REASON = 5
"""Skipped files named one by one in the log per reason; the rest are counted in the summary."""


class SkippedImage(Exception):
    """One segmentation file that yields no image to estimate: ``reason`` is the counted category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class SkipReport:
    """Counted warnings about skipped files: the first few of each reason are logged by name, all are counted."""

    counts: Counter = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, name: str, detail: str) -> None:
        self.counts[reason] += 1
        self.first.setdefault(reason, name)
        if self.counts[reason] <= NAMED_WARNINGS_PER_REASON:
            LOGGER.warning("skipping %s: %s", name, detail)
        elif self.counts[reason] == NAMED_WARNINGS_PER_REASON + 1:
            LOGGER.warning("more files skipped for %r; the summary counts them", reason)

    def lines(self) -> list[str]:
        return [f"{count} x {reason} (first: {self.first[reason]})" for reason, count in self.counts.items()]


@dataclass
class LoadedImage:
    name: str
    segmentation: dict[str, Any]
    frame: FrameInput
    skipped_instances: Counter


def segmentation_folder(data_root: Path, dataset: str) -> Path:
    """``DATA/segmentation_results/<dataset>`` when it exists (the original's layout), else the folder of the
    project's generated data, ``DATA/segmentation_results/<split tag>``."""
    released = data_root / "segmentation_results" / dataset
    if released.is_dir():
        return released
    return data_root / "segmentation_results" / nocs_io.split_tag(*nocs_io.parse_split(DATASETS[dataset]))


def segmentation_files(folder: Path) -> list[Path]:
    """Every ``results_*.pkl`` of ``folder``, sorted by name as the original sorts them."""
    return sorted(folder.glob(SEGMENTATION_PATTERN), key=lambda path: path.name)


def segmentation_to_instances(segmentation: dict[str, Any], categories: CategorySet = NOCS_CATEGORIES
                              ) -> tuple[tuple[InstanceInput, ...], Counter]:
    """Instances of a segmentation result; classes outside ``categories`` (the model's) are skipped and counted."""
    masks = np.asarray(segmentation["pred_masks"], dtype=bool)
    instances, skipped = [], Counter()
    for index, (class_id, score) in enumerate(zip(np.asarray(segmentation["pred_class_ids"]).reshape(-1),
                                                  np.asarray(segmentation["pred_scores"]).reshape(-1))):
        if int(class_id) not in categories:
            skipped[f"unknown class id {int(class_id)}"] += 1
            continue
        instances.append(InstanceInput(mask=masks[:, :, index], class_id=int(class_id), score=float(score),
                                       instance_id=index + 1))
    return tuple(instances), skipped


def read_segmentation(path: Path) -> dict[str, Any]:
    """A segmentation file with its ``image_path``; any unreadable or incomplete file raises SkippedImage."""
    try:
        segmentation = nocs_io.load_results(path, kind="segmentation")
    except Exception as error:  # noqa: BLE001 - a pickle can fail in many ways; each is one malformed file
        raise SkippedImage("malformed segmentation file", f"{type(error).__name__}: {error}") from None
    if not isinstance(segmentation.get("image_path"), str):
        raise SkippedImage("malformed segmentation file", "no 'image_path' string naming its image")
    return segmentation


def load_image(path: Path, data_root: Path, intrinsics: Intrinsics,
               categories: CategorySet = NOCS_CATEGORIES) -> LoadedImage:
    """Read one segmentation file and the colour and depth (metres) of the image it names."""
    segmentation = read_segmentation(path)
    bases = (Path(), data_root, data_root.parent)
    prefix = nocs_io.find_image_prefix(segmentation["image_path"], bases)
    if prefix is None:
        tried = nocs_io.image_prefix_candidates(segmentation["image_path"], bases)
        raise SkippedImage("image not found", f"no {tried[0]}_color.png for image_path "
                           f"{segmentation['image_path']!r} (nor in {len(tried) - 1} other folders and spellings)")
    try:
        rgb = nocs_io.read_color(prefix.with_name(f"{prefix.name}_color.png"))
        depth = nocs_io.read_depth(prefix.with_name(f"{prefix.name}_depth.png")).astype(np.float32) / 1000.0
    except (OSError, ValueError) as error:
        raise SkippedImage("unreadable image", str(error)) from None
    masks = np.asarray(segmentation["pred_masks"])
    if masks.size and masks.shape[:2] != depth.shape:
        raise SkippedImage("malformed segmentation file", f"pred_masks are {masks.shape[0]}x{masks.shape[1]}, "
                           f"the image {depth.shape[0]}x{depth.shape[1]}")
    instances, skipped = segmentation_to_instances(segmentation, categories)
    return LoadedImage(path.name, segmentation, FrameInput(rgb, depth, intrinsics, instances), skipped)


def pose_results(segmentation: dict[str, Any], instances: tuple[InstanceInput, ...],
                 estimates: list[ObjectEstimate]) -> dict[str, Any]:
    """The public pose-result dict: the segmentation's keys (``pred_masks`` dropped) plus ``pred_RTs`` and
    ``pred_scales``; the ``pred_*`` rows of instances that were not estimated (unknown class) are dropped."""
    results = {key: value for key, value in segmentation.items() if key != "pred_masks"}
    count = len(np.asarray(segmentation["pred_class_ids"]).reshape(-1))
    kept = [instance.instance_id - 1 for instance in instances]
    if kept != list(range(count)):
        results["pred_class_ids"] = np.asarray(segmentation["pred_class_ids"]).reshape(-1)[kept].astype(np.int64)
        results["pred_scores"] = np.asarray(segmentation["pred_scores"]).reshape(-1)[kept].astype(np.float32)
        results["pred_bboxes"] = np.asarray(segmentation["pred_bboxes"]).reshape(-1, 4)[kept]
    matrices, scales = [], []
    for estimate in estimates:
        matrices.append(public_pose_matrix(estimate.rotation, estimate.translation, estimate.scale))
        scales.append(estimate.size / estimate.scale)
    results["pred_RTs"] = np.asarray(matrices, dtype=np.float64).reshape(-1, 4, 4)
    results["pred_scales"] = np.asarray(scales, dtype=np.float64).reshape(-1, 3)
    return results


def iter_loaded(paths: list[Path], data_root: Path, intrinsics: Intrinsics, workers: int,
                categories: CategorySet = NOCS_CATEGORIES) -> Iterator[tuple[Path, LoadedImage | SkippedImage]]:
    """Files in order with their image or why they were skipped, read ahead by ``workers`` threads (PNG
    decoding releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        window = max(2, 2 * workers)
        futures = [pool.submit(load_image, path, data_root, intrinsics, categories) for path in paths[:window]]
        for position, path in enumerate(paths):
            future = futures[position]
            if position + window < len(paths):
                futures.append(pool.submit(load_image, paths[position + window], data_root, intrinsics,
                                           categories))
            try:
                yield path, future.result()
            except SkippedImage as skipped:
                yield path, skipped
            futures[position] = None  # free the image


def run_phase(estimator: PoseEstimator, data_root: Path, dataset: str, phase: str, out_dir: Path,
              segmentation_dir: Path | None = None, workers: int = 2, max_images: int | None = None,
              visualize: int = 0) -> dict[str, Any]:
    """Run one test phase over a folder of segmentation files; returns counts (images, instances, skips) and,
    when no image was processed, ``why``."""
    data_root = Path(data_root)
    intrinsics, _ = nocs_io.root_intrinsics(data_root, dataset)
    folder = Path(segmentation_dir) if segmentation_dir is not None else segmentation_folder(data_root, dataset)
    paths = segmentation_files(folder)[:max_images]
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = PHASES[phase]
    skipped: Counter = Counter()
    report = SkipReport()
    counts = Counter()
    for path, item in tqdm(iter_loaded(paths, data_root, intrinsics, workers, estimator.categories), total=len(paths),
                           desc=f"{phase} on {dataset}", unit="img"):
        if isinstance(item, SkippedImage):
            report.add(item.reason, path.name, str(item))
            continue
        estimates = estimator.estimate(item.frame, refine=mode)
        skipped.update(item.skipped_instances)
        skipped["too few depth points"] += sum(e.status == EstimateStatus.TOO_FEW_POINTS for e in estimates)
        results = pose_results(item.segmentation, item.frame.instances, estimates)
        nocs_io.save_results(out_dir / item.name, results, kind="pose")
        counts["images"] += 1
        counts["instances"] += len(estimates)
        if counts["images"] <= visualize:
            _save_picture(item.frame, estimates, out_dir / "pictures" / f"{Path(item.name).stem}.png")
    summary: dict[str, Any] = {
        "images": counts["images"], "instances": counts["instances"], "segmentation": str(folder),
        "skipped": {reason: count for reason, count in skipped.items() if count},
        "skipped_files": dict(report.counts), "warnings": report.lines()}
    if not counts["images"]:
        if not paths:
            released = data_root / "segmentation_results" / dataset
            summary["why"] = (f"no {SEGMENTATION_PATTERN} files in {folder}" if folder.is_dir() else
                              f"no segmentation folder {folder}" + (
                                  "" if segmentation_dir is not None or folder == released else
                                  f" nor {released} (the original's layout)") + "; or give --segmentation")
        else:
            summary["why"] = f"all {len(paths)} segmentation files were skipped: " + "; ".join(report.lines())
    return summary


def _save_picture(frame: FrameInput, estimates: list[ObjectEstimate], path: Path) -> None:
    from ..inference.visualize import draw_estimates

    path.parent.mkdir(parents=True, exist_ok=True)
    nocs_io.write_color(path, draw_estimates(frame.rgb, estimates, frame.intrinsics))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phase", choices=sorted(PHASES), default="test")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="REAL275")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="root of the NOCS layout (CAMERA/, Real/, segmentation_results/; default: data)")
    parser.add_argument("--segmentation", type=Path,
                        help="folder of segmentation results_*.pkl (default: DATA/segmentation_results/DATASET, "
                             "else DATA/segmentation_results/<split tag> of generated data)")
    parser.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the shipped model)")
    parser.add_argument("--out", type=Path, help="output folder (default: results/<dataset>/<phase>)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=Precision.values(),
                        help="precision of the un-refined passes' large linear layers "
                             "(torch backend; docs/benchmarks.md)")
    parser.add_argument("--backend", default="torch", choices=Backend.values(),
                        help="runtime of the un-refined passes; refinement always runs on torch")
    parser.add_argument("--workers", type=int, default=2, help="image-reading threads")
    parser.add_argument("--max-images", type=int, help="only the first N segmentation files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--visualize", type=int, default=4, metavar="N",
                        help="write the first N images with projected boxes to OUT/pictures")
    parser.add_argument("--evaluate", action="store_true", help="evaluate the written results at the end")
    refine = parser.add_argument_group("refinement settings of the phase's mode "
                                       "(defaults: dualposenet_ros/inference/refine.py)")
    refine.add_argument("--refine-lr", type=float)
    refine.add_argument("--refine-iterations", type=int)
    refine.add_argument("--refine-threshold", type=float)
    refine.add_argument("--refine-time-budget", type=float, default=0.0, metavar="SECONDS",
                        help="per image: refinement stops after this long and keeps the best pose so far "
                             "(default 0 = no limit, so results do not depend on the machine)")


def estimator_settings(args: argparse.Namespace) -> EstimatorSettings:
    """Settings of the phase: its refinement mode, with any refinement setting overridden."""
    budget = getattr(args, "refine_time_budget", 0.0) or 0.0
    if budget < 0:
        raise ValueError(f"--refine-time-budget must be >= 0 seconds, got {budget}")
    settings = EstimatorSettings(seed=args.seed, refine=PHASES[args.phase], refine_time_budget=budget)
    field = {RefineMode.FEATURE: "refine_feature", RefineMode.ENCODER: "refine_encoder"}.get(settings.refine)
    overrides = {"learning_rate": args.refine_lr, "iterations": args.refine_iterations,
                 "threshold": args.refine_threshold}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if field is None or not overrides:
        return settings
    return settings.replace(**{field: dataclasses.replace(getattr(settings, field), **overrides)})


def run(args: argparse.Namespace) -> int:
    out_dir = args.out or Path("results") / args.dataset / args.phase
    estimator = PoseEstimator.from_checkpoint(args.checkpoint, args.device, estimator_settings(args),
                                              precision=args.precision, backend=args.backend)
    summary = run_phase(estimator, args.data, args.dataset, args.phase, out_dir, args.segmentation, args.workers,
                        args.max_images, args.visualize)
    print(f"{args.phase} on {args.dataset}: {summary['images']} images, {summary['instances']} instances "
          f"from {summary['segmentation']} -> {out_dir}")
    for line in summary["warnings"]:
        print(f"  skipped files: {line}")
    for reason, count in summary["skipped"].items():
        print(f"  not estimated: {count} x {reason}")
    if not summary["images"]:
        print(f"dualposenet test: no image processed: {summary['why']}", file=sys.stderr)
        return 1
    if args.evaluate:
        from ..evaluation import evaluate_results, load_results
        from ..evaluation.report import format_table

        results, sources = load_results(out_dir, progress=False)
        print(format_table(evaluate_results(results, sources, estimator.categories)))
    return 0
