"""Write synthetic scenes as a dataset in the NOCS CAMERA layout, so the public-format readers
(:mod:`..nocs_io`) and the original NOCS / DualPoseNet tools read it unchanged.

Per image ``<out>/CAMERA/<split>/<scene:05d>/<idx:04d>_{color,depth,mask,coord}.png`` and
``_meta.txt`` (CAMERA form ``inst_id class_id synset model_id``, visible instances only); per
object ``<out>/obj_models/<split>/<synset>/<model_id>/bbox.txt`` (upper and lower corner of the
tight box in normalised object coordinates); for val images also the ground truth
``gts/val/results_val_<scene>_<idx>.pkl`` and segmentation results in the public Mask R-CNN
format ``segmentation_results/val/results_val_<scene>_<idx>.pkl``. Predicted masks are the
rendered visible masks, each eroded or dilated by one pixel at random (never emptied) to look
like a segmentation network's output, with scores drawn from [0.8, 1.0]; ``exact_masks`` keeps
them exact. ``dataset.json`` at the root records the generator version, seed, counts and the categories
(``"categories"``: the NOCS six, or one's own made from mesh folders, :mod:`.mesh_files`, whose
objects are filed under their category name instead of a ShapeNet synset).

Every scene draws from its own generator seeded by (seed, split, scene index), so scenes can be
written in any order by parallel workers and the output depends only on the seed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from ... import __version__
from ...core.camera import Intrinsics
from ...core.categories import NOCS_CATEGORIES, CategorySet
from .. import nocs_io
from ..nocs_io import CAMERA_INTRINSICS, MetaRecord
from .render import Frame, render_scene
from .effects import depth_noise
from .mesh_files import MeshCategory
from .scene import SceneConfig, SceneSampler
from .segmenter import segmenter_masks
from .shapes import REAL_SHAPE_RANGES, SHAPE_RANGES

GENERATOR_VERSION = "2"  # 2: gt_RTs in the public optical frame (1 wrote them with x and y negated)
"""Bumped whenever the same seed would produce different data."""

SPLITS: tuple[str, ...] = ("train", "val")
_SPLIT_CODES = {"train": 0, "val": 1}
_EVALUATED_SPLITS = frozenset({"val"})  # splits that get gts/ and segmentation_results/


@dataclass(frozen=True)
class SynthSettings:
    """What every scene of one dataset shares."""

    seed: int = 0
    images_per_scene: int = 4
    image_size: tuple[int, int] = (640, 480)
    encoded_depth: bool = False  # 3-channel CAMERA depth encoding instead of 16-bit PNG
    exact_masks: bool = False
    mesh_categories: tuple[MeshCategory, ...] = ()  # one's own categories instead of the NOCS six
    effects: tuple[str, ...] = ()  # realism effects by name (.effects.EFFECTS); none: the clean generator

    @property
    def categories(self) -> CategorySet:
        """The dataset's categories in class-id order (recorded in ``dataset.json``)."""
        if not self.mesh_categories:
            return NOCS_CATEGORIES
        return CategorySet(tuple(category.category for category in self.mesh_categories))

    @property
    def intrinsics(self) -> Intrinsics:
        """CAMERA intrinsics, rescaled when the image size is not 640x480."""
        width, height = self.image_size
        return CAMERA_INTRINSICS.resized(width / 640.0, height / 480.0)


def scene_rng(seed: int, split: str, scene_index: int) -> np.random.Generator:
    """The generator of one scene: independent of every other scene and of the worker running it."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODES[split], scene_index]))


def mask_bbox(mask: np.ndarray) -> np.ndarray:
    """(y1, x1, y2, x2) of a boolean mask with exclusive y2, x2, as Mask R-CNN's extract_bboxes."""
    rows, columns = np.nonzero(mask)
    if len(rows) == 0:
        return np.zeros(4, dtype=np.int32)
    return np.array([rows.min(), columns.min(), rows.max() + 1, columns.max() + 1], dtype=np.int32)


def ground_truth(frame: Frame, image_id: int, image_path: str) -> dict[str, Any]:
    """The ``gts`` pickle content of a frame (poses in the public, optical frame, scale folded in)."""
    instances = frame.instances
    return {
        "image_id": image_id,
        "image_path": image_path,
        "gt_class_ids": np.array([gt.class_id for gt in instances], dtype=np.int32),
        "gt_bboxes": np.array(
            [mask_bbox(frame.instance_mask == gt.instance_id) for gt in instances], dtype=np.int32
        ).reshape(-1, 4),
        "gt_RTs": np.array([gt.public_pose() for gt in instances], dtype=np.float64).reshape(-1, 4, 4),
        "gt_scales": np.array([gt.extents for gt in instances], dtype=np.float64).reshape(-1, 3),
        "gt_handle_visibility": np.array([int(gt.handle_visible) for gt in instances], dtype=np.int32),
    }


def segmentation_results(frame: Frame, gt: dict[str, Any], rng: np.random.Generator, exact: bool,
                         effects: Collection[str] = ()) -> dict[str, Any]:
    """Segmentation results of a frame in the public Mask R-CNN format (gt keys included); the
    masks as a segmentation network would give them (:func:`.segmenter.segmenter_masks`)."""
    height, width = frame.instance_mask.shape
    exact_masks = [frame.instance_mask == instance.instance_id for instance in frame.instances]
    if exact:
        detections = list(enumerate(exact_masks))
    else:
        detections = segmenter_masks(exact_masks, rng, effects)
    masks = [mask for _, mask in detections]
    sources = np.array([index for index, _ in detections], dtype=np.int64)
    return {
        **gt,
        "pred_class_ids": gt["gt_class_ids"][sources].copy() if len(sources) else gt["gt_class_ids"][:0].copy(),
        "pred_scores": rng.uniform(0.8, 1.0, size=len(masks)).astype(np.float32),
        "pred_bboxes": np.array([mask_bbox(mask) for mask in masks], dtype=np.int32).reshape(-1, 4),
        "pred_masks": np.stack(masks, axis=2) if masks else np.zeros((height, width, 0), dtype=bool),
    }


def write_frame(root: Path, split: str, scene: str, index: str, frame: Frame, encoded_depth: bool = False) -> None:
    """The four PNGs and the meta.txt of one image."""
    prefix = root / "CAMERA" / split / scene
    nocs_io.write_color(prefix / f"{index}_color.png", frame.rgb)
    nocs_io.write_depth(prefix / f"{index}_depth.png", frame.depth_mm, encoded=encoded_depth)
    mask = np.where(frame.instance_mask > 0, frame.instance_mask, nocs_io.MASK_BACKGROUND)
    nocs_io.write_mask(prefix / f"{index}_mask.png", mask)
    nocs_io.write_coord(prefix / f"{index}_coord.png", frame.coord, foreground=frame.instance_mask > 0)
    records = [MetaRecord(gt.instance_id, gt.class_id, gt.model_id, gt.synset) for gt in frame.instances]
    nocs_io.write_meta(prefix / f"{index}_meta.txt", records)


def write_scene(root: Path, split: str, scene_index: int, settings: SynthSettings) -> dict[str, Any]:
    """Sample, render and write every image of one scene; returns its counts."""
    rng = scene_rng(settings.seed, split, scene_index)
    distractors = (1, 4) if "distractors" in settings.effects else (0, 0)
    shapes = REAL_SHAPE_RANGES if "real_sizes" in settings.effects else SHAPE_RANGES
    sampler = SceneSampler(SceneConfig(mesh_categories=settings.mesh_categories, distractors=distractors,
                                       shape_ranges=shapes), settings.intrinsics, settings.image_size)
    noise = depth_noise(settings.effects)
    scene = sampler.sample(rng)
    for obj in scene.objects:
        if obj.model.class_id == 0:  # clutter: no model files, never annotated
            continue
        bbox_path = root / "obj_models" / split / obj.model.synset / obj.model.model_id / "bbox.txt"
        nocs_io.write_model_extents(bbox_path, obj.model.extents)
    scene_name = f"{scene_index:05d}"
    per_class: Counter[str] = Counter()
    for image in range(settings.images_per_scene):
        if image:
            scene = scene.with_camera(sampler.sample_view(scene, rng))
        frame = render_scene(scene, settings.intrinsics, settings.image_size, rng=rng, depth_noise=noise,
                             color_variety="color_variety" in settings.effects)
        index = f"{image:04d}"
        write_frame(root, split, scene_name, index, frame, settings.encoded_depth)
        per_class.update(settings.categories.name(gt.class_id) for gt in frame.instances)
        if split in _EVALUATED_SPLITS:
            tag = nocs_io.split_tag("CAMERA", split)
            name = nocs_io.results_file_name(tag, scene_name, index)
            gt = ground_truth(
                frame, scene_index * settings.images_per_scene + image, f"CAMERA/{split}/{scene_name}/{index}"
            )
            nocs_io.save_results(root / "gts" / tag / name, gt, kind="gt")
            segmentation = segmentation_results(frame, gt, rng, settings.exact_masks, settings.effects)
            nocs_io.save_results(root / "segmentation_results" / tag / name, segmentation, kind="segmentation")
    return {"split": split, "images": settings.images_per_scene, "per_class": dict(per_class)}


def _write_scene_task(task: tuple[str, str, int, SynthSettings]) -> dict[str, Any]:
    root, split, scene_index, settings = task
    return write_scene(Path(root), split, scene_index, settings)


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def generate_dataset(
    root: str | os.PathLike[str],
    scenes: dict[str, int],
    settings: SynthSettings = SynthSettings(),
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``scenes`` = {split: count} scenes under ``root`` and ``dataset.json``; returns its content."""
    root = Path(root)
    unknown = set(scenes) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}: expected {SPLITS}")
    tasks = [(os.fspath(root), split, index, settings) for split in SPLITS for index in range(scenes.get(split, 0))]
    for category in settings.mesh_categories:
        category.meshes()  # a missing folder or a broken file fails here, before any worker starts
    root.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(tasks), unit="scene", desc="synth", disable=not progress)
    results = []
    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
            for result in pool.imap_unordered(_write_scene_task, tasks):
                results.append(result)
                bar.update()
    else:
        for task in tasks:
            results.append(_write_scene_task(task))
            bar.update()
    bar.close()
    summary = _summary(settings, scenes, results)
    (root / "dataset.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _summary(settings: SynthSettings, scenes: dict[str, int], results: list[dict[str, Any]]) -> dict[str, Any]:
    """dataset.json content: how the data was made and what it holds."""
    splits = {}
    for split in SPLITS:
        mine = [result for result in results if result["split"] == split]
        per_class = Counter()
        for result in mine:
            per_class.update(result["per_class"])
        splits[split] = {
            "scenes": scenes.get(split, 0),
            "images": sum(result["images"] for result in mine),
            "instances": sum(per_class.values()),
            "per_class": {name: per_class.get(name, 0) for name in settings.categories.names},
        }
    return {
        "generator": "dualposenet_ros.data.synth",
        "generator_version": GENERATOR_VERSION,
        "package_version": __version__,
        "settings": {**asdict(settings), "intrinsics": list(settings.intrinsics)},
        "categories": settings.categories.to_json(),
        "splits": splits,
    }
