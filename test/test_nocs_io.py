"""Readers and writers of the public NOCS formats: round trips on hand-made data, the exact byte
layouts of the public files, and every reader on a small dataset written by ``synth``."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from dualposenet_ros.core.camera import Intrinsics
from dualposenet_ros.data import nocs_io
from dualposenet_ros.data.synth import command


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 train + 1 val scene, 2 images each, 3-channel encoded depth, written by the CLI."""
    root = tmp_path_factory.mktemp("synth_io")
    parser = argparse.ArgumentParser()
    command.configure_parser(parser)
    args = parser.parse_args(
        ["--out", str(root), "--train-scenes", "1", "--val-scenes", "1", "--images-per-scene", "2"]
        + ["--workers", "1", "--image-size", "320x240", "--encoded-depth", "--quiet", "--seed", "5"]
    )
    assert command.run(args) == 0
    return root


# ----------------------------------------------------------------------------- depth


def test_depth_16bit_round_trip(tmp_path: Path) -> None:
    depth = np.random.default_rng(0).integers(0, 65536, size=(7, 9), dtype=np.uint16)
    nocs_io.write_depth(tmp_path / "d.png", depth)
    assert cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    np.testing.assert_array_equal(nocs_io.read_depth(tmp_path / "d.png"), depth)


def test_depth_encoded_round_trip_and_no_depth_code(tmp_path: Path) -> None:
    depth = np.array([[0, 1, 258], [32000, 32002, 65535]], dtype=np.uint16)
    nocs_io.write_depth(tmp_path / "d.png", depth, encoded=True)
    raw = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert raw.shape == (2, 3, 3) and raw.dtype == np.uint8
    assert raw[0, 2, 1] == 1 and raw[0, 2, 2] == 2  # 258 = [1] * 256 + [2] of OpenCV's array
    assert int(raw[0, 0, 1]) * 256 + int(raw[0, 0, 2]) == nocs_io.NO_DEPTH_CODE  # no depth is stored as 32001
    np.testing.assert_array_equal(nocs_io.read_depth(tmp_path / "d.png"), depth)
    with pytest.raises(ValueError, match="32001"):
        nocs_io.write_depth(tmp_path / "bad.png", np.full((2, 2), 32001, np.uint16), encoded=True)


def test_depth_decode_hand_made_bgr() -> None:
    image = np.zeros((1, 3, 3), np.uint8)
    image[0, 0] = (9, 125, 1)  # indices 0, 1, 2: 125 * 256 + 1 = 32001 -> no depth
    image[0, 1] = (0, 3, 232)  # 3 * 256 + 232 = 1000 mm
    image[0, 2] = (255, 0, 7)  # OpenCV index 0 does not count
    np.testing.assert_array_equal(nocs_io.decode_depth(image), [[0, 1000, 7]])


# ----------------------------------------------------------------------------- mask, coord, colour


def test_mask_reads_red_channel_and_background(tmp_path: Path) -> None:
    image = np.full((2, 2, 3), 255, np.uint8)
    image[0, 0] = (7, 9, 3)  # BGR: instance 3 in red
    image[1, 1] = (0, 0, 1)
    cv2.imwrite(str(tmp_path / "m.png"), image)
    np.testing.assert_array_equal(nocs_io.read_mask(tmp_path / "m.png"), [[3, 255], [255, 1]])
    ids = np.array([[255, 2], [4, 255]])
    nocs_io.write_mask(tmp_path / "w.png", ids)
    np.testing.assert_array_equal(nocs_io.read_mask(tmp_path / "w.png"), ids)


def test_coord_z_flip_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    coord = rng.uniform(0.0, 1.0, size=(5, 6, 3))
    foreground = rng.uniform(size=(5, 6)) > 0.3
    nocs_io.write_coord(tmp_path / "c.png", coord, foreground)
    raw = cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_COLOR)  # BGR: index 0 holds the flipped z
    np.testing.assert_array_equal(raw[foreground][:, 0], np.rint((1.0 - coord[foreground][:, 2]) * 255))
    np.testing.assert_array_equal(raw[foreground][:, 2], np.rint(coord[foreground][:, 0] * 255))
    assert not raw[~foreground].any()
    read = nocs_io.read_coord(tmp_path / "c.png")
    assert read.dtype == np.float32
    assert np.abs(read[foreground] - coord[foreground]).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_allclose(read[~foreground], np.tile([0.0, 0.0, 1.0], (int((~foreground).sum()), 1)))


def test_color_is_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (200, 10, 20)
    nocs_io.write_color(tmp_path / "c.png", rgb)
    assert tuple(cv2.imread(str(tmp_path / "c.png"))[0, 0]) == (20, 10, 200)
    np.testing.assert_array_equal(nocs_io.read_color(tmp_path / "c.png"), rgb)
    with pytest.raises(FileNotFoundError):
        nocs_io.read_color(tmp_path / "missing.png")


# ----------------------------------------------------------------------------- meta, bbox, intrinsics


def test_meta_both_forms() -> None:
    real = nocs_io.parse_meta("1 1 bottle_red_stanford_norm\n2 6 mug_daniel_norm\n\n")
    assert real == [nocs_io.MetaRecord(1, 1, "bottle_red_stanford_norm"), nocs_io.MetaRecord(2, 6, "mug_daniel_norm")]
    camera = nocs_io.parse_meta("3 0 02954340 abc\n4 5 03642806 1a46d6683450f2dd46c0b76a60ee4644\n")
    assert camera[1] == nocs_io.MetaRecord(4, 5, "1a46d6683450f2dd46c0b76a60ee4644", synset="03642806")
    assert camera[0].class_id == 0
    assert nocs_io.parse_meta(nocs_io.format_meta(camera + real)) == camera + real
    with pytest.raises(ValueError, match="line 1"):
        nocs_io.parse_meta("1 2\n")


def test_model_extents_file(tmp_path: Path) -> None:
    nocs_io.write_model_extents(tmp_path / "bbox.txt", [0.3, 0.9, 0.3])
    bounds = np.loadtxt(tmp_path / "bbox.txt")
    np.testing.assert_allclose(bounds, [[0.15, 0.45, 0.15], [-0.15, -0.45, -0.15]])
    np.testing.assert_allclose(nocs_io.read_model_extents(tmp_path / "bbox.txt"), [0.3, 0.9, 0.3])


def test_intrinsics() -> None:
    assert nocs_io.dataset_intrinsics("CAMERA25") == nocs_io.dataset_intrinsics("val") == (577.5, 577.5, 319.5, 239.5)
    assert nocs_io.dataset_intrinsics("REAL275").fy == pytest.approx(590.16775)
    k = nocs_io.REAL_INTRINSICS.matrix
    assert Intrinsics.coerce(k) == nocs_io.REAL_INTRINSICS == Intrinsics.coerce(tuple(nocs_io.REAL_INTRINSICS))
    half = nocs_io.CAMERA_INTRINSICS.resized(0.5, 0.5)
    assert half == (288.75, 288.75, 159.5, 119.5)
    with pytest.raises(ValueError):
        nocs_io.dataset_intrinsics("kitti")


# ----------------------------------------------------------------------------- result pickles


def _pose_results(n: int = 2, m: int = 3) -> dict:
    return {
        "gt_class_ids": np.arange(1, n + 1),
        "gt_RTs": np.tile(np.eye(4), (n, 1, 1)),
        "gt_scales": np.ones((n, 3)),
        "gt_handle_visibility": np.ones(n),
        "pred_class_ids": np.ones(m, int),
        "pred_scores": np.ones(m),
        "pred_bboxes": np.zeros((m, 4), int),
        "pred_RTs": np.tile(np.eye(4), (m, 1, 1)),
        "pred_scales": np.ones((m, 3)),
        "pred_masks": np.zeros((4, 5, m), bool),
    }


def test_results_round_trip_and_validation(tmp_path: Path) -> None:
    results = _pose_results()
    nocs_io.save_results(tmp_path / "r.pkl", results)
    loaded = nocs_io.load_results(tmp_path / "r.pkl")
    np.testing.assert_array_equal(loaded["pred_RTs"], results["pred_RTs"])
    for key in ("pred_RTs", "gt_scales", "pred_scores"):
        broken = {k: v for k, v in results.items() if k != key}
        with pytest.raises(nocs_io.ResultsFormatError, match=key):
            nocs_io.save_results(tmp_path / "x.pkl", broken)
    with pytest.raises(nocs_io.ResultsFormatError, match="pred_masks"):
        nocs_io.load_results(
            _dump(tmp_path, {k: v for k, v in results.items() if k != "pred_masks"}), kind="segmentation"
        )
    with pytest.raises(nocs_io.ResultsFormatError, match="pred_scales"):
        nocs_io.validate_results({**results, "pred_scales": np.ones((2, 3))})
    with pytest.raises(nocs_io.ResultsFormatError, match="gt_RTs"):
        nocs_io.validate_results({**results, "gt_RTs": np.ones((2, 3, 4))})


def test_results_aliases_of_public_files(tmp_path: Path) -> None:
    """gts/real_test files say 'handle_visibility'; some Mask R-CNN files use class_ids/rois/scores/masks."""
    gt = {"gt_class_ids": np.array([1, 6]), "gt_RTs": np.tile(np.eye(4), (2, 1, 1)), "gt_scales": np.ones((2, 3))}
    loaded = nocs_io.load_results(_dump(tmp_path, {**gt, "handle_visibility": np.array([1, 0])}), kind="gt")
    np.testing.assert_array_equal(loaded["gt_handle_visibility"], [1, 0])
    np.testing.assert_array_equal(nocs_io.load_results(_dump(tmp_path, gt), kind="gt")["gt_handle_visibility"], [1, 1])
    mrcnn = {
        **gt,
        "class_ids": np.array([3]),
        "scores": np.array([0.9]),
        "rois": np.zeros((1, 4)),
        "masks": np.zeros((2, 2, 1)),
    }
    assert nocs_io.load_results(_dump(tmp_path, mrcnn), kind="segmentation")["pred_class_ids"].tolist() == [3]


def _dump(folder: Path, content: dict) -> Path:
    path = folder / "raw.pkl"
    path.write_bytes(pickle.dumps(content))
    return path


# ----------------------------------------------------------------------------- layout


def test_results_names_and_real_layout(tmp_path: Path) -> None:
    for scene in ("scene_10", "scene_2", "scene_1"):
        (tmp_path / "Real" / "test" / scene).mkdir(parents=True)
        (tmp_path / "Real" / "test" / scene / "0000_color.png").touch()
    (tmp_path / "Real" / "test" / "scene_1" / "0001_color.png").touch()
    (tmp_path / "Real" / "test" / "scene_1" / "0001_depth.png").touch()
    records = list(nocs_io.iter_image_records(tmp_path, "real/test"))
    assert [(r.scene, r.index) for r in records] == [
        ("scene_1", "0000"),
        ("scene_1", "0001"),
        ("scene_2", "0000"),
        ("scene_10", "0000"),
    ]
    assert records[0].results_name == "results_real_test_scene_1_0000.pkl"
    assert records[1].depth == tmp_path / "Real" / "test" / "scene_1" / "0001_depth.png"
    assert records[1].image_path == "Real/test/scene_1/0001"
    assert (
        nocs_io.results_file_name(nocs_io.split_tag("CAMERA", "val"), "00000", "0000") == "results_val_00000_0000.pkl"
    )
    with pytest.raises(ValueError):
        nocs_io.parse_split("Real/val")


def test_readers_on_synth_dataset(dataset: Path) -> None:
    records = list(nocs_io.iter_image_records(dataset, "CAMERA/val"))
    assert [(r.scene, r.index) for r in records] == [("00000", "0000"), ("00000", "0001")]
    assert len(list(nocs_io.iter_image_records(dataset, "CAMERA/train"))) == 2
    for record in records:
        rgb, depth = nocs_io.read_color(record.color), nocs_io.read_depth(record.depth)
        mask, coord = nocs_io.read_mask(record.mask), nocs_io.read_coord(record.coord)
        assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
        assert cv2.imread(str(record.depth), cv2.IMREAD_UNCHANGED).ndim == 3  # written encoded
        assert depth.shape == (240, 320) and depth.dtype == np.uint16 and (depth == 0).any() and depth.max() < 10000
        meta = nocs_io.read_meta(record.meta)
        assert all(m.synset is not None for m in meta)
        assert sorted(set(np.unique(mask)) - {255}) == sorted(m.instance_id for m in meta)
        foreground = mask != 255
        assert np.all(coord[~foreground] == [0.0, 0.0, 1.0]) and np.all((coord >= 0) & (coord <= 1))
        gt = nocs_io.load_results(dataset / "gts" / "val" / record.results_name, kind="gt")
        assert gt["gt_class_ids"].tolist() == [m.class_id for m in meta]
        assert gt["image_path"] == record.image_path
        segmentation = nocs_io.load_results(
            dataset / "segmentation_results" / "val" / record.results_name, kind="segmentation"
        )
        assert segmentation["pred_masks"].shape == (240, 320, len(meta))
        for m in meta:
            extents = nocs_io.read_model_extents(dataset / "obj_models" / "val" / m.synset / m.model_id / "bbox.txt")
            assert np.linalg.norm(extents) == pytest.approx(1.0, abs=1e-6)
