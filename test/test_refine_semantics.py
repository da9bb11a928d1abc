"""Test-time refinement follows the original's per-instance semantics (on every available device):
each instance starts from the trained weights (encoder) or the encoder's feature (feature) with
fresh optimiser state; ``iterations`` forward passes, the first unrefined; the pose of the lowest
loss is kept; an instance stops once that loss is <= threshold. A plain one-instance loop written
here (TensorFlow 1's Adam update, written out) is the statement the batched code must equal."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.core.estimates import RefineMode
from dualposenet_ros.model.losses import consistency_loss, explicit_canonical_points
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.inference.pipeline import EstimatorSettings, PoseEstimator
from dualposenet_ros.inference.refine import (
    RefineSettings,
    encoder_bytes_per_object,
    objects_per_chunk,
    refine_encoder,
    refine_encoder_in_chunks,
    refine_feature,
)

from devices import DEVICES
from test_pipeline import make_frame

TINY = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                   implicit_hidden=(32, 16, 8), num_points=64)
INSTANCES = 3


def inputs(device: str, seed: int = 0) -> tuple[DualPoseNet, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    model = DualPoseNet(TINY).to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    n = TINY.resolution
    distance = torch.rand(INSTANCES, 1, n, n, device=device) * 0.1
    rgb = torch.rand(INSTANCES, 3, n, n, device=device) - 0.5
    points = torch.randn(INSTANCES, TINY.num_points, 3, device=device) * 0.05
    return model, distance, rgb, points


def loss_of(model: DualPoseNet, feature: torch.Tensor, points: torch.Tensor) -> tuple[tuple, torch.Tensor]:
    pose = model.decode_pose(feature)
    explicit = explicit_canonical_points(points, pose.quaternion, pose.translation, pose.size)
    return tuple(pose), consistency_loss(explicit, model.decode_canonical(feature, points))[0]


def original_loop(variables: list[torch.Tensor], forward, settings: RefineSettings) -> dict:
    """One instance, as the original: iteration k runs the graph on the current variables (the
    fetched pose and loss are those before its update), keeps the pose if its loss is lower, breaks
    once the kept loss <= threshold, and applies TensorFlow 1's Adam update."""
    moments = [(torch.zeros_like(v), torch.zeros_like(v)) for v in variables]
    best_loss, best_pose, losses = math.inf, None, []
    for step in range(1, settings.iterations + 1):
        with torch.enable_grad():
            pose, loss = forward()
            gradients = torch.autograd.grad(loss, variables)
        losses.append(float(loss.detach()))
        if losses[-1] < best_loss:
            best_loss, best_pose = losses[-1], [field.detach().clone() for field in pose]
        if best_loss <= settings.threshold:
            break
        rate = settings.learning_rate * math.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step)
        with torch.no_grad():
            for variable, gradient, (m, v) in zip(variables, gradients, moments):
                m.copy_(0.9 * m + 0.1 * gradient)
                v.copy_(0.999 * v + 0.001 * gradient * gradient)
                variable.sub_(rate * m / (v.sqrt() + 1e-8))
    return {"pose": best_pose, "loss": best_loss, "losses": losses}


def encoder_loop(model, distance, rgb, points, row, settings):
    private = copy.deepcopy(model)  # the trained weights, for this instance alone
    variables = list(private.encoder.parameters())
    for variable in variables:
        variable.requires_grad_(True)
    return original_loop(variables, lambda: loss_of(private, private.encode(distance[row:row + 1], rgb[row:row + 1]),
                                                    points[row:row + 1]), settings)


def feature_loop(model, feature, points, row, settings):
    latent = feature[row:row + 1].clone().requires_grad_(True)
    return original_loop([latent], lambda: loss_of(model, latent, points[row:row + 1]), settings)


def assert_matches(result, expected: list[dict], atol: float) -> None:
    for row, want in enumerate(expected):
        for got, field in zip(result.pose, want["pose"]):
            torch.testing.assert_close(got[row], field[0], atol=atol, rtol=0)
        assert float(result.loss[row]) == pytest.approx(want["loss"], abs=atol)


def exercised(expected: list[dict], settings: RefineSettings) -> None:
    """The case shows each semantic: a kept pose that is not the last one evaluated, an instance
    stopped early by the threshold, and one that ran every iteration."""
    assert any(int(np.argmin(e["losses"])) < len(e["losses"]) - 1 for e in expected)
    assert any(len(e["losses"]) < settings.iterations for e in expected)
    assert any(len(e["losses"]) == settings.iterations for e in expected)


def threshold_between(losses: list[list[float]]) -> float:
    """A threshold some instances reach within their iterations and some do not."""
    lowest = sorted(min(seen) for seen in losses)
    return (lowest[0] + lowest[-1]) / 2


@pytest.mark.parametrize("device", DEVICES)
def test_encoder_refinement_equals_the_original_loop_per_instance(device):
    model, distance, rgb, points = inputs(device)
    free = RefineSettings(learning_rate=5e-3, iterations=5, threshold=0.0)
    probe = [encoder_loop(model, distance, rgb, points, row, free) for row in range(INSTANCES)]
    settings = RefineSettings(5e-3, 5, threshold_between([e["losses"] for e in probe]))
    expected = [encoder_loop(model, distance, rgb, points, row, settings) for row in range(INSTANCES)]
    exercised(expected, settings)

    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    result = refine_encoder(model, distance, rgb, points, settings)
    assert_matches(result, expected, atol=2e-5)
    assert all(torch.equal(tensor, before[name]) for name, tensor in model.state_dict().items())


@pytest.mark.parametrize("device", DEVICES)
def test_feature_refinement_equals_the_original_loop_and_changes_only_the_feature(device):
    model, distance, rgb, points = inputs(device)
    with torch.no_grad():
        feature = model.encode(distance, rgb)
    free = RefineSettings(learning_rate=1.0, iterations=12, threshold=0.0)
    probe = [feature_loop(model, feature, points, row, free) for row in range(INSTANCES)]
    settings = RefineSettings(1.0, 12, threshold_between([e["losses"] for e in probe]))
    expected = [feature_loop(model, feature, points, row, settings) for row in range(INSTANCES)]
    exercised(expected, settings)

    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    result = refine_feature(model, feature, points, settings)
    assert_matches(result, expected, atol=2e-5)
    # Only the feature moved: the network is untouched and the kept pose is its decoding of the kept feature.
    assert all(torch.equal(tensor, before[name]) for name, tensor in model.state_dict().items())
    assert not torch.equal(result.feature, feature)
    with torch.no_grad():
        for got, decoded in zip(result.pose, model.decode_pose(result.feature)):
            torch.testing.assert_close(got, decoded)


@pytest.mark.parametrize("device", DEVICES)
def test_weights_are_restored_between_instances_and_chunks_change_nothing(device):
    """Refining B after A (another call, or beside it in a batch or chunk) gives B's pose alone."""
    model, distance, rgb, points = inputs(device)
    settings = RefineSettings(3e-3, 5, 0.0)
    alone = refine_encoder(model, distance[1:2], rgb[1:2], points[1:2], settings)
    refine_encoder(model, distance[:1], rgb[:1], points[:1], settings)  # A first
    after = refine_encoder(model, distance[1:2], rgb[1:2], points[1:2], settings)
    for got, want in zip(after.pose, alone.pose):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    together = refine_encoder(model, distance, rgb, points, settings)
    for chunk in (1, 3):
        chunked, used = refine_encoder_in_chunks(model, distance, rgb, points, settings, chunk=chunk)
        assert used == chunk and chunked.refined is None
        for got, want in zip(chunked.pose, together.pose):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for got, want in zip(together.pose, alone.pose):
        torch.testing.assert_close(got[1:2], want, atol=1e-5, rtol=1e-5)


def test_chunks_after_a_stop_keep_their_unrefined_pose_without_refining():
    """Once the frame's budget is spent (or the node stops), the remaining chunks cost one plain
    encoder pass, not an encoder copy each: their objects keep the unrefined pose, marked not refined."""
    model, distance, rgb, points = inputs("cpu")
    settings = RefineSettings(3e-3, 5, 0.0)
    calls = []

    def stop_after_first_chunk() -> bool:
        calls.append(None)
        return len(calls) > settings.iterations  # the first chunk's iterations, then stop

    result, _ = refine_encoder_in_chunks(model, distance, rgb, points, settings, should_stop=stop_after_first_chunk,
                                         chunk=1)
    assert result.stopped == "cancelled"
    assert result.refined is not None and result.refined[0] and not result.refined[1:].any()
    with torch.no_grad():
        unrefined = model.decode_pose(model.encode(distance[1:], rgb[1:]))
    for got, want in zip(result.pose, unrefined):
        torch.testing.assert_close(got[1:], want, atol=1e-6, rtol=1e-6)


def test_iterations_count_forward_passes_and_zero_keeps_the_unrefined_pose():
    model, distance, rgb, points = inputs("cpu")
    with torch.no_grad():
        feature = model.encode(distance, rgb)
        unrefined = model.decode_pose(feature)
    for iterations in (0, 1):  # one forward pass: the unrefined pose, no step
        result = refine_feature(model, feature, points, RefineSettings(0.3, iterations, 0.0))
        assert result.iterations_run == 0
        torch.testing.assert_close(result.pose.quaternion, unrefined.quaternion)
    assert refine_feature(model, feature, points, RefineSettings(0.3, 7, 0.0)).iterations_run == 6


def test_memory_budget_sets_the_chunk_and_the_estimate_does_not_depend_on_it():
    model = DualPoseNet(TINY)
    per_object = encoder_bytes_per_object(model)
    assert per_object == 5 * 4 * sum(p.numel() for p in model.encoder.parameters())
    assert objects_per_chunk(model, 0) is None
    assert objects_per_chunk(model, 3.5 * per_object / 2**20) == 3
    assert objects_per_chunk(model, 1e-6) == 1
    with pytest.raises(ValueError, match="refine_memory_budget_mb"):
        EstimatorSettings(refine_memory_budget_mb=-1)

    frame = make_frame(4)
    refine = RefineSettings(1e-3, 3, 0.0)
    results = []
    for budget in (0.0, 1.5 * per_object / 2**20):  # all at once, one object at a time
        # One pass: every instance is refined (a random decoder's boxes would stop longer passes early).
        estimator = PoseEstimator(model, "cpu", EstimatorSettings(passes=1, refine_encoder=refine,
                                                                  refine_memory_budget_mb=budget))
        results.append(estimator.estimate(frame, refine=RefineMode.ENCODER))
    for once, chunked in zip(*results):
        assert once.refined and chunked.refined
        np.testing.assert_allclose(chunked.rotation, once.rotation, atol=1e-5)
        np.testing.assert_allclose(chunked.translation, once.translation, atol=1e-5)


OOM_CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch
    from dualposenet_ros.core.config import ModelConfig
    from dualposenet_ros.model.network import DualPoseNet
    from dualposenet_ros.inference.refine import RefineSettings, encoder_bytes_per_object, refine_encoder_in_chunks

    torch.set_num_threads(1)
    torch.manual_seed(0)
    # An encoder of about 3 M parameters: each object's refinement holds about 60 MB.
    config = ModelConfig(resolution=16, filters=(8, 8, 16, 16, 32, 32, 64, 64), feature_dim=512,
                         head_hidden=(32, 16), implicit_hidden=(32, 16, 8), num_points=64)
    model = DualPoseNet(config).eval().requires_grad_(False)
    n, count = config.resolution, 8
    maps = (torch.rand(count, 1, n, n) * 0.1, torch.rand(count, 3, n, n) - 0.5)
    points = torch.randn(count, 64, 3) * 0.05
    settings = RefineSettings(1e-4, 2, 0.0)
    reference, _ = refine_encoder_in_chunks(model, *maps, points, settings, chunk=1)
    per_object = encoder_bytes_per_object(model)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)

    def refine_within(room):
        status = open("/proc/self/status").read()
        size = int(next(line for line in status.splitlines() if line.startswith("VmSize")).split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + room, hard))
        try:
            return refine_encoder_in_chunks(model, *maps, points, settings, chunk=None)
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    result, used = refine_within(3 * per_object)  # room for about two objects
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(result.pose, reference.pose))
    starved, _ = refine_within(per_object // 3)  # not even one object: the unrefined poses
    with torch.no_grad():
        unrefined = model.decode_pose(model.encode(*maps))
    kept = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(starved.pose, unrefined))
    print(json.dumps({"used": used, "count": count, "same": same, "refined": result.refined is None,
                      "starved_refined": starved.refined.tolist(), "starved_kept_unrefined": kept}))
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or sys.platform != "linux",
                    reason="address-space limits of Linux provoke the out-of-memory error")
def test_running_out_of_memory_refines_in_smaller_chunks_with_a_warning():
    """A real allocation failure (the process's address space is limited to what about two
    objects need): the chunk is halved until it fits, the poses are those of one at a time; with
    room for less than one object, every object keeps its unrefined pose, marked not refined."""
    # Large tensors mapped and unmapped one by one, so the address space shrinks back when they are freed.
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", OOM_CHILD], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["same"] and report["refined"]
    assert 1 <= report["used"] < report["count"]
    assert "ran out of memory" in done.stderr
    assert report["starved_refined"] == [False] * report["count"] and report["starved_kept_unrefined"]
    assert "does not fit in memory: its unrefined pose is kept" in done.stderr
