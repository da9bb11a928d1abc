"""The shared inference pipeline: batching, frames, refinement guarantees, bad input (on every
available device); precision and backend options against float32 torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.core.estimates import EstimateStatus, FrameInput, InstanceInput, RefineMode
from dualposenet_ros.core.frames import FLIP_XY
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.inference.pipeline import EstimatorSettings, PoseEstimator
from dualposenet_ros.model.preprocess import Intrinsics
from dualposenet_ros.inference.refine import RefineSettings
from dualposenet_ros.core.rotations import quaternion_to_matrix_np

from devices import DEVICES

HEIGHT, WIDTH = 120, 160
INTRINSICS = Intrinsics(fx=150.0, fy=150.0, cx=79.5, cy=59.5)
TINY = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                   implicit_hidden=(32, 16, 8), num_points=128)


def make_frame(num_instances: int = 3, seed: int = 0) -> FrameInput:
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    depth = (0.6 + 0.05 * np.sin(cols / 9.0) + 0.04 * np.cos(rows / 7.0)).astype(np.float32)
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    instances = []
    for k in range(num_instances):
        mask = np.zeros((HEIGHT, WIDTH), bool)
        mask[10 + 30 * (k % 3): 35 + 30 * (k % 3), 10 + 45 * (k // 3): 50 + 45 * (k // 3)] = True
        instances.append(InstanceInput(mask=mask, class_id=k % 6 + 1, score=0.5 + 0.1 * k, instance_id=k + 1))
    return FrameInput(rgb=rgb, depth=depth, intrinsics=INTRINSICS, instances=tuple(instances))


@pytest.fixture(scope="module", params=DEVICES)
def estimator(request: pytest.FixtureRequest) -> PoseEstimator:
    torch.manual_seed(0)
    fast = EstimatorSettings(refine_feature=RefineSettings(1e-2, 5, 0.0), refine_encoder=RefineSettings(1e-4, 3, 0.0))
    return PoseEstimator(DualPoseNet(TINY), request.param, fast)


def test_batched_equals_one_by_one(estimator):
    frame = make_frame(4)
    together = estimator.estimate(frame)
    for instance, joint in zip(frame.instances, together):
        alone = estimator.estimate(FrameInput(frame.rgb, frame.depth, frame.intrinsics, (instance,)))[0]
        np.testing.assert_allclose(alone.rotation, joint.rotation, atol=1e-5)
        np.testing.assert_allclose(alone.translation, joint.translation, atol=1e-5)
        np.testing.assert_allclose(alone.size, joint.size, atol=1e-5)
        assert alone.num_points == joint.num_points


def test_outputs_are_valid_poses_in_input_order(estimator):
    frame = make_frame(3)
    estimates = estimator.estimate(frame)
    assert [e.instance_id for e in estimates] == [1, 2, 3]
    assert [e.class_id for e in estimates] == [1, 2, 3]
    for estimate in estimates:
        np.testing.assert_allclose(estimate.rotation @ estimate.rotation.T, np.eye(3), atol=1e-5)
        assert np.linalg.det(estimate.rotation) == pytest.approx(1.0, abs=1e-5)
        assert estimate.status is EstimateStatus.OK and estimate.num_points > 32
        assert np.isfinite(estimate.consistency_residual)


def test_pose_is_converted_to_the_optical_frame():
    """With a decoder forced to a known output, the published pose is that output turned into the
    optical frame and moved by the centroid of the points."""
    torch.manual_seed(1)
    model = DualPoseNet(TINY)
    quaternion = np.array([0.9, 0.1, -0.3, 0.3]) / np.linalg.norm([0.9, 0.1, -0.3, 0.3])
    fixed = {"rotation": quaternion, "translation": np.array([0.01, -0.02, 0.03]), "size": np.array([0.1, 0.2, 0.05])}
    with torch.no_grad():
        for name, value in fixed.items():
            head = getattr(model.explicit_decoder, name)
            last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.weight.zero_()
            last.bias.copy_(torch.as_tensor(value, dtype=torch.float32))
    estimator = PoseEstimator(model, "cpu", EstimatorSettings(passes=1))
    frame = make_frame(1)
    estimate = estimator.estimate(frame)[0]

    mask = frame.instances[0].mask
    rows, cols = np.nonzero(mask)
    z = frame.depth[rows, cols].astype(np.float64)
    optical_points = np.stack([(cols - INTRINSICS.cx) * z / INTRINSICS.fx,
                               (rows - INTRINSICS.cy) * z / INTRINSICS.fy, z], 1)
    centroid_nocs = FLIP_XY @ optical_points.mean(0)
    camera_to_object = quaternion_to_matrix_np(quaternion)
    np.testing.assert_allclose(estimate.rotation, FLIP_XY @ camera_to_object.T, atol=1e-5)
    np.testing.assert_allclose(estimate.translation, FLIP_XY @ (centroid_nocs + fixed["translation"]), atol=1e-5)
    np.testing.assert_allclose(estimate.size, fixed["size"], atol=1e-6)
    assert estimate.scale == pytest.approx(np.linalg.norm(fixed["size"]), rel=1e-5)


@pytest.mark.parametrize("mode", [RefineMode.FEATURE, RefineMode.ENCODER])
def test_refinement_never_worse_and_never_touches_the_model(estimator, mode):
    frame = make_frame(3)
    before = {name: tensor.clone() for name, tensor in estimator.model.state_dict().items()}
    plain = estimator.estimate(frame)
    refined = estimator.estimate(frame, refine=mode)
    for a, b in zip(plain, refined):
        assert b.refined and not a.refined
        assert b.consistency_residual <= a.consistency_residual + 1e-6
    assert any(b.consistency_residual < a.consistency_residual for a, b in zip(plain, refined))
    for name, tensor in estimator.model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert all(p.grad is None for p in estimator.model.parameters())


def test_instances_without_enough_depth_are_flagged_not_dropped(estimator):
    frame = make_frame(2)
    depth = frame.depth.copy()
    depth[frame.instances[0].mask] = np.nan  # NaN depth: no valid point at all
    empty = InstanceInput(mask=np.zeros((HEIGHT, WIDTH), bool), class_id=6, score=0.3, instance_id=7)
    estimates = estimator.estimate(FrameInput(frame.rgb, depth, INTRINSICS, (*frame.instances, empty)))
    assert [e.status for e in estimates] == [EstimateStatus.TOO_FEW_POINTS, EstimateStatus.OK,
                                             EstimateStatus.TOO_FEW_POINTS]
    assert estimates[0].num_points == 0 and np.isnan(estimates[0].consistency_residual)
    np.testing.assert_array_equal(estimates[2].size, np.ones(3))


def test_bad_frames_raise_clear_errors():
    frame = make_frame(1)
    with pytest.raises(ValueError, match="does not match"):
        FrameInput(frame.rgb[:-1], frame.depth, INTRINSICS)
    with pytest.raises(ValueError, match="mask"):
        FrameInput(frame.rgb, frame.depth, INTRINSICS, (InstanceInput(np.zeros((3, 3), bool), 1),))
    with pytest.raises(ValueError, match="unknown class id"):
        FrameInput(frame.rgb, frame.depth, INTRINSICS, (InstanceInput(frame.instances[0].mask, 0),))
    with pytest.raises(ValueError, match="refine mode"):
        EstimatorSettings(refine="sometimes")


def test_class_ids_beyond_the_models_categories_are_refused(estimator):
    """The estimator knows its model's categories: the shipped one the NOCS six, so class 7 is unknown."""
    frame = make_frame(1)
    with pytest.raises(ValueError, match=r"unknown class id 7 .*1\.\.6 \(bottle"):
        estimator.estimate(FrameInput(frame.rgb, frame.depth, INTRINSICS, (InstanceInput(frame.instances[0].mask, 7),)))


def test_cpu_and_batched_spherical_maps_agree(estimator):
    """The estimator's maps on its device (NumPy per instance on the CPU, one torch call on an
    accelerator) equal NumPy's per-instance maps computed on the CPU, and so does the batched torch
    function on the CPU: each path is checked against an independent implementation."""
    from dualposenet_ros.model.preprocess import spherical_maps, spherical_maps_batch

    rng = np.random.default_rng(3)
    centred = torch.from_numpy(rng.normal(0, 0.05, (3, 400, 3)).astype(np.float32))
    colors = torch.from_numpy(rng.uniform(-0.5, 0.5, (3, 400, 3)).astype(np.float32))
    valid = torch.from_numpy(rng.uniform(size=(3, 400)) < 0.7)
    per_instance = [spherical_maps(points[keep], rgb[keep], estimator.resolution)
                    for points, rgb, keep in zip(centred.numpy(), colors.numpy(), valid.numpy())]
    reference = (torch.from_numpy(np.stack([m[0] for m in per_instance])).permute(0, 3, 1, 2),
                 torch.from_numpy(np.stack([m[1] for m in per_instance])).permute(0, 3, 1, 2))
    device = estimator.device
    ours = estimator._spherical_maps(centred.to(device), colors.to(device), valid.to(device))
    batched_on_cpu = spherical_maps_batch(centred, colors, valid, estimator.resolution)
    for expected, on_device, batched in zip(reference, ours, batched_on_cpu):
        assert on_device.device.type == device.type
        assert expected.count_nonzero() > 0
        assert torch.equal(on_device.cpu(), expected)
        assert torch.equal(batched, expected)


# -- precision and backend options (shipped model, rendered scenes) -------------------------------

# Stated tolerances against float32 torch (docs/benchmarks.md): largest rotation angle (degrees),
# translation (mm) and relative size difference over every instance. Measured on these scenes:
# bf16 0.26 deg / 0.5 mm / 0.5 %, int8 0.8-2.0 deg / 1.5-3.6 mm / 2-5 %, onnxruntime < 1e-4.
TOLERANCES = {"bf16": (1.0, 2.0, 0.02), "int8": (5.0, 10.0, 0.10)}


def rendered_frames(count: int = 2, objects: int = 4) -> list[FrameInput]:
    """Synthetic scenes (320x240) with real object shapes, which the shipped model was trained on."""
    from dualposenet_ros.data.synth import SceneConfig, SceneSampler, render_scene

    size, intrinsics = (320, 240), Intrinsics.CAMERA.resized(0.5, 0.5)
    sampler = SceneSampler(SceneConfig(objects=(objects, objects)), intrinsics, size)
    frames = []
    for seed in range(count):
        rendered = render_scene(sampler.sample(np.random.default_rng([7, seed])), intrinsics, size)
        instances = tuple(InstanceInput(mask=rendered.instance_mask == truth.instance_id, class_id=int(truth.class_id),
                                        score=1.0, instance_id=int(truth.instance_id)) for truth in rendered.instances)
        frames.append(FrameInput(rgb=rendered.rgb, depth=rendered.depth_mm.astype(np.float32) / 1000.0,
                                 intrinsics=intrinsics, instances=instances))
    return frames


@pytest.fixture(scope="module")
def shipped_reference():
    from dualposenet_ros.model.checkpoint import load_checkpoint
    from dualposenet_ros.models import default_checkpoint

    model, _ = load_checkpoint(default_checkpoint())
    frames = rendered_frames()
    reference = PoseEstimator(model, "cpu")
    return model, frames, [reference.estimate(frame) for frame in frames]


@pytest.mark.parametrize("precision", sorted(TOLERANCES))
def test_reduced_precision_stays_within_the_stated_tolerance(shipped_reference, precision):
    from dualposenet_ros.benchmarks.option_benchmark import pose_difference

    model, frames, reference = shipped_reference
    fast = PoseEstimator(model, "cpu", precision=precision)
    assert fast.model is model and fast.network.model is not model  # a copy runs; the model stays float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    rotation, translation, size = TOLERANCES[precision]
    moved = False
    for frame, expected in zip(frames, reference):
        difference = pose_difference(fast.estimate(frame), expected)
        assert difference["rotation_deg_max"] <= rotation, difference
        assert difference["translation_mm_max"] <= translation, difference
        assert difference["size_rel_max"] <= size, difference
        moved |= difference["rotation_deg_max"] > 0  # the reduced precision really ran
    assert moved


def test_onnxruntime_backend_gives_the_torch_estimates(shipped_reference):
    pytest.importorskip("onnxruntime")
    model, frames, reference = shipped_reference
    ort = PoseEstimator(model, "cpu", backend="onnxruntime")
    assert ort.network.name == "onnxruntime"
    for frame, expected in zip(frames, reference):
        for got, want in zip(ort.estimate(frame), expected):
            np.testing.assert_allclose(got.rotation, want.rotation, atol=1e-4)
            np.testing.assert_allclose(got.translation, want.translation, atol=1e-4)
            np.testing.assert_allclose(got.size, want.size, atol=1e-4)
            assert got.consistency_residual == pytest.approx(want.consistency_residual, abs=1e-4)


def test_refinement_with_onnxruntime_runs_on_the_torch_model(shipped_reference):
    """ONNX Runtime gives no gradients: refinement falls back to the float32 torch model."""
    pytest.importorskip("onnxruntime")
    model, frames, _ = shipped_reference
    settings = EstimatorSettings(refine_feature=RefineSettings(1e-3, 5, 0.0))
    torch_refined = PoseEstimator(model, "cpu", settings).estimate(frames[0], refine="feature")
    ort_refined = PoseEstimator(model, "cpu", settings, backend="onnxruntime").estimate(frames[0], refine="feature")
    for got, want in zip(ort_refined, torch_refined):
        assert got.refined and want.refined
        np.testing.assert_allclose(got.rotation, want.rotation, atol=1e-3)
        np.testing.assert_allclose(got.translation, want.translation, atol=1e-4)


def test_unknown_or_unsupported_options_are_refused():
    model = DualPoseNet(TINY)
    with pytest.raises(ValueError, match="precision must be one of"):
        PoseEstimator(model, "cpu", precision="fp8")
    with pytest.raises(ValueError, match="backend must be one of"):
        PoseEstimator(model, "cpu", backend="tensorrt")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ValueError, match="float32 graph"):
        PoseEstimator(model, "cpu", precision="int8", backend="onnxruntime")


def test_fewer_residual_points_change_the_residual_not_the_pose(shipped_reference):
    model, frames, reference = shipped_reference
    fewer = PoseEstimator(model, "cpu", EstimatorSettings(residual_points=128))
    residuals = []
    for frame, expected in zip(frames, reference):
        for got, want in zip(fewer.estimate(frame), expected):
            np.testing.assert_array_equal(got.rotation, want.rotation)
            np.testing.assert_array_equal(got.translation, want.translation)
            residuals.append((got.consistency_residual, want.consistency_residual))
    got, want = np.array(residuals).T
    assert np.all(np.isfinite(got)) and not np.array_equal(got, want)  # a sample of the same points' losses
    assert np.median(np.abs(got - want) / want) < 0.5
    with pytest.raises(ValueError, match="residual_points"):
        EstimatorSettings(residual_points=-1)
