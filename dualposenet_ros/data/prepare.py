"""``dualposenet prepare``: a NOCS-layout dataset -> chunked training instances.

For every image of the split and every instance of its ``meta.txt`` that is present in the mask:

1. back-project the masked depth pixels (mm -> metres) into the NOCS camera frame and take the NOCS
   coordinates ``x = coord - 0.5`` (normalised object frame, y up) at the same pixels;
2. fit ``p ~= s R x + t`` (object to NOCS camera) with RANSAC + Umeyama
   (:func:`~dualposenet_ros.data.umeyama.ransac_umeyama`);
3. for the categories symmetric about y (bottle, bowl, can; one's own as ``dataset.json`` records),
   replace R by its canonical representative ``R_c``
   (:func:`~dualposenet_ros.core.rotations.canonicalize_symmetric_rotation`, R_c = R Ry(a)) and rotate the
   canonical coordinates with it (``x_c = R_c^T R x``), so ``x_c = R_c^T (p - t) / s`` still holds;
4. targets: quaternion of the camera-to-object rotation ``R_c^T`` (w >= 0); translation ``t - c``
   with ``c`` the centroid of the observed points; size ``s * e`` with ``e`` the object's normalised
   box extents scaled to unit norm (so ``|size| = s``); canonical points of the sampled points, by
   default ``R_c^T (p - t) / s`` from the fitted pose as the original computes them (``--canonical-source
   coord``: the measured NOCS coordinates ``x_c`` instead);
5. inputs: spherical distance / colour maps of the centred points (normalised colours) and
   ``num_points`` sampled centred points.

**Segmenter-like masks** (``--mask-effects``, the ``mask_*`` effects of ``dualposenet synth``): the pose
and size are still fitted to the exact mask's pixels (the ground truth), but the inputs (points, colours,
maps, centroid ``c``, hence the translation target ``t - c``) come from the exact mask as a segmentation
network would give it (:func:`~dualposenet_ros.data.synth.segmenter.segmenter_mask`: eroded or dilated,
bleeding into the background and neighbours, coarse, cut, one piece of a split), so the network trains on
the masks it meets at test time. Their canonical targets are ``R_c^T (p - t) / s`` for every point, those
off the object included, which the NOCS map cannot give (``--canonical-source coord`` is refused).

Box extents come from the model files when they exist: CAMERA
``obj_models/<subset>/<synset>/<model>/bbox.txt`` (upper and lower corner rows), Real
``obj_models/real_<subset>/<model>.txt`` (three sizes). **Fallback** when no file is found: the
extents of the instance's own NOCS coordinates (inliers only), ``2 max |x|`` per axis, scaled to unit
norm. For a partly visible object this underestimates the occluded extents, so the manifest counts
how many instances used each source (``metadata.size_source``).

The original's filters apply, in its order, each skip counted by reason and reported, never silently.
Images: one missing any of its colour, coord, depth, mask or meta files (``missing_file``), one that
cannot be read (``unreadable_image``), and one where a kept instance's mask box is wider than 600 or
taller than 440 pixels (``oversized_mask_box``: a rendering error of CAMERA, the object fills the
image; ``--max-mask-box``). Instances: class id 0 (NOCS distractor objects), unknown class ids,
instances absent from the mask, the broken CAMERA mug model ``b9be7cfe653740eb7633a2dd89cec754``
(``skipped_model``; ``--skip-models``), fewer than 64 valid depth pixels (``too_few_points``;
``--min-depth-pixels``; with ``--mask-effects`` the segmenter-like mask's pixels count too, the mask
box is the exact one's), and, the project's own checks, a fit whose inlier ratio is below
``--min-inlier-ratio`` or whose scale is outside ``--scale-range``.

Images are processed in parallel (``--workers`` processes, ``imap`` in order, so the output is the
same for any number of workers); the random choices (RANSAC sets, point sampling) use a generator
seeded by ``(--seed, image index)``, the mask effects one per instance seeded by ``(--seed, image index,
instance id)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DATASET_FOLDERS = {"CAMERA25": "CAMERA", "REAL275": "Real"}
"""--dataset name -> folder of the NOCS layout."""

MIN_DEPTH_PIXELS = 64
"""Instances with fewer valid depth pixels are dropped (the original's filter)."""
MAX_MASK_BOX = (600, 440)
"""An image is skipped when a kept instance's mask box is wider or taller (pixels; the original's filter)."""
SKIPPED_MODELS = ("b9be7cfe653740eb7633a2dd89cec754",)
"""Models the original leaves out: a CAMERA train mug whose model is broken."""
IMAGE_FILES = ("color.png", "coord.png", "depth.png", "mask.png", "meta.txt")


@dataclass(frozen=True)
class PrepareSettings:
    """Everything a worker needs to turn one image into instances."""

    root: str
    dataset: str  # CAMERA25 or REAL275
    split: str  # subset folder: train / val / test
    obj_models: str
    resolution: int = 64
    num_points: int = 1024
    ransac_threshold: float = 0.01
    ransac_iterations: int = 128
    min_inlier_ratio: float = 0.5
    scale_range: tuple[float, float] = (0.01, 2.0)
    canonical_source: str = "pose"
    min_depth_pixels: int = MIN_DEPTH_PIXELS
    max_mask_box: tuple[int, int] = MAX_MASK_BOX
    skip_models: tuple[str, ...] = SKIPPED_MODELS
    seed: int = 0
    intrinsics: tuple[float, float, float, float] = (577.5, 577.5, 319.5, 239.5)  # fx, fy, cx, cy
    categories: tuple[tuple[str, str], ...] = ()  # (name, symmetry) per class id; empty: the NOCS six
    mask_effects: tuple[str, ...] = ()  # segmenter effects on the masks of the inputs; empty: the exact masks

    @property
    def category_set(self) -> Any:
        """The dataset's :class:`~dualposenet_ros.core.categories.CategorySet`."""
        from ..core.categories import NOCS_CATEGORIES, Category, CategorySet

        if not self.categories:
            return NOCS_CATEGORIES
        return CategorySet(tuple(Category(name, symmetry) for name, symmetry in self.categories))


@dataclass
class ImageResult:
    """What one image produced: instance records and skip counts."""

    records: list[dict[str, np.ndarray]] = field(default_factory=list)
    skips: Counter = field(default_factory=Counter)
    image_skip: str | None = None
    size_sources: Counter = field(default_factory=Counter)
    error: str | None = None


# --------------------------------------------------------------------------- model extents


@lru_cache(maxsize=4096)
def _model_extents(obj_models: str, folder: str, subset: str, synset: str | None,
                   model_id: str) -> tuple[float, ...] | None:
    """Normalised box extents of a model (unit norm) from the NOCS ``obj_models`` files, or None."""
    from .nocs_io import read_model_extents

    base = Path(obj_models)
    try:
        if synset is not None:  # CAMERA: bbox.txt with the upper and lower corner
            path = base / subset / synset / model_id / "bbox.txt"
            if not path.is_file():
                return None
            extents = read_model_extents(path)
        else:  # Real: <model>.txt holds the three sizes
            path = base / f"real_{subset}" / f"{model_id}.txt"
            if not path.is_file():
                return None
            values = np.loadtxt(path, dtype=np.float64).reshape(-1)
            extents = values[:3] if values.size == 3 else (values.reshape(2, 3)[0] - values.reshape(2, 3)[1])
    except (OSError, ValueError):
        return None
    extents = np.abs(np.asarray(extents, dtype=np.float64))
    norm = float(np.linalg.norm(extents))
    if not np.isfinite(norm) or norm <= 0:
        return None
    return tuple(float(v) for v in extents / norm)


# --------------------------------------------------------------------------- one image


def _instance_record(points: np.ndarray, colors: np.ndarray, nocs: np.ndarray, class_id: int,
                     settings: PrepareSettings, extents: tuple[float, ...] | None,
                     rng: np.random.Generator, observed: tuple[np.ndarray, np.ndarray] | None = None
                     ) -> tuple[dict[str, np.ndarray] | None, str]:
    """Targets and inputs of one instance; (None, skip reason) when it is rejected.

    The pose is fitted to ``points`` (exact mask) and ``nocs``; the network inputs come from ``observed``
    (points, colours of a segmenter-like mask) when given, else from ``points`` and ``colors``.
    """
    from ..core.rotations import canonicalize_symmetric_rotation, matrix_to_quaternion_np
    from ..model.preprocess import centre, sample_point_indices, spherical_maps
    from .umeyama import ransac_umeyama

    fit = ransac_umeyama(nocs, points, threshold=settings.ransac_threshold,
                         iterations=settings.ransac_iterations, rng=rng)
    if fit.num_inliers < 3 or fit.inlier_ratio < settings.min_inlier_ratio:
        return None, "low_inlier_ratio"
    low, high = settings.scale_range
    if not (np.isfinite(fit.scale) and low <= fit.scale <= high):
        return None, "implausible_scale"

    rotation = fit.rotation  # object -> camera
    canonical = nocs.astype(np.float64)
    if settings.category_set.is_symmetric(class_id):
        canonical_rotation = canonicalize_symmetric_rotation(rotation)
        canonical = canonical @ (canonical_rotation.T @ rotation).T  # x_c = R_c^T R x
        rotation = canonical_rotation
    if observed is not None:  # inputs from another mask: their canonical points follow from the pose
        points, colors = observed[0].astype(np.float64), observed[1]
    if settings.canonical_source == "pose":  # from the fitted pose instead of the measured NOCS map
        canonical = (points.astype(np.float64) - fit.translation) @ rotation / fit.scale

    if extents is None:
        # Box of the visible NOCS coordinates in the model's own (not canonicalised) frame.
        extents_array = 2.0 * np.abs(nocs[fit.inliers]).max(axis=0)
        extents_array = extents_array / max(float(np.linalg.norm(extents_array)), 1e-12)
        size_source = "coord_fallback"
    else:
        extents_array = np.asarray(extents)
        size_source = "model_file"

    centred, centroid = centre(points.astype(np.float64))
    distance, rgb = spherical_maps(centred, colors, settings.resolution)
    sample = sample_point_indices(len(points), settings.num_points, rng)
    record = {
        "distance": distance,
        "rgb": rgb,
        "points": centred[sample].astype(np.float32),
        "canonical": canonical[sample].astype(np.float32),
        "quaternion": matrix_to_quaternion_np(rotation.T).astype(np.float32),
        "translation": (fit.translation - centroid).astype(np.float32),
        "size": (fit.scale * extents_array).astype(np.float32),
        "centroid": centroid.astype(np.float32),
        "class_id": np.int64(class_id),
    }
    return record, size_source


def _box_too_large(mask: np.ndarray, limits: tuple[int, int]) -> bool:
    """Whether the mask's box (exclusive end, as the original measures it) is wider or taller than ``limits``."""
    columns = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    width, height = columns[-1] + 1 - columns[0], rows[-1] + 1 - rows[0]
    return bool(width > limits[0] or height > limits[1])


def process_image(settings: PrepareSettings, image_index: int, prefix: str) -> ImageResult:
    """All instances of one image (``prefix`` = ``<root>/<folder>/<split>/<scene>/<idx>``)."""
    from ..model.preprocess import Intrinsics, backproject, normalize_rgb
    from . import nocs_io
    from .synth.segmenter import segmenter_mask

    result = ImageResult()
    base = Path(prefix)
    stem = base.name
    missing = [suffix for suffix in IMAGE_FILES if not base.with_name(f"{stem}_{suffix}").is_file()]
    if missing:
        result.error = f"{prefix}: no {', '.join(f'_{suffix}' for suffix in missing)}"
        result.image_skip = "missing_file"
        return result
    try:
        meta = nocs_io.read_meta(base.with_name(f"{stem}_meta.txt"))
        depth_mm = nocs_io.read_depth(base.with_name(f"{stem}_depth.png"))
        mask = nocs_io.read_mask(base.with_name(f"{stem}_mask.png"))
        coord = nocs_io.read_coord(base.with_name(f"{stem}_coord.png"))
        color = nocs_io.read_color(base.with_name(f"{stem}_color.png"))
    except (OSError, ValueError) as error:
        result.error = f"{prefix}: {error}"
        result.image_skip = "unreadable_image"
        return result
    intrinsics = Intrinsics(*settings.intrinsics)
    depth = depth_mm.astype(np.float64) / 1000.0  # metres
    rng = np.random.default_rng([settings.seed, image_index])
    folder = DATASET_FOLDERS[settings.dataset]
    for entry in meta:
        if entry.class_id == 0:
            result.skips["distractor_class_0"] += 1
            continue
        if entry.class_id not in settings.category_set:
            result.skips["unknown_class"] += 1
            continue
        instance_mask = mask == entry.instance_id
        if not instance_mask.any():
            result.skips["not_in_mask"] += 1
            continue
        if entry.model_id in settings.skip_models:
            result.skips["skipped_model"] += 1
            continue
        if _box_too_large(instance_mask, settings.max_mask_box):
            result.records, result.skips, result.size_sources = [], Counter(), Counter()
            result.image_skip = "oversized_mask_box"
            return result
        points, (rows, cols) = backproject(depth, intrinsics, instance_mask)
        if len(points) < settings.min_depth_pixels:
            result.skips["too_few_points"] += 1
            continue
        nocs = coord[rows, cols].astype(np.float64) - 0.5
        colors = normalize_rgb(color[rows, cols])
        observed = None
        if settings.mask_effects:
            # Each instance's own stream: its mask does not change with the RANSAC settings or the other instances.
            mask_rng = np.random.default_rng([settings.seed, image_index, entry.instance_id])
            seen_points, (seen_rows, seen_cols) = backproject(
                depth, intrinsics, segmenter_mask(instance_mask, mask_rng, settings.mask_effects))
            if len(seen_points) < settings.min_depth_pixels:
                result.skips["too_few_points"] += 1
                continue
            observed = (seen_points, normalize_rgb(color[seen_rows, seen_cols]))
        extents = _model_extents(settings.obj_models, folder, settings.split, entry.synset, entry.model_id)
        record, reason = _instance_record(points.astype(np.float64), colors, nocs, entry.class_id, settings,
                                          extents, rng, observed)
        if record is None:
            result.skips[reason] += 1
            continue
        record["image_index"] = np.int64(image_index)
        record["instance_id"] = np.int64(entry.instance_id)
        result.records.append(record)
        result.size_sources[reason] += 1
    return result


# --------------------------------------------------------------------------- driver

_WORKER_SETTINGS: PrepareSettings | None = None


def _init_worker(settings: PrepareSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _work(task: tuple[int, str]) -> ImageResult:
    assert _WORKER_SETTINGS is not None
    return process_image(_WORKER_SETTINGS, *task)


def list_images(root: str | os.PathLike[str], dataset: str, split: str) -> list[Any]:
    """Image records of a split in the NOCS layout."""
    from .nocs_io import iter_image_records

    return list(iter_image_records(root, f"{DATASET_FOLDERS[dataset]}/{split}"))


@dataclass
class PrepareSummary:
    images: int
    instances: int
    skips: dict[str, int]
    size_sources: dict[str, int]
    errors: list[str]
    seconds: float
    image_skips: dict[str, int] = field(default_factory=dict)


def dataset_categories(root: str | os.PathLike[str]) -> Any:
    """The categories a synthetic dataset records in its ``dataset.json``; the NOCS six otherwise."""
    from ..core.categories import categories_from_metadata

    path = Path(root) / "dataset.json"
    if not path.is_file():
        return categories_from_metadata(None)
    try:
        return categories_from_metadata(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not readable JSON: {error}") from None


def prepare(root: str | os.PathLike[str], dataset: str, split: str, out: str | os.PathLike[str], *,
            workers: int = 1, chunk_size: int = 4096, max_images: int | None = None,
            resolution: int = 64, num_points: int = 1024, obj_models: str | os.PathLike[str] | None = None,
            ransac_threshold: float = 0.01, ransac_iterations: int = 128, min_inlier_ratio: float = 0.5,
            scale_range: tuple[float, float] = (0.01, 2.0), canonical_source: str = "pose",
            min_depth_pixels: int = MIN_DEPTH_PIXELS, max_mask_box: Sequence[int] = MAX_MASK_BOX,
            skip_models: Sequence[str] = SKIPPED_MODELS, seed: int = 0,
            intrinsics: Sequence[float] | None = None, mask_effects: Sequence[str] = (), overwrite: bool = False,
            progress: bool = True) -> PrepareSummary:
    """Prepare the training instances of one split into an instance store at ``out``."""
    from tqdm import tqdm

    from .instances import InstanceWriter

    if dataset not in DATASET_FOLDERS:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(DATASET_FOLDERS)}")
    if canonical_source not in ("coord", "pose"):
        raise ValueError("canonical_source must be 'coord' or 'pose'")
    from .synth.effects import MASK_EFFECTS, parse_effects

    mask_effects = parse_effects(mask_effects, MASK_EFFECTS)
    if mask_effects and canonical_source == "coord":
        raise ValueError("--canonical-source coord cannot go with --mask-effects: the NOCS map has no coordinates "
                         "for the pixels a segmenter-like mask adds (background, neighbours); use pose")
    root = Path(root)
    if intrinsics is None:
        from .nocs_io import root_intrinsics

        intrinsics, intrinsics_source = root_intrinsics(root, dataset)
    else:
        intrinsics_source = "given"
    if len(intrinsics) != 4:
        raise ValueError("intrinsics must be fx fy cx cy")
    categories = dataset_categories(root)
    settings = PrepareSettings(
        root=str(root), dataset=dataset, split=split,
        categories=tuple((category.name, category.symmetry) for category in categories),
        obj_models=str(obj_models if obj_models is not None else root / "obj_models"),
        resolution=int(resolution), num_points=int(num_points), ransac_threshold=float(ransac_threshold),
        ransac_iterations=int(ransac_iterations), min_inlier_ratio=float(min_inlier_ratio),
        scale_range=(float(scale_range[0]), float(scale_range[1])), canonical_source=canonical_source,
        min_depth_pixels=int(min_depth_pixels), max_mask_box=(int(max_mask_box[0]), int(max_mask_box[1])),
        skip_models=tuple(skip_models), seed=int(seed), mask_effects=mask_effects,
        intrinsics=tuple(float(v) for v in intrinsics))  # type: ignore[arg-type]
    images = list_images(root, dataset, split)
    if max_images is not None:
        images = images[: int(max_images)]
    tasks = [(index, str(record.prefix)) for index, record in enumerate(images)]
    metadata = {"settings": {k: v for k, v in asdict(settings).items() if k != "root"}, "source_root": str(root),
                "intrinsics_source": intrinsics_source, "categories": categories.to_json()}
    skips: Counter = Counter()
    image_skips: Counter = Counter()
    size_sources: Counter = Counter()
    errors: list[str] = []
    start = time.perf_counter()
    with InstanceWriter(out, resolution=resolution, num_points=num_points, chunk_size=chunk_size, dataset=dataset,
                        split=split, metadata=metadata, images=(record.image_path for record in images),
                        overwrite=overwrite) as writer:
        bar = tqdm(total=len(tasks), unit="img", disable=not progress, desc=f"prepare {dataset}/{split}",
                   dynamic_ncols=True)
        results: Iterator[ImageResult]
        pool = None
        if workers > 1 and len(tasks) > 1:
            import multiprocessing

            pool = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork").Pool(
                workers, initializer=_init_worker, initargs=(settings,))
            results = pool.imap(_work, tasks, chunksize=max(1, min(16, len(tasks) // (workers * 8) or 1)))
        else:
            results = (process_image(settings, *task) for task in tasks)
        try:
            for result in results:
                for record in result.records:
                    writer.add(record)
                skips.update(result.skips)
                if result.image_skip:
                    image_skips[result.image_skip] += 1
                size_sources.update(result.size_sources)
                if result.error:
                    errors.append(result.error)
                bar.update(1)
                bar.set_postfix(instances=writer.num_added, skipped=sum(skips.values()),
                                skipped_images=sum(image_skips.values()), refresh=False)
        finally:
            bar.close()
            if pool is not None:
                pool.close()
                pool.join()
        for reason, count in skips.items():
            writer.add_skip(reason, count)
        writer.metadata["size_source"] = dict(size_sources)
        writer.metadata["image_skips"] = dict(sorted(image_skips.items()))
        writer.metadata["errors"] = errors[:100]
    count = writer.count
    return PrepareSummary(images=len(tasks), instances=count, skips=dict(sorted(skips.items())),
                          size_sources=dict(size_sources), errors=errors, seconds=time.perf_counter() - start,
                          image_skips=dict(sorted(image_skips.items())))


def format_summary(summary: PrepareSummary) -> str:
    lines = [f"prepared {summary.instances} instances from {summary.images} images in {summary.seconds:.1f} s"]
    skipped_images = sum(summary.image_skips.values())
    lines.append(f"skipped {skipped_images} image(s)" + (":" if skipped_images else ""))
    for reason, count in summary.image_skips.items():
        lines.append(f"  {reason}: {count}")
    total = sum(summary.skips.values())
    lines.append(f"skipped {total} instance(s)" + (":" if total else ""))
    for reason, count in summary.skips.items():
        lines.append(f"  {reason}: {count}")
    if summary.size_sources:
        lines.append("size extents from: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.size_sources.items())))
    if summary.size_sources.get("coord_fallback"):
        lines.append("  note: no model box file for some instances; their extents come from the visible NOCS "
                     "coordinates (underestimated for partly visible objects)")
    for error in summary.errors[:10]:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    from .synth.effects import MASK_EFFECTS

    parser.add_argument("--data", default="data",
                        help="root of the NOCS layout (holds CAMERA/, Real/, obj_models/; default: data)")
    parser.add_argument("--dataset", required=True, choices=sorted(DATASET_FOLDERS),
                        help="CAMERA25 (CAMERA/ folder) or REAL275 (Real/ folder)")
    parser.add_argument("--split", required=True, help="subset folder: train or val (CAMERA), train or test (Real)")
    parser.add_argument("--out", default=None,
                        help="output instance-store directory (default: DATA/training_instances/DATASET_SPLIT, "
                             "where `train --dataset` looks)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--chunk-size", type=int, default=4096, help="instances per chunk (default 4096)")
    parser.add_argument("--max-images", type=int, default=None, help="only the first N images (debugging)")
    parser.add_argument("--config", default="paper",
                        help="model preset or YAML whose model resolution / num_points are used (default paper)")
    parser.add_argument("--resolution", type=int, default=None, help="spherical map size n (overrides --config)")
    parser.add_argument("--num-points", type=int, default=None, help="sampled points per instance (overrides --config)")
    parser.add_argument("--obj-models", default=None, help="obj_models folder (default DATA/obj_models)")
    parser.add_argument("--ransac-threshold", type=float, default=0.01, help="inlier residual in metres (0.01)")
    parser.add_argument("--ransac-iterations", type=int, default=128, help="RANSAC hypotheses (128)")
    parser.add_argument("--min-inlier-ratio", type=float, default=0.5, help="reject fits below this (0.5)")
    parser.add_argument("--scale-range", type=float, nargs=2, default=(0.01, 2.0), metavar=("MIN", "MAX"),
                        help="plausible object scale (box diagonal) in metres (0.01 2.0)")
    parser.add_argument("--canonical-source", choices=("pose", "coord"), default="pose",
                        help="canonical point targets from the fitted pose, R^T (p - t) / s, as the original "
                             "(default), or the measured NOCS map coordinates")
    parser.add_argument("--min-depth-pixels", type=int, default=MIN_DEPTH_PIXELS,
                        help=f"drop instances with fewer valid depth pixels (the original's {MIN_DEPTH_PIXELS})")
    parser.add_argument("--max-mask-box", type=int, nargs=2, default=MAX_MASK_BOX, metavar=("WIDTH", "HEIGHT"),
                        help="skip an image where a kept instance's mask box is wider or taller (the original's "
                             f"{MAX_MASK_BOX[0]} {MAX_MASK_BOX[1]})")
    parser.add_argument("--skip-models", nargs="*", default=list(SKIPPED_MODELS), metavar="MODEL_ID",
                        help="model ids left out (default: the broken CAMERA mug the original leaves out; "
                             "give none to keep every model)")
    parser.add_argument("--intrinsics", type=float, nargs=4, default=None, metavar=("FX", "FY", "CX", "CY"),
                        help="camera intrinsics (default: DATA/dataset.json of generated data, else the dataset's)")
    parser.add_argument("--mask-effects", nargs="+", default=[], metavar="EFFECT",
                        help="cut the network inputs with segmenter-like masks (the pose still comes from the exact "
                             f"mask): all, or any of {', '.join(MASK_EFFECTS)} (as `synth --effects`; default: the "
                             "exact masks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing store at --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def default_store(data: str | os.PathLike[str], dataset: str, split: str) -> Path:
    """Where ``prepare`` writes by default and ``train --dataset`` reads: DATA/training_instances/DATASET_SPLIT."""
    return Path(data) / "training_instances" / f"{dataset}_{split}"


def _model_sizes(config: str) -> tuple[int, int]:
    from ..core.config import load_model_config

    model_config = load_model_config(config)
    return model_config.resolution, model_config.num_points


def run(args: argparse.Namespace) -> int:
    resolution, num_points = _model_sizes(args.config)
    if args.resolution is not None:
        resolution = args.resolution
    if args.num_points is not None:
        num_points = args.num_points
    out = args.out or default_store(args.data, args.dataset, args.split)
    try:
        summary = prepare(args.data, args.dataset, args.split, out, workers=max(1, args.workers),
                          chunk_size=args.chunk_size, max_images=args.max_images, resolution=resolution,
                          num_points=num_points, obj_models=args.obj_models, ransac_threshold=args.ransac_threshold,
                          ransac_iterations=args.ransac_iterations, min_inlier_ratio=args.min_inlier_ratio,
                          scale_range=tuple(args.scale_range), canonical_source=args.canonical_source,
                          min_depth_pixels=args.min_depth_pixels, max_mask_box=tuple(args.max_mask_box),
                          skip_models=tuple(args.skip_models),
                          seed=args.seed, intrinsics=args.intrinsics, mask_effects=tuple(args.mask_effects),
                          overwrite=args.overwrite,
                          progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"dualposenet prepare: error: {error}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    print(f"-> {out}")
    print(json.dumps({"instances": summary.instances, "skips": summary.skips, "image_skips": summary.image_skips}))
    return 0 if summary.instances > 0 else 1
