"""draw_estimates: boxes and axes land where the pinhole projection puts them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dualposenet_ros.model.preprocess import Intrinsics
from dualposenet_ros.inference.visualize import (
    AXIS_COLORS,
    CATEGORY_COLORS,
    box_corners,
    draw_estimates,
    project_points,
)

K = Intrinsics(fx=200.0, fy=200.0, cx=159.5, cy=119.5)


def obj(translation=(0.0, 0.0, 1.0), size=(0.2, 0.1, 0.1), rotation=None, status=0):
    return SimpleNamespace(rotation=np.eye(3) if rotation is None else rotation, translation=np.array(translation),
                           size=np.array(size), category="mug", score=0.9, status=status)


def test_projection_matches_the_pinhole_model():
    uv, ok = project_points(np.array([[0.1, -0.2, 2.0], [0.0, 0.0, -1.0]]), K)
    assert ok.tolist() == [True, False]
    assert uv[0] == pytest.approx([200 * 0.05 + 159.5, 200 * -0.1 + 119.5])


def test_box_corners_are_the_extents():
    corners = box_corners([0.2, 0.4, 0.6])
    assert corners.min(0) == pytest.approx([-0.1, -0.2, -0.3]) and corners.max(0) == pytest.approx([0.1, 0.2, 0.3])


def test_box_edges_are_drawn_at_the_projected_corners_and_input_untouched():
    rgb = np.zeros((240, 320, 3), np.uint8)
    out = draw_estimates(rgb, [obj()], K, labels=False, axes=False, thickness=1)
    assert rgb.max() == 0 and out.shape == rgb.shape and out.dtype == np.uint8
    # Front face (z = 0.95): x = +-0.1 -> u = 159.5 +- 21.05; y = +-0.05 -> v = 119.5 +- 10.5.
    colour = np.array(CATEGORY_COLORS["mug"])
    for u, v in [(159.5 + 21.05, 119.5), (159.5 - 21.05, 119.5), (159.5, 119.5 + 10.53), (159.5, 119.5 - 10.53)]:
        patch = out[int(round(v)) - 1:int(round(v)) + 2, int(round(u)) - 1:int(round(u)) + 2].reshape(-1, 3)
        assert np.any(np.all(np.abs(patch.astype(int) - colour) < 90, axis=1)), (u, v)
    assert out[119, 159].max() == 0  # box centre: nothing drawn there
    assert out[5, 5].max() == 0


def test_axes_point_along_the_object_axes():
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # object x -> camera y (down)
    out = draw_estimates(np.zeros((240, 320, 3), np.uint8), [obj(size=(0.3, 0.3, 0.3), rotation=rotation)], K,
                         labels=False, thickness=1)
    # object x axis (red) is 0.18 m long along camera +y: from v = 119.5 down to 119.5 + 36.
    column = out[125:150, 158:162].reshape(-1, 3)
    assert np.any(np.all(column == AXIS_COLORS[0], axis=1))


def test_objects_behind_the_camera_and_failed_estimates_are_skipped():
    rgb = np.zeros((240, 320, 3), np.uint8)
    assert draw_estimates(rgb, [obj(translation=(0, 0, -1.0))], K).max() == 0
    assert draw_estimates(rgb, [obj(status=1)], K).max() == 0
    assert draw_estimates(rgb, [obj(translation=(np.nan, 0, 1.0))], K).max() == 0
    assert draw_estimates(rgb, [obj(status=1)], K, only_ok=False).max() > 0


def test_partly_behind_the_camera_draws_only_the_visible_part():
    out = draw_estimates(np.zeros((240, 320, 3), np.uint8), [obj(translation=(0, 0, 0.0), size=(0.4, 0.4, 1.0))], K,
                         labels=False, axes=False)
    assert out.max() > 0  # the far face is in front of the camera and drawn


def test_label_and_colour_override():
    out = draw_estimates(np.zeros((240, 320, 3), np.uint8), [obj()], K, color=(255, 255, 255), axes=False)
    assert np.any(np.all(out == 255, axis=-1))
    with pytest.raises(ValueError):
        draw_estimates(np.zeros((4, 4), np.uint8), [], K)
