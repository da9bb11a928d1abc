"""The original's preparation filters, each at its boundary, each skip counted by its reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from dualposenet_ros.cli import main
from dualposenet_ros.data import nocs_io
from dualposenet_ros.data.instances import InstanceStore
from dualposenet_ros.data.prepare import MIN_DEPTH_PIXELS, SKIPPED_MODELS, prepare
from dualposenet_ros.model.preprocess import Intrinsics
from test_prepare import _render_boxes

BROKEN_MUG = SKIPPED_MODELS[0]


def _box(instance_id: int, class_id: int, x: float, model: str, seed: int) -> dict:
    extents = np.array([0.5, 0.6, 0.62])
    return {"id": instance_id, "class": class_id, "R": Rotation.random(random_state=seed).as_matrix(),
            "t": np.array([x, 0.0, 0.8]), "s": 0.2, "extents": extents / np.linalg.norm(extents), "model": model,
            "synset": f"0{class_id}000000"}


def _keep_valid_depth(depth: np.ndarray, ids: np.ndarray, instance_id: int, count: int) -> None:
    """Leave exactly ``count`` pixels of the instance with depth (the rest: no measurement)."""
    rows, cols = np.nonzero(ids == instance_id)
    assert len(rows) > count
    depth[rows[count:], cols[count:]] = 0


def _write(root: Path, index: int, objects: list[dict], depth: np.ndarray, ids: np.ndarray, coord: np.ndarray,
           color: np.ndarray, skip_files: tuple[str, ...] = ()) -> None:
    prefix = root / "CAMERA" / "val" / "00000" / f"{index:04d}"
    nocs_io.write_color(f"{prefix}_color.png", color)
    nocs_io.write_depth(f"{prefix}_depth.png", np.round(depth * 1000).astype(np.uint16))
    nocs_io.write_mask(f"{prefix}_mask.png", ids)
    nocs_io.write_coord(f"{prefix}_coord.png", coord, foreground=ids != 255)
    nocs_io.write_meta(f"{prefix}_meta.txt",
                       [nocs_io.MetaRecord(o["id"], o["class"], o["model"], synset=o["synset"]) for o in objects])
    for obj in objects:
        nocs_io.write_model_extents(root / "obj_models" / "val" / obj["synset"] / obj["model"] / "bbox.txt",
                                    obj["extents"])
    for suffix in skip_files:
        Path(f"{prefix}_{suffix}").unlink()


def _strip(ids: np.ndarray, depth: np.ndarray, coord: np.ndarray, instance_id: int, rows: slice,
           cols: slice) -> None:
    """A thin instance whose mask box spans ``rows`` x ``cols`` (an L: one row and one column)."""
    ids[rows.start, cols] = instance_id
    ids[rows, cols.start] = instance_id
    mask = ids == instance_id
    depth[mask] = 0.6
    coord[mask] = np.random.default_rng(instance_id).random((int(mask.sum()), 3))


def build_filter_dataset(root: Path) -> None:
    """Five images: 0 boundary depth counts and the broken model; 1 a mask box 601 px wide; 2 one 441 px tall;
    3 one of exactly 600 x 440 px (kept); 4 without its coord map."""
    intrinsics = Intrinsics.CAMERA
    objects = [_box(1, 2, -0.3, "bowl", 1), _box(2, 6, -0.1, BROKEN_MUG, 2), _box(3, 1, 0.1, "few", 3),
               _box(4, 4, 0.3, "enough", 4)]
    depth, ids, coord, color = _render_boxes(objects, intrinsics)
    _keep_valid_depth(depth, ids, 3, MIN_DEPTH_PIXELS - 1)  # dropped: 63 < 64
    _keep_valid_depth(depth, ids, 4, MIN_DEPTH_PIXELS)  # kept: exactly 64
    _write(root, 0, objects, depth, ids, coord, color)
    for index, (rows, cols) in enumerate([(slice(5, 45), slice(10, 611)), (slice(5, 446), slice(10, 50)),
                                          (slice(5, 445), slice(10, 610))], start=1):
        objects = [_box(1, 2, -0.2, "bowl", 1)]
        depth, ids, coord, color = _render_boxes(objects, intrinsics)
        _strip(ids, depth, coord, 2, rows, cols)
        objects.append({**_box(2, 1, 0.0, "strip", 9), "model": f"strip{index}"})
        _write(root, index, objects, depth, ids, coord, color)
    objects = [_box(1, 2, 0.0, "bowl", 1)]
    _write(root, 4, objects, *_render_boxes(objects, intrinsics), skip_files=("coord.png",))


def test_filters_of_the_original(tmp_path):
    root = tmp_path / "nocs"
    build_filter_dataset(root)
    summary = prepare(root, "CAMERA25", "val", tmp_path / "store", workers=1, resolution=16, num_points=64,
                      progress=False)
    assert summary.images == 5
    assert summary.image_skips == {"oversized_mask_box": 2, "missing_file": 1}
    assert summary.skips["skipped_model"] == 1 and summary.skips["too_few_points"] == 1
    assert any("0004: no _coord.png" in error for error in summary.errors)
    store = InstanceStore(tmp_path / "store")
    kept = sorted((int(store[i]["image_index"]), int(store[i]["instance_id"])) for i in range(len(store)))
    # Image 0: the bowl and the 64-pixel can; image 3 (box of exactly 600 x 440) keeps its bowl; the strip,
    # random NOCS coordinates, fails the fit and is counted as such.
    assert kept == [(0, 1), (0, 4), (3, 1)]
    assert summary.skips.get("low_inlier_ratio", 0) + summary.skips.get("implausible_scale", 0) == 1
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["metadata"]["image_skips"] == summary.image_skips and manifest["skips"] == summary.skips


def test_filters_are_settings(tmp_path):
    root = tmp_path / "nocs"
    build_filter_dataset(root)
    summary = prepare(root, "CAMERA25", "val", tmp_path / "store", workers=1, resolution=16, num_points=64,
                      skip_models=(), min_depth_pixels=MIN_DEPTH_PIXELS - 1, max_mask_box=(601, 441),
                      progress=False)
    assert summary.image_skips == {"missing_file": 1}
    assert "skipped_model" not in summary.skips and "too_few_points" not in summary.skips
    assert summary.instances == 4 + 3  # image 0 whole; the bowls of images 1-3


def test_cli_prints_each_skip_and_writes_where_train_looks(tmp_path, capsys, monkeypatch):
    root = tmp_path / "data"
    build_filter_dataset(root)
    monkeypatch.chdir(tmp_path)  # --data defaults to data, as the original's folder
    assert main(["prepare", "--dataset", "CAMERA25", "--split", "val", "--workers", "1",
                 "--resolution", "16", "--num-points", "64", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for line in ("skipped 3 image(s):", "  oversized_mask_box: 2", "  missing_file: 1", "  skipped_model: 1",
                 "  too_few_points: 1"):
        assert line in out
    assert InstanceStore(root / "training_instances" / "CAMERA25_val").manifest["count"] == 3
