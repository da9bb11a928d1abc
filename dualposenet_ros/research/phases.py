"""``dualposenet test``: the three test phases of the original code base, one code path.

For every image of the chosen dataset it reads the segmentation result (public Mask R-CNN
format), the colour and depth images, runs the shared :class:`~dualposenet_ros.inference.pipeline.PoseEstimator`
with the phase's refinement mode, and writes a pose-result pickle in the public format
(``pred_RTs`` in the optical camera frame like the public files, scale folded in; ``pred_scales``
normalised), ready for ``dualposenet evaluate``. Images are read by a thread pool while the network runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.camera import Intrinsics
from ..core.categories import CATEGORIES
from ..core.estimates import FrameInput, InstanceInput, ObjectEstimate, RefineMode
from ..core.frames import public_pose_matrix
from ..data import nocs_io
from ..inference.pipeline import EstimatorSettings, PoseEstimator

LOGGER = logging.getLogger(__name__)

PHASES: dict[str, RefineMode] = {
    "test": RefineMode.NONE,
    "test_refine_encoder": RefineMode.ENCODER,
    "test_refine_feature": RefineMode.FEATURE,
}
DATASETS: dict[str, str] = {"CAMERA25": "CAMERA/val", "REAL275": "Real/test"}
"""Test split of each dataset (the names of the original code base)."""


@dataclass
class LoadedImage:
    record: nocs_io.ImageRecord
    segmentation: dict[str, Any]
    frame: FrameInput | None
    skipped_instances: Counter


def segmentation_to_instances(segmentation: dict[str, Any]) -> tuple[tuple[InstanceInput, ...], Counter]:
    """Instances of a segmentation result; unknown classes are skipped and counted."""
    masks = np.asarray(segmentation["pred_masks"], dtype=bool)
    instances, skipped = [], Counter()
    for index, (class_id, score) in enumerate(zip(np.asarray(segmentation["pred_class_ids"]).reshape(-1),
                                                  np.asarray(segmentation["pred_scores"]).reshape(-1))):
        if not 1 <= int(class_id) <= len(CATEGORIES):
            skipped[f"unknown class id {int(class_id)}"] += 1
            continue
        instances.append(InstanceInput(mask=masks[:, :, index], class_id=int(class_id), score=float(score),
                                       instance_id=index + 1))
    return tuple(instances), skipped


def load_image(record: nocs_io.ImageRecord, segmentation_dir: Path, intrinsics: Intrinsics) -> LoadedImage:
    """Read one image's segmentation, colour and depth (depth in metres)."""
    segmentation = nocs_io.load_results(segmentation_dir / record.results_name, kind="segmentation")
    instances, skipped = segmentation_to_instances(segmentation)
    rgb = nocs_io.read_color(record.color)
    depth = nocs_io.read_depth(record.depth).astype(np.float32) / 1000.0
    return LoadedImage(record, segmentation, FrameInput(rgb, depth, intrinsics, instances), skipped)


def pose_results(segmentation: dict[str, Any], instances: tuple[InstanceInput, ...],
                 estimates: list[ObjectEstimate]) -> dict[str, Any]:
    """The public pose-result dict: the segmentation's keys plus ``pred_RTs`` and ``pred_scales``."""
    kept = [instance.instance_id - 1 for instance in instances]
    results = {key: value for key, value in segmentation.items() if key != "pred_masks"}
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


def iter_loaded(records: list[nocs_io.ImageRecord], segmentation_dir: Path, intrinsics: Intrinsics,
                workers: int) -> Iterator[LoadedImage | Exception]:
    """Images in order, read ahead by ``workers`` threads (PNG decoding releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        window = max(2, 2 * workers)
        futures = [pool.submit(load_image, r, segmentation_dir, intrinsics) for r in records[:window]]
        for position in range(len(records)):
            future = futures[position]
            if position + window < len(records):
                futures.append(pool.submit(load_image, records[position + window], segmentation_dir, intrinsics))
            try:
                yield future.result()
            except (OSError, ValueError, KeyError) as error:  # a missing or malformed file of one image
                yield error
            futures[position] = None  # free the image


def run_phase(estimator: PoseEstimator, data_root: Path, dataset: str, phase: str, out_dir: Path,
              segmentation_dir: Path | None = None, workers: int = 2, max_images: int | None = None,
              visualize: int = 0) -> dict[str, Any]:
    """Run one test phase over a dataset; returns counts (images, instances, skips)."""
    split = DATASETS[dataset]
    intrinsics, _ = nocs_io.root_intrinsics(data_root, dataset)
    records = list(nocs_io.iter_image_records(data_root, split))[:max_images]
    tag = nocs_io.split_tag(*nocs_io.parse_split(split))
    segmentation_dir = segmentation_dir or data_root / "segmentation_results" / tag
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = PHASES[phase]
    skipped: Counter = Counter()
    counts = Counter()
    for item in tqdm(iter_loaded(records, segmentation_dir, intrinsics, workers), total=len(records),
                     desc=f"{phase} on {dataset}", unit="img"):
        if isinstance(item, Exception):
            skipped[f"image skipped: {type(item).__name__}"] += 1
            LOGGER.warning("skipping an image: %s", item)
            continue
        estimates = estimator.estimate(item.frame, refine=mode)
        skipped.update(item.skipped_instances)
        skipped["too few depth points"] += sum(e.status != 0 for e in estimates)
        results = pose_results(item.segmentation, item.frame.instances, estimates)
        results["image_path"] = item.record.image_path
        nocs_io.save_results(out_dir / item.record.results_name, results, kind="pose")
        counts["images"] += 1
        counts["instances"] += len(estimates)
        if counts["images"] <= visualize:
            _save_picture(item.frame, estimates, out_dir / "pictures" / f"{item.record.results_name[:-4]}.png")
    return {"images": counts["images"], "instances": counts["instances"],
            "skipped": {reason: count for reason, count in skipped.items() if count}}


def _save_picture(frame: FrameInput, estimates: list[ObjectEstimate], path: Path) -> None:
    from ..inference.visualize import draw_estimates

    path.parent.mkdir(parents=True, exist_ok=True)
    nocs_io.write_color(path, draw_estimates(frame.rgb, estimates, frame.intrinsics))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phase", choices=sorted(PHASES), default="test")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="REAL275")
    parser.add_argument("--data", type=Path, required=True, help="root of the NOCS layout (CAMERA/, Real/, ...)")
    parser.add_argument("--segmentation", type=Path,
                        help="folder of segmentation results_*.pkl (default: DATA/segmentation_results/<split tag>)")
    parser.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the shipped model)")
    parser.add_argument("--out", type=Path, help="output folder (default: results/<dataset>/<phase>)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"),
                        help="precision of the un-refined passes' large linear layers "
                             "(torch backend; README, Benchmarks)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"),
                        help="runtime of the un-refined passes; refinement always runs on torch")
    parser.add_argument("--workers", type=int, default=2, help="image-reading threads")
    parser.add_argument("--max-images", type=int)
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
          f"-> {out_dir}")
    for reason, count in summary["skipped"].items():
        print(f"  not estimated: {count} x {reason}")
    if args.evaluate:
        from ..evaluation import evaluate_results, load_results
        from ..evaluation.report import format_table

        results, sources = load_results(out_dir, progress=False)
        print(format_table(evaluate_results(results, sources)))
    return 0 if summary["images"] else 1
