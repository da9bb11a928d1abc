"""Limits of the estimator that keep a frame bounded and honest: the refinement time budget and
cancellation (best pose so far kept), and where an instance without depth points is placed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualposenet_ros.core.estimates import EstimateStatus, FrameInput, InstanceInput, RefineMode
from dualposenet_ros.inference.refine import RefineSettings, refine_feature
from ros_node_support import INTRINSICS, tiny_estimator, tiny_model


def _frame(depth: np.ndarray) -> FrameInput:
    mask = np.zeros((48, 64), bool)
    mask[10:30, 8:28] = True
    rgb = np.full((48, 64, 3), 100, np.uint8)
    return FrameInput(rgb=rgb, depth=depth, intrinsics=INTRINSICS, instances=(InstanceInput(mask, 6, 0.9, 1),))


def _refine_inputs():
    model = tiny_model()
    torch.manual_seed(1)
    return model, torch.randn(2, model.config.feature_dim), torch.randn(2, model.config.num_points, 3) * 0.1


def test_unlimited_refinement_runs_every_iteration():
    model, feature, points = _refine_inputs()
    result = refine_feature(model, feature, points, RefineSettings(1e-3, 12, 0.0))
    assert (result.iterations_run, result.stopped) == (12, None)


def test_a_spent_time_budget_stops_refinement_and_keeps_the_best_pose_so_far():
    import time

    model, feature, points = _refine_inputs()
    settings = RefineSettings(1e-3, 20000, 0.0)
    result = refine_feature(model, feature, points, settings, deadline=time.monotonic())
    assert (result.iterations_run, result.stopped) == (0, "time budget")
    with torch.no_grad():  # iteration 0 is the unrefined pose: that is the best so far
        assert torch.allclose(result.pose.quaternion, model.decode_pose(feature).quaternion)


def test_should_stop_cancels_between_iterations():
    model, feature, points = _refine_inputs()
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    result = refine_feature(model, feature, points, RefineSettings(1e-3, 20000, 0.0), should_stop=stop_after_three)
    assert (result.iterations_run, result.stopped) == (3, "cancelled")
    assert torch.all(torch.isfinite(result.loss))


@pytest.mark.parametrize("mode", [RefineMode.FEATURE, RefineMode.ENCODER])
def test_the_estimator_honours_its_refinement_time_budget(mode):
    depth = np.full((48, 64), 0.6, np.float32)
    estimator = tiny_estimator()
    budget = estimator.settings.replace(refine=mode, refine_time_budget=1e-9,
                                        refine_feature=RefineSettings(1e-3, 20000, 0.0),
                                        refine_encoder=RefineSettings(1e-5, 20000, 0.0))
    estimator.settings = budget
    (estimate,) = estimator.estimate(_frame(depth))
    assert estimator.last_refine_stopped == "time budget" and estimate.refined and estimate.status == EstimateStatus.OK
    estimator.settings = budget.replace(refine_time_budget=0.0, refine_feature=RefineSettings(1e-3, 2, 0.0),
                                        refine_encoder=RefineSettings(1e-5, 2, 0.0))
    estimator.estimate(_frame(depth))
    assert estimator.last_refine_stopped is None


def test_an_instance_without_depth_points_sits_on_its_mask_centroid_ray():
    """It used to be placed at (0, 0, 0) while ObjectPose.msg promises the mask centroid."""
    depth = np.full((48, 64), 1.5, np.float32)
    depth[10:30, 8:28] = 0.0  # no depth inside the mask; the frame's median valid depth is 1.5 m
    (estimate,) = tiny_estimator().estimate(_frame(depth))
    row, col = 20, 18  # centroid pixel of rows 10..29, cols 8..27
    expected = np.array([(col - INTRINSICS.cx) / INTRINSICS.fx, (row - INTRINSICS.cy) / INTRINSICS.fy, 1.0]) * 1.5
    assert estimate.status == EstimateStatus.TOO_FEW_POINTS and estimate.num_points == 0
    assert np.allclose(estimate.translation, expected)
    (estimate,) = tiny_estimator().estimate(_frame(np.zeros((48, 64), np.float32)))  # no depth at all: 1 m
    assert np.allclose(estimate.translation, expected / 1.5)


def test_the_test_phases_take_a_refinement_time_budget():
    import argparse

    from dualposenet_ros.research.phases import configure_parser, estimator_settings

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--data", "d", "--phase", "test_refine_feature", "--refine-time-budget", "0.5"])
    assert estimator_settings(args).refine_time_budget == 0.5
    assert estimator_settings(parser.parse_args(["--data", "d"])).refine_time_budget == 0.0  # reproducible default
    with pytest.raises(ValueError, match="--refine-time-budget must be >= 0"):
        estimator_settings(parser.parse_args(["--data", "d", "--refine-time-budget", "-1"]))
