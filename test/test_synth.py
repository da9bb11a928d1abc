"""The synthetic generator: files in the NOCS layout, determinism, NOCS maps that agree with the
depth and the ground-truth poses, mug handle visibility, watertight rendering, moving scenes."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from dualposenet_ros.core.camera import Intrinsics
from dualposenet_ros.data import nocs_io
from dualposenet_ros.data.synth import (
    CameraView,
    PlacedObject,
    Scene,
    SceneSampler,
    SynthSettings,
    command,
    generate_dataset,
    make_object_model,
    render_scene,
)
from dualposenet_ros.data.synth.mesh import rotation_y
from dualposenet_ros.data.synth.textures import sample_material
from dualposenet_ros.core.frames import split_pose_matrix

SMALL = ["--image-size", "320x240", "--workers", "1", "--quiet"]


def _generate(root: Path, *options: str) -> Path:
    parser = argparse.ArgumentParser()
    command.configure_parser(parser)
    assert command.run(parser.parse_args(["--out", str(root), *SMALL, *options])) == 0
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 train + 2 val scenes, 2 images each, 320x240."""
    return _generate(
        tmp_path_factory.mktemp("synth"),
        "--train-scenes",
        "2",
        "--val-scenes",
        "2",
        "--images-per-scene",
        "2",
        "--seed",
        "3",
    )


@pytest.fixture(scope="module")
def scene() -> Scene:
    return SceneSampler().sample(np.random.default_rng(11))


def _backproject(depth_mm: np.ndarray, selection: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Optical-frame points (m) of the selected pixels: x = (u - cx) z / fx, y = (v - cy) z / fy."""
    rows, columns = np.nonzero(selection)
    z = depth_mm[selection] / 1000.0
    return np.stack(
        [(columns - intrinsics.cx) * z / intrinsics.fx, (rows - intrinsics.cy) * z / intrinsics.fy, z], axis=1
    )


# ----------------------------------------------------------------------------- files


def test_layout_and_dataset_json(dataset: Path) -> None:
    summary = json.loads((dataset / "dataset.json").read_text())
    assert summary["generator_version"] and summary["settings"]["seed"] == 3
    assert summary["settings"]["intrinsics"] == [288.75, 288.75, 159.5, 119.5]
    for split in ("train", "val"):
        records = list(nocs_io.iter_image_records(dataset, f"CAMERA/{split}"))
        assert len(records) == summary["splits"][split]["images"] == 4
        instances = sum(len(nocs_io.read_meta(r.meta)) for r in records)
        assert instances == summary["splits"][split]["instances"] == sum(summary["splits"][split]["per_class"].values())
        for record in records:
            assert all(path.is_file() for path in (record.color, record.depth, record.mask, record.coord, record.meta))
            for meta in nocs_io.read_meta(record.meta):
                assert (dataset / "obj_models" / split / meta.synset / meta.model_id / "bbox.txt").is_file()
    assert sorted(p.name for p in (dataset / "gts" / "val").iterdir()) == [
        f"results_val_{scene}_{index}.pkl" for scene in ("00000", "00001") for index in ("0000", "0001")
    ]
    assert not (dataset / "gts" / "train").exists()


def test_result_pickles(dataset: Path) -> None:
    for record in nocs_io.iter_image_records(dataset, "CAMERA/val"):
        gt = nocs_io.load_results(dataset / "gts" / "val" / record.results_name, kind="gt")
        seg = nocs_io.load_results(dataset / "segmentation_results" / "val" / record.results_name, kind="segmentation")
        n = len(gt["gt_class_ids"])
        assert n > 0
        assert gt["gt_RTs"].shape == (n, 4, 4) and gt["gt_scales"].shape == (n, 3) and gt["gt_bboxes"].shape == (n, 4)
        np.testing.assert_allclose(np.linalg.norm(gt["gt_scales"], axis=1), 1.0)
        np.testing.assert_allclose(gt["gt_RTs"][:, 3], np.tile([0, 0, 0, 1], (n, 1)))
        assert set(gt["gt_handle_visibility"].tolist()) <= {0, 1}
        assert seg["pred_masks"].shape == (240, 320, n) and seg["pred_masks"].dtype == bool
        assert seg["pred_scores"].shape == (n,) and np.all((seg["pred_scores"] >= 0.8) & (seg["pred_scores"] <= 1))
        np.testing.assert_array_equal(seg["pred_class_ids"], gt["gt_class_ids"])
        mask = nocs_io.read_mask(record.mask)
        for k, meta in enumerate(nocs_io.read_meta(record.meta)):
            exact = mask == meta.instance_id
            predicted = seg["pred_masks"][:, :, k]
            # perturbed by at most one pixel: between the eroded and the dilated exact mask
            assert not (predicted & ~cv2.dilate(exact.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)).any()
            assert not (cv2.erode(exact.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~predicted).any()
            assert predicted.any()
            y1, x1, y2, x2 = seg["pred_bboxes"][k]
            rows, columns = np.nonzero(predicted)
            assert (y1, x1, y2, x2) == (rows.min(), columns.min(), rows.max() + 1, columns.max() + 1)


def test_coord_map_agrees_with_depth_and_pose(dataset: Path) -> None:
    """R^T (p - t) / s of back-projected depth equals coord - 0.5 up to the depth noise."""
    intrinsics = nocs_io.CAMERA_INTRINSICS.resized(0.5, 0.5)
    for record in nocs_io.iter_image_records(dataset, "CAMERA/val"):
        depth, mask, coord = (
            nocs_io.read_depth(record.depth),
            nocs_io.read_mask(record.mask),
            nocs_io.read_coord(record.coord),
        )
        gt = nocs_io.load_results(dataset / "gts" / "val" / record.results_name, kind="gt")
        for k, meta in enumerate(nocs_io.read_meta(record.meta)):
            selection = (mask == meta.instance_id) & (depth > 0)
            if selection.sum() < 30:
                continue
            # Read as the public files are written: optical frame, no axis change.
            rotation, translation, scale = split_pose_matrix(gt["gt_RTs"][k])
            points = _backproject(depth, selection, intrinsics)
            error = np.linalg.norm((points - translation) @ rotation / scale - (coord[selection] - 0.5), axis=1)
            assert np.median(error) < 0.02, (record.results_name, meta)


def test_coord_map_exact_without_noise(scene: Scene) -> None:
    """Noise-free: the only error left is the mm rounding of the depth."""
    frame = render_scene(scene, sensor_noise=False)
    assert len(frame.instances) >= 2
    for gt in frame.instances:
        selection = (frame.instance_mask == gt.instance_id) & (frame.depth_mm > 0)
        points = _backproject(frame.depth_mm, selection, frame.intrinsics)
        error = np.linalg.norm(
            (points - gt.translation) @ gt.rotation / gt.scale - (frame.coord[selection] - 0.5), axis=1
        )
        assert error.max() < 0.0015 / gt.scale, gt.class_id  # 0.5 mm rounding, at most ~2.6x along the ray


def test_determinism(dataset: Path, tmp_path: Path) -> None:
    """Same seed -> identical bytes, whatever the number of scenes; another seed -> other bytes."""
    again = _generate(
        tmp_path / "again", "--train-scenes", "1", "--val-scenes", "0", "--images-per-scene", "1", "--seed", "3"
    )
    other = _generate(
        tmp_path / "other", "--train-scenes", "1", "--val-scenes", "0", "--images-per-scene", "1", "--seed", "4"
    )
    name = Path("CAMERA/train/00000/0000_color.png")
    assert (again / name).read_bytes() == (dataset / name).read_bytes()
    assert (again / name.with_name("0000_depth.png")).read_bytes() == (
        dataset / name.with_name("0000_depth.png")
    ).read_bytes()
    assert (other / name).read_bytes() != (dataset / name).read_bytes()


def test_parallel_workers_write_the_same_files(tmp_path: Path) -> None:
    settings = SynthSettings(seed=9, images_per_scene=1, image_size=(64, 48))
    generate_dataset(tmp_path / "one", {"val": 2}, settings, workers=1, progress=False)
    generate_dataset(tmp_path / "two", {"val": 2}, settings, workers=2, progress=False)
    for scene in ("00000", "00001"):
        name = f"CAMERA/val/{scene}/0000_color.png"
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# ----------------------------------------------------------------------------- in-memory API


def test_frame_contents(scene: Scene) -> None:
    frame = render_scene(scene)
    assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth_mm.shape == (480, 640) and frame.depth_mm.dtype == np.uint16
    assert set(np.unique(frame.instance_mask)) - {0} == {gt.instance_id for gt in frame.instances}
    assert not frame.coord[frame.instance_mask == 0].any()
    for gt in frame.instances:
        np.testing.assert_allclose(gt.rotation @ gt.rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(gt.rotation) == pytest.approx(1.0)
        assert gt.translation[2] > 0.2
        np.testing.assert_allclose(np.linalg.norm(gt.size), gt.scale)
        assert gt.pixel_count == (frame.instance_mask == gt.instance_id).sum()
    # rendering is a pure function of the scene
    np.testing.assert_array_equal(render_scene(scene).rgb, frame.rgb)


def test_no_see_through_holes(scene: Scene) -> None:
    """No background pixel is enclosed on four sides by one object."""
    mask = render_scene(scene, sensor_noise=False).instance_mask
    centre = mask[1:-1, 1:-1]
    up, down, left, right = mask[:-2, 1:-1], mask[2:, 1:-1], mask[1:-1, :-2], mask[1:-1, 2:]
    enclosed = (centre == 0) & (up > 0) & (up == down) & (up == left) & (up == right)
    assert enclosed.sum() == 0


def test_sizes_in_real_ranges() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert 0.15 <= make_object_model("bottle", rng).size[1] <= 0.30 + 1e-9
        assert 0.12 <= max(make_object_model("bowl", rng).size[[0, 2]]) <= 0.20 + 1e-9
        assert 0.25 <= make_object_model("laptop", rng).size[0] <= 0.40 + 1e-9
        assert 0.08 <= make_object_model("mug", rng).size[1] <= 0.13 + 1e-9


def _single_mug_scene(yaw: float) -> Scene:
    """One mug at the origin seen horizontally from +x (azimuth 0, elevation 0), handle along
    object +x turned by ``yaw`` about y: yaw = pi puts the handle right behind the body."""
    rng = np.random.default_rng(5)
    base = SceneSampler().sample(rng)
    model = make_object_model("mug", rng)
    centre = np.array([0.0, model.size[1] / 2.0, 0.0])
    mug = PlacedObject(1, model, sample_material(model.class_id, rng), centre, yaw)
    return replace(base, objects=(mug,), camera=CameraView(centre, 0.5, azimuth=0.0, elevation=0.0))


@pytest.mark.parametrize(("yaw", "visible"), [(np.pi, False), (0.0, True), (np.pi / 2, True)])
def test_mug_handle_visibility(yaw: float, visible: bool) -> None:
    (gt,) = render_scene(
        _single_mug_scene(yaw), size=(320, 240), intrinsics=nocs_io.CAMERA_INTRINSICS.resized(0.5, 0.5)
    ).instances
    assert gt.handle_visible is visible


def test_advanced_spins_objects_and_orbits_camera(scene: Scene) -> None:
    later = scene.advanced(0.5)
    assert later.frame_index == scene.frame_index + 1 and later.time == pytest.approx(0.5)
    obj, moved = scene.objects[0], later.objects[0]
    np.testing.assert_allclose(moved.rotation, obj.rotation @ rotation_y(obj.spin * 0.5), atol=1e-12)
    assert later.camera.azimuth == pytest.approx(scene.camera.azimuth + 0.5 * scene.camera.orbit_rate)
    still_camera = replace(later, camera=scene.camera)
    rotation, translation = scene.object_pose(obj)
    new_rotation, new_translation = still_camera.object_pose(moved)
    np.testing.assert_allclose(new_rotation, rotation @ rotation_y(obj.spin * 0.5), atol=1e-12)
    np.testing.assert_allclose(new_translation, translation)
