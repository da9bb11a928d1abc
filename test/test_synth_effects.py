"""The generator's realism effects (``dualposenet synth --effects``): each does what it says when on
and nothing when off, and the default generator is unchanged by their existence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dualposenet_ros.cli import main
from dualposenet_ros.data.synth import SceneConfig, SceneSampler, render_scene
from dualposenet_ros.data.synth.effects import EFFECTS, depth_noise, parse_effects
from dualposenet_ros.data.synth.segmenter import segmenter_masks
from dualposenet_ros.data.synth.sensor import NO_DEPTH_NOISE, corrupt_depth, quantize_disparity

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _step_edge(width: int = 64) -> np.ndarray:
    """Depth (m): a box at 0.5 m in front of a wall at 0.9 m."""
    depth = np.full((48, width), 0.9)
    depth[12:36, 16:48] = 0.5
    return depth


def test_effect_names_are_checked_and_all_expands():
    assert parse_effects(["all"]) == tuple(EFFECTS)
    assert parse_effects(["mask_split", "dark_holes"]) == ("dark_holes", "mask_split")  # EFFECTS order
    with pytest.raises(ValueError, match="unknown effect 'fog'"):
        parse_effects(["fog"])
    assert depth_noise([]) == depth_noise(["color_variety"])  # non-depth effects leave the depth model alone


def test_disparity_steps_grow_with_distance_squared():
    noise = depth_noise(["disparity_steps"])
    depth = np.linspace(0.3, 2.0, 4000)
    quantized = quantize_disparity(depth, noise.disparity_step, noise.baseline_focal)
    steps = {z: np.diff(np.unique(quantized[np.abs(depth - z) < 0.05])).mean() for z in (0.5, 1.0)}
    assert steps[1.0] / steps[0.5] == pytest.approx(4.0, rel=0.15)  # step ~ z^2 step / bf
    assert np.max(np.abs(quantized - depth)) < 0.01
    # Off: corrupt_depth without the effect keeps the mm rounding only.
    exact = corrupt_depth(np.full((4, 4), 1.0003), np.random.default_rng(0), NO_DEPTH_NOISE)
    assert np.all(exact == 1000)


def test_flying_pixels_lie_between_the_two_sides_of_an_edge():
    depth = _step_edge()
    clean = replace(NO_DEPTH_NOISE, edge_jump=0.02)
    without = corrupt_depth(depth, np.random.default_rng(1), clean).astype(float) / 1000
    with_effect = corrupt_depth(depth, np.random.default_rng(1), replace(clean, flying_pixels=0.5)).astype(float) / 1000
    between = lambda d: np.sum((d > 0.51) & (d < 0.89))  # noqa: E731
    assert between(without) == 0
    assert between(with_effect) > 10
    assert np.all(with_effect[20:28, 24:40] == 0.5)  # inside the box nothing moves


@pytest.mark.parametrize("effect, brightness", [("dark_holes", 0.02), ("specular_holes", 0.97)])
def test_material_holes_on_dark_and_shiny_surfaces_only(effect, brightness):
    depth = np.full((96, 128), 0.8)
    light = np.full(depth.shape, 0.5)
    light[:, 64:] = brightness  # the right half is dark (or saturated)
    noise = replace(NO_DEPTH_NOISE, **{field: getattr(depth_noise([effect]), field)
                                        for field in ("dark_dropout", "specular_dropout")})
    result = corrupt_depth(depth, np.random.default_rng(2), noise, light)
    holes = result == 0
    assert holes[:, :64].sum() == 0
    assert 0.3 < holes[:, 64:].mean() < 0.9
    assert np.all(corrupt_depth(depth, np.random.default_rng(2), NO_DEPTH_NOISE, light) > 0)  # off: no holes


def _scene(config: SceneConfig | None = None, seed: int = 3):
    sampler = SceneSampler(config, image_size=(320, 240))
    from dualposenet_ros.data.nocs_io import CAMERA_INTRINSICS

    sampler.intrinsics = CAMERA_INTRINSICS.resized(0.5, 0.5)
    return sampler, sampler.sample(np.random.default_rng(seed))


def test_color_variety_changes_exposure_but_not_geometry():
    sampler, scene = _scene()
    means = {flag: [render_scene(scene, sampler.intrinsics, sampler.image_size, rng=np.random.default_rng(seed),
                                 color_variety=flag).rgb.mean() for seed in range(4)] for flag in (False, True)}
    assert np.ptp(means[True]) > 5 * max(np.ptp(means[False]), 0.1)
    plain = render_scene(scene, sampler.intrinsics, sampler.image_size, color_variety=False)
    varied = render_scene(scene, sampler.intrinsics, sampler.image_size, color_variety=True)
    np.testing.assert_array_equal(plain.instance_mask, varied.instance_mask)
    np.testing.assert_array_equal(plain.coord, varied.coord)


def test_distractors_are_drawn_but_never_annotated():
    sampler, scene = _scene(SceneConfig(distractors=(3, 3)), seed=5)
    clutter = [obj for obj in scene.objects if obj.model.class_id == 0]
    assert len(clutter) >= 1
    frame = render_scene(scene, sampler.intrinsics, sampler.image_size, sensor_noise=False)
    annotated = {gt.instance_id for gt in frame.instances}
    assert not annotated & {obj.instance_id for obj in clutter}
    assert set(np.unique(frame.instance_mask)) <= annotated | {0}
    # Without them the same seed gives the scene it always gave (no extra random draws).
    _, plain = _scene(SceneConfig(), seed=5)
    _, same = _scene(SceneConfig(distractors=(0, 0)), seed=5)
    assert [obj.model.model_id for obj in plain.objects] == [obj.model.model_id for obj in same.objects]


def _disc(radius: int = 20) -> np.ndarray:
    rows, cols = np.mgrid[0:100, 0:100]
    return (rows - 50) ** 2 + (cols - 50) ** 2 <= radius**2


def test_mask_effects_each_change_the_masks_as_described():
    disc = _disc()

    def run(effects, seed):
        return segmenter_masks([disc], np.random.default_rng(seed), effects)

    square = np.zeros((100, 100), bool)
    square[30:70, 30:70] = True

    def boundary_shift(effects, seed):  # how many px the outline of the square moved
        mask = segmenter_masks([square], np.random.default_rng(seed), effects)[0][1]
        return abs(int(mask[50].sum()) - 40) // 2

    assert {boundary_shift((), seed) for seed in range(30)} == {0, 1}
    assert {boundary_shift(("mask_boundary",), seed) for seed in range(40)} == {0, 1, 2, 3}
    before, bled = run((), 0)[0][1], run(("mask_bleed",), 0)[0][1]  # same boundary draw, then the bleed
    assert bled.sum() > before.sum() and np.all(bled[before])  # grows, to one side
    coarse = run(("mask_coarse",), 0)[0][1]
    assert not np.array_equal(coarse, disc) and (coarse & disc).sum() / (coarse | disc).sum() > 0.85

    partial = [run(("mask_partial",), seed)[0][1].sum() / run((), seed)[0][1].sum() for seed in range(200)]
    cut = np.mean(np.array(partial) < 0.9)
    assert 0.05 < cut < 0.3  # ~15 % of the masks lose part of the object
    splits = [run(("mask_split",), seed) for seed in range(200)]
    split = [detections for detections in splits if len(detections) == 2]
    assert 0.03 < len(split) / len(splits) < 0.2
    first, second = split[0]
    assert first[0] == second[0] == 0 and not (first[1] & second[1]).any() and first[1].any() and second[1].any()


def _real_object_sizes() -> dict[str, list[np.ndarray]]:
    """Metric box size (x, y, z) of every REAL275 test object of the fixtures, and the public
    per-category mean sizes of the REAL275 objects, per category."""
    from dualposenet_ros.core.categories import category_name
    from dualposenet_ros.core.frames import public_pose
    from dualposenet_ros.data import nocs_io
    from dualposenet_ros.data.synth.shapes import REAL275_MEAN_SIZES

    files = sorted(FIXTURES.glob("nocs_published/*.pkl")) + sorted(FIXTURES.glob("real275_scene_6_0000/*.pkl"))
    assert len(files) >= 4
    sizes: dict[str, list[np.ndarray]] = {name: [np.array(mean)] for name, mean in REAL275_MEAN_SIZES.items()}
    for path in files:
        results = nocs_io.read_pickle(path)
        for class_id, matrix, extents in zip(results["gt_class_ids"], results["gt_RTs"], results["gt_scales"]):
            sizes[category_name(int(class_id))].append(np.asarray(extents, np.float64) * public_pose(matrix)[2])
    return sizes


def _unmatched(shape_ranges: dict, tolerance: float = 0.15, draws: int = 400) -> list[tuple[str, list[float]]]:
    """The real objects no drawn object matches to within ``tolerance`` (relative) on every axis."""
    from dualposenet_ros.data.synth.shapes import make_object_model

    unmatched = []
    for name, targets in _real_object_sizes().items():
        rng = np.random.default_rng(0)
        drawn = np.array([make_object_model(name, rng, step=0.03, shape_ranges=shape_ranges).size
                          for _ in range(draws)])
        for target in targets:
            if np.abs(drawn / target - 1.0).max(axis=1).min() > tolerance:
                unmatched.append((name, [round(float(v), 3) for v in target]))
    return unmatched


def test_real_sizes_cover_the_real_objects_in_all_three_dimensions():
    """With ``real_sizes`` some drawn object matches every real object's box (fixtures and public
    REAL275 means) to within 15 % on each axis; the default shapes miss some (why the effect exists)."""
    from dualposenet_ros.data.synth.shapes import REAL_SHAPE_RANGES, SHAPE_RANGES

    assert _unmatched(REAL_SHAPE_RANGES) == []
    missed = {name for name, _ in _unmatched(SHAPE_RANGES)}
    assert {"bottle", "camera", "can"} <= missed, missed


def test_synth_with_every_effect_writes_a_readable_dataset(tmp_path):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--train-scenes", "0", "--val-scenes", "2", "--images-per-scene", "1",
                 "--image-size", "160x120", "--workers", "1", "--quiet", "--effects", "all"]) == 0
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["settings"]["effects"] == list(EFFECTS)
    from dualposenet_ros.data import nocs_io

    for path in sorted((out / "segmentation_results" / "val").glob("*.pkl")):
        result = nocs_io.load_results(path, kind="segmentation")
        assert result["pred_masks"].shape[2] == len(result["pred_class_ids"]) == len(result["pred_scores"])
    assert main(["synth", "--out", str(tmp_path / "x"), "--effects", "fog", "--quiet"]) == 2
