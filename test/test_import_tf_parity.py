"""Parity with the original TensorFlow DualPoseNet: a checkpoint it wrote, imported, gives its outputs.

``test/fixtures/tf_reference_compact`` holds a test-graph checkpoint written by the original code
and one forward pass through it (README there). After ``import-tf`` the network must reproduce
every output, the refinement loss and its gradient to 1e-5 relative; the intermediate
activations name the first layer that differs when it does not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dualposenet_ros.model.checkpoint import load_checkpoint
from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.research.import_tf import import_tf_checkpoint
from dualposenet_ros.model.losses import consistency_loss, explicit_canonical_points
from dualposenet_ros.model.network import DualPoseNet

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "test" / "fixtures" / "tf_reference_compact"
TRAIN_GRAPH = REPO / ".." / "shared" / "fixtures" / "tf_reference_compact" / "train_ckpt"
RTOL = 1e-5
OUTPUTS = ("pose_feat", "pred_rotation", "pred_translation", "pred_scale", "im_canonical_points",
           "ex_canonical_points", "refine_loss", "refine_loss_per_instance", "grad_refine_loss_wrt_pose_feat")


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "io.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> DualPoseNet:
    out = tmp_path_factory.mktemp("imported") / "compact_tf"
    import_tf_checkpoint(FIXTURE / "model-30", out, trained_on="random weights")
    model, _ = load_checkpoint(out)
    return model


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest absolute difference over the largest reference magnitude (element-wise rtol is meaningless
    for entries that happen to be near zero)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


def inputs(reference: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The original's maps in this project's (B, C, azimuth, polar) layout, and the points."""
    return (torch.from_numpy(reference["input_dis"]).permute(0, 3, 1, 2),
            torch.from_numpy(reference["input_rgb"]).permute(0, 3, 1, 2), torch.from_numpy(reference["observed_pc"]))


def outputs(model: DualPoseNet, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output the fixture holds, computed the way the original graph does."""
    distance, rgb, points = inputs(reference)
    feature = model.encode(distance, rgb).detach().requires_grad_(True)
    pose = model.decode_pose(feature)
    implicit = model.decode_canonical(feature, points)
    explicit = explicit_canonical_points(points, *pose)
    per_instance = consistency_loss(explicit, implicit)
    loss = per_instance.mean()  # the original's Huber mean over the whole batch
    gradient, = torch.autograd.grad(loss, feature)
    values = dict(zip(OUTPUTS, (feature, pose.quaternion, pose.translation, pose.size, implicit, explicit, loss,
                                per_instance, gradient)))
    return {key: value.detach().numpy() for key, value in values.items()}


def activations(model: DualPoseNet, reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The network's intermediate activations under the original's ``act/<scope>`` names, in graph order."""
    captured: dict[str, torch.Tensor] = {}
    slope = model.config.leaky_slope
    encoder = model.encoder
    hooks = []

    def keep(name: str, activate: bool = False):
        def hook(module, args, output):
            captured[name] = F.leaky_relu(output, slope) if activate else output
        return hook

    for stream, prefix in ((encoder.distance_stream, "dis"), (encoder.rgb_stream, "rgb"), (encoder.fusion, "fusion")):
        for name, block in stream.items():
            hooks.append(block.register_forward_hook(keep(f"act/encoder/{prefix}_{name}")))
    # One pooling module serves both streams: distance first, then RGB, after each pooled layer.
    pooled = iter(f"act/encoder/pooled_{s}_after_layer{i}" for i in model.config.pool_after for s in ("dis", "rgb"))
    hooks.append(encoder.pool.register_forward_hook(lambda module, args, output: captured.__setitem__(next(pooled),
                                                                                                     output)))
    for index, projection in zip(model.config.fusion_layers, encoder.aggregation.projections):
        hooks.append(projection.register_forward_hook(keep(f"act/encoder/flatten_conv{index}", True)))
    for index, layer in enumerate(encoder.aggregation.mlp.layers):
        hooks.append(layer.register_forward_hook(keep(f"act/encoder/fc{index + 1}", True)))
    for head, prefix in (("rotation", "rot"), ("translation", "trans"), ("size", "scale")):
        for index, layer in enumerate(getattr(model.explicit_decoder, head).layers[:-1]):
            hooks.append(layer.register_forward_hook(keep(f"act/explicit_decoder/{prefix}_fc{index + 1}", True)))
    try:
        with torch.no_grad():
            result = model(*inputs(reference))
    finally:
        for hook in hooks:
            hook.remove()
    captured[f"act/implicit_decoder/conv{len(model.config.implicit_hidden) + 1}"] = result.canonical_points
    # Maps back to the original's [batch, azimuth, polar, channel] layout.
    return {name: (value.permute(0, 2, 3, 1) if value.dim() == 4 else value).numpy()
            for name, value in captured.items()}


def first_mismatch(model: DualPoseNet, reference: dict[str, np.ndarray]) -> tuple[str, float] | None:
    """(activation, relative error) of the first layer, in execution order, off by more than RTOL."""
    for name, ours in activations(model, reference).items():
        error = relative_error(ours, reference[name])
        if error > RTOL:
            return name, error
    return None


def test_every_output_matches_the_original(imported: DualPoseNet, reference: dict[str, np.ndarray]) -> None:
    ours = outputs(imported, reference)
    errors = {key: relative_error(ours[key], reference[key]) for key in OUTPUTS}
    assert max(errors.values()) <= RTOL, f"outputs differ from the original: {errors}; first differing layer: " \
                                         f"{first_mismatch(imported, reference)}"


def test_refinement_objective_matches_the_original(imported: DualPoseNet, reference: dict[str, np.ndarray]) -> None:
    """The loss refine.py minimises is the original's refinement loss, instance by instance."""
    from dualposenet_ros.inference.refine import RefineSettings, refine_feature

    distance, rgb, points = inputs(reference)
    with torch.no_grad():
        feature = imported.encode(distance, rgb)
    result = refine_feature(imported, feature, points, RefineSettings(learning_rate=1e-3, iterations=0, threshold=0))
    assert relative_error(result.loss.detach().numpy(), reference["refine_loss_per_instance"]) <= RTOL


def test_every_intermediate_activation_matches(imported: DualPoseNet, reference: dict[str, np.ndarray]) -> None:
    names = activations(imported, reference)
    assert set(names) == {key for key in reference if key.startswith("act/")}  # every recorded layer compared
    assert first_mismatch(imported, reference) is None


def test_post_processing_matches_the_original(imported: DualPoseNet, reference: dict[str, np.ndarray]) -> None:
    from dualposenet_ros.core.rotations import quaternion_to_matrix

    ours = outputs(imported, reference)
    size = torch.from_numpy(ours["pred_scale"])
    # The network predicts the camera-to-object rotation; the original's matrix of the quaternion is that one.
    rotation = quaternion_to_matrix(torch.from_numpy(ours["pred_rotation"])).numpy()
    assert relative_error(rotation, reference["post/rotation_matrix"]) <= RTOL
    assert relative_error(size.norm(dim=-1).numpy(), reference["post/scale"]) <= RTOL
    assert relative_error((size / size.norm(dim=-1, keepdim=True)).numpy(), reference["post/size_normalised"]) <= RTOL


@pytest.mark.parametrize("key, layer", [
    ("encoder.rgb_stream.conv1.conv.weight", "act/encoder/rgb_conv1"),      # square anchors: transpose (A)
    ("encoder.distance_stream.conv0.conv.bias", "act/encoder/dis_conv0"),   # spherical bias (B)
    ("encoder.fusion.conv5.act.weight", "act/encoder/fusion_conv5"),        # PReLU slope (=)
    ("encoder.aggregation.mlp.layers.0.weight", "act/encoder/fc1"),         # square dense kernel (T)
    ("explicit_decoder.size.layers.1.bias", "act/explicit_decoder/scale_fc2"),
])
def test_a_wrong_conversion_is_located(imported: DualPoseNet, reference: dict[str, np.ndarray], key: str,
                                       layer: str) -> None:
    """A parameter converted the wrong way (same shape) is caught, at the layer that holds it."""
    broken = DualPoseNet(imported.config).eval()
    state = {name: value.clone() for name, value in imported.state_dict().items()}
    value = state[key]
    state[key] = value.transpose(0, 1).contiguous() if value.dim() > 1 else value.flip(0) * 0.5 + 0.01
    broken.load_state_dict(state)
    mismatch = first_mismatch(broken, reference)
    assert mismatch is not None and mismatch[0] == layer, mismatch


def test_imported_config_is_the_compact_preset(imported: DualPoseNet) -> None:
    assert imported.config == ModelConfig.compact()
    assert imported.count_parameters() == 2_454_509


@pytest.mark.skipif(not TRAIN_GRAPH.is_dir(), reason="the training-graph reference checkpoint (29 MB) is not "
                    "in this checkout; it lives beside the repository in the project's CI fixtures")
def test_training_graph_checkpoint_imports_and_matches(tmp_path: Path, reference: dict[str, np.ndarray]) -> None:
    """The CLI on a training-graph checkpoint (Adam slots, counters) says what it skipped; the model matches."""
    source = TRAIN_GRAPH.resolve()
    out = tmp_path / "from_training_graph"
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    result = subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", "import-tf", str(source), "--out", str(out),
                             "--trained-on", "random weights"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "skipped 153 training-state entries: 75 optimizer slots 'Adam', 75 optimizer slots 'Adam_1', " \
           "3 counters (beta1_power, beta2_power, global_step)" in result.stdout
    model, metadata = load_checkpoint(out)
    assert metadata["source"]["skipped"] == {"optimizer_slots": {"Adam": 75, "Adam_1": 75},
                                             "counters": ["beta1_power", "beta2_power", "global_step"]}
    assert metadata["source"]["variables"] == 75
    ours = outputs(model, reference)
    assert max(relative_error(ours[key], reference[key]) for key in OUTPUTS) <= RTOL
