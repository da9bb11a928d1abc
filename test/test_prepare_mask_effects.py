"""`dualposenet prepare --mask-effects`: inputs cut with segmenter-like masks, pose targets from the exact ones.

A toy dataset of the project's generator (160x120, two scenes) is prepared with the exact masks and
with each mask effect. The stored points are mapped back to their pixels, so a test sees which mask
they were cut with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from dualposenet_ros.cli import main
from dualposenet_ros.core.rotations import quaternion_to_matrix_np
from dualposenet_ros.data import nocs_io
from dualposenet_ros.data.instances import InstanceStore
from dualposenet_ros.data.prepare import prepare
from dualposenet_ros.data.synth.effects import EFFECTS, MASK_EFFECTS, parse_effects
from dualposenet_ros.data.synth.segmenter import segmenter_mask, segmenter_masks

NUM_POINTS = 4096  # several times the toy objects' pixels: the samples cover each mask
Key = tuple[int, int]  # (image_index, instance_id)


class Prepared:
    """One prepared store: its summary, its records by instance, and the dataset it came from."""

    def __init__(self, root: Path, out: Path, summary: Any) -> None:
        self.root, self.summary = root, summary
        self.store = InstanceStore(out)
        self.settings = self.store.manifest["metadata"]["settings"]
        records = (self.store[i] for i in range(len(self.store)))
        self.records: dict[Key, dict[str, np.ndarray]] = {
            (int(r["image_index"]), int(r["instance_id"])): r for r in records}

    def sampled_pixels(self, key: Key) -> np.ndarray:
        """Boolean image of the pixels the record's sampled points were back-projected from."""
        fx, fy, cx, cy = self.settings["intrinsics"]
        record = self.records[key]
        points = record["points"].astype(np.float64) + record["centroid"]  # NOCS camera frame: x, y negated
        cols = np.rint(cx - points[:, 0] * fx / points[:, 2]).astype(int)
        rows = np.rint(cy - points[:, 1] * fy / points[:, 2]).astype(int)
        image = np.zeros(self.exact_mask(key).shape, dtype=bool)
        image[rows, cols] = True
        return image

    def exact_mask(self, key: Key) -> np.ndarray:
        """The instance's exact mask, its pixels with depth only (the others give no point)."""
        prefix = self.root / self.store.images()[key[0]]
        depth = nocs_io.read_depth(f"{prefix}_depth.png")
        return (nocs_io.read_mask(f"{prefix}_mask.png") == key[1]) & (depth > 0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(root), "--train-scenes", "0", "--val-scenes", "2", "--images-per-scene", "3",
                 "--image-size", "160x120", "--seed", "0", "--workers", "1", "--quiet"]) == 0
    return root


@pytest.fixture(scope="module")
def prepared(dataset, tmp_path_factory):
    """``prepared(effects, **options)``: the store of those settings (each prepared once per module)."""
    cache: dict[Any, Prepared] = {}

    def run(effects: tuple[str, ...] = (), **options: Any) -> Prepared:
        key = (effects, tuple(sorted(options.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp("store") / "store"
            summary = prepare(dataset, "CAMERA25", "val", out, workers=1, resolution=16, num_points=NUM_POINTS,
                              mask_effects=effects, progress=False, **options)
            cache[key] = Prepared(dataset, out, summary)
        return cache[key]

    return run


def test_mask_effect_names_are_the_generators():
    assert MASK_EFFECTS == ("mask_boundary", "mask_bleed", "mask_coarse", "mask_partial", "mask_split")
    assert parse_effects(["all"], MASK_EFFECTS) == MASK_EFFECTS
    assert parse_effects(["mask_split", "mask_bleed", "mask_split"], MASK_EFFECTS) == ("mask_bleed", "mask_split")
    assert parse_effects([], MASK_EFFECTS) == ()
    with pytest.raises(ValueError, match="unknown effect 'dark_holes'"):
        parse_effects(["dark_holes"], MASK_EFFECTS)
    assert "dark_holes" in parse_effects(["all"]) and set(MASK_EFFECTS) < set(EFFECTS)


def test_default_inputs_come_from_the_exact_masks(prepared):
    exact = prepared()
    assert exact.settings["mask_effects"] == []
    assert len(exact.records) >= 15
    for key in exact.records:
        assert not (exact.sampled_pixels(key) & ~exact.exact_mask(key)).any(), key


def _assert_pose_consistent(records: dict[Key, dict[str, np.ndarray]]) -> None:
    """canonical = R (p - t) / |size| with R the stored camera-to-object rotation, p - t = points - translation."""
    for key, record in records.items():
        rotation = quaternion_to_matrix_np(record["quaternion"].astype(np.float64))
        expected = ((record["points"].astype(np.float64) - record["translation"]) @ rotation.T
                    / np.linalg.norm(record["size"]))
        np.testing.assert_allclose(record["canonical"], expected, atol=1e-5, err_msg=str(key))


@pytest.mark.parametrize("effect", MASK_EFFECTS)
def test_mask_effect_changes_the_inputs_not_the_pose(prepared, effect):
    exact, degraded = prepared(), prepared((effect,))
    assert degraded.settings["mask_effects"] == [effect]
    assert set(degraded.records) <= set(exact.records)
    assert len(degraded.records) >= 0.7 * len(exact.records)  # the others: too few pixels left
    changed = 0
    for key, record in degraded.records.items():
        truth = exact.records[key]
        np.testing.assert_allclose(record["quaternion"], truth["quaternion"], atol=1e-6, err_msg=str(key))
        np.testing.assert_allclose(record["size"], truth["size"], atol=1e-6, err_msg=str(key))
        # The same metric object translation t, from a different centroid c.
        np.testing.assert_allclose(record["translation"] + record["centroid"], truth["translation"] + truth["centroid"],
                                   atol=1e-5, err_msg=str(key))
        changed += not np.array_equal(degraded.sampled_pixels(key), exact.sampled_pixels(key))
    assert changed >= len(degraded.records) // 4
    _assert_pose_consistent(exact.records)
    _assert_pose_consistent(degraded.records)


def test_bleed_reaches_past_the_object(prepared):
    exact, bleed = prepared(), prepared(("mask_bleed",))
    keys = sorted(bleed.records)
    exact_pixels = [int(exact.sampled_pixels(key).sum()) for key in keys]
    bleed_pixels = [int(bleed.sampled_pixels(key).sum()) for key in keys]
    assert np.mean(bleed_pixels) > 1.02 * np.mean(exact_pixels)
    outside = [int((bleed.sampled_pixels(key) & ~bleed.exact_mask(key)).sum()) for key in keys]
    assert sum(count > 0 for count in outside) >= len(keys) // 2


def _lost_fraction(prepared_store: Prepared, key: Key) -> float:
    """Share of the object's pixels farther than 1.5 px from every sampled pixel (more than a 1 px erosion)."""
    distance = distance_transform_edt(~prepared_store.sampled_pixels(key))
    return float((distance[prepared_store.exact_mask(key)] > 1.5).mean())


def test_partial_masks_lose_part_of_the_object(prepared):
    exact, partial = prepared(), prepared(("mask_partial",))
    lost = [_lost_fraction(partial, key) - _lost_fraction(exact, key) for key in partial.records]
    assert max(lost) > 0.1


def test_a_split_mask_gives_one_of_its_pieces():
    exact = np.zeros((100, 100), dtype=bool)
    exact[20:80, 20:80] = True
    chosen = set()
    for seed in range(200):
        pieces = segmenter_masks([exact], np.random.default_rng(seed), ("mask_split",))
        mask = segmenter_mask(exact, np.random.default_rng(seed), ("mask_split",))
        matches = [index for index, (_, piece) in enumerate(pieces) if np.array_equal(piece, mask)]
        assert len(matches) == 1, seed
        if len(pieces) == 2:
            chosen.add(matches[0])
            assert mask.sum() < 0.75 * exact.sum()
    assert chosen == {0, 1}


def test_the_depth_pixel_filter_counts_the_degraded_mask(prepared):
    effects = ("mask_boundary", "mask_partial")
    degraded = prepared(effects)
    # An instance whose degraded mask kept well under its exact pixels (each instance draws its mask from its
    # own stream, so it is the same under another --min-depth-pixels); a small one, which the samples cover.
    shrunk = [(int(degraded.exact_mask(key).sum()), key) for key in sorted(degraded.records)
              if degraded.sampled_pixels(key).sum() < 0.8 * degraded.exact_mask(key).sum() < 800]
    assert shrunk
    threshold, key = min(shrunk)
    exact, degraded = prepared(min_depth_pixels=threshold), prepared(effects, min_depth_pixels=threshold)
    assert key in exact.records and key not in degraded.records
    assert set(degraded.records) < set(exact.records)
    # Every instance the exact filter keeps is either kept or counted, not lost silently.
    assert (degraded.summary.instances + degraded.summary.skips["too_few_points"]
            == exact.summary.instances + exact.summary.skips["too_few_points"])


def test_cli_records_the_effects_and_refuses_coord_targets(dataset, tmp_path, capsys):
    common = ["prepare", "--data", str(dataset), "--dataset", "CAMERA25", "--split", "val", "--workers", "1",
              "--config", "compact", "--num-points", "64", "--max-images", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "all"), "--mask-effects", "all"]) == 0
    manifest = json.loads((tmp_path / "all" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["settings"]["mask_effects"] == list(MASK_EFFECTS)
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "coord"), "--mask-effects", "mask_bleed",
                 "--canonical-source", "coord"]) == 2
    assert "--canonical-source coord cannot go with --mask-effects" in capsys.readouterr().err
    assert not (tmp_path / "coord").exists()
    assert main([*common, "--out", str(tmp_path / "unknown"), "--mask-effects", "mask_blur"]) == 2
    assert "unknown effect 'mask_blur'" in capsys.readouterr().err
