"""Projected 3D boxes and object axes on images (the node's ~/debug_image and the CLI's pictures).

Everything is in the camera **optical** frame (x right, y down, z forward, metres); a point
(x, y, z) projects to u = fx x / z + cx, v = fy y / z + cy. Segments with an end behind the camera
(z below ``near``) are not drawn. Images are (H, W, 3) uint8 in RGB order; colours are RGB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from ..core.camera import Intrinsics

__all__ = ["BOX_EDGES", "CATEGORY_COLORS", "box_corners", "draw_estimates", "project_points"]

CATEGORY_COLORS: dict[str, tuple[int, int, int]] = {
    "bottle": (31, 119, 180),
    "bowl": (255, 127, 14),
    "camera": (44, 160, 44),
    "can": (214, 39, 40),
    "laptop": (148, 103, 189),
    "mug": (227, 119, 194),
}
"""RGB colour of each category (0..255), shared by the debug image and the RViz markers."""

AXIS_COLORS: tuple[tuple[int, int, int], ...] = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
"""Object x, y, z axes: red, green, blue (the RViz convention)."""

BOX_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5), (2, 6), (3, 7))
"""Index pairs into :func:`box_corners` forming the 12 edges of a box."""


def box_corners(size: Sequence[float] | np.ndarray) -> np.ndarray:
    """(8, 3) corners of a box of extents ``size`` centred on the origin of its own frame.

    Corner ``i`` has sign bits (x, y, z) = (i >> 2, i >> 1, i) & 1 (0 = negative side)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return signs * (np.asarray(size, dtype=np.float64).reshape(3) / 2.0)


def project_points(points: np.ndarray, intrinsics: Intrinsics, near: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N, 2) of optical-frame points (N, 3), and which are in front (z > near)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    z = points[:, 2]
    in_front = z > near
    safe = np.where(in_front, z, 1.0)
    uv = np.stack([intrinsics.fx * points[:, 0] / safe + intrinsics.cx,
                   intrinsics.fy * points[:, 1] / safe + intrinsics.cy], axis=-1)
    return uv, in_front & np.all(np.isfinite(uv), axis=-1)


def _segment(image: np.ndarray, a: np.ndarray, b: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    height, width = image.shape[:2]
    margin = 4.0 * max(height, width)  # keep far-off coordinates in int range; cv2 clips the rest
    p = tuple(int(round(v)) for v in np.clip(a, -margin, margin))
    q = tuple(int(round(v)) for v in np.clip(b, -margin, margin))
    cv2.line(image, p, q, color, thickness, cv2.LINE_AA)


def _label(image: np.ndarray, text: str, anchor: np.ndarray, color: tuple[int, int, int]) -> None:
    height, width = image.shape[:2]
    font, scale, weight = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, min(height, width) / 900.0), 1
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, weight)
    x = int(np.clip(anchor[0] - text_w / 2, 0, max(width - text_w, 0)))
    y = int(np.clip(anchor[1] - 4, text_h + 2, max(height - baseline - 2, text_h + 2)))
    cv2.rectangle(image, (x - 2, y - text_h - 2), (x + text_w + 2, y + baseline), color, cv2.FILLED)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x, y), font, scale, ink, weight, cv2.LINE_AA)


def _category(estimate: Any) -> str:
    category = getattr(estimate, "category", None)
    return str(category) if category is not None else "object"


def draw_estimates(rgb: np.ndarray, estimates: Iterable[Any], intrinsics: Intrinsics, *,
                   thickness: int | None = None, color: tuple[int, int, int] | None = None,
                   labels: bool = True, axes: bool = True, only_ok: bool = True) -> np.ndarray:
    """A copy of ``rgb`` with each object's 3D box, axes and label (category and score) drawn.

    ``estimates`` are :class:`~dualposenet_ros.core.estimates.ObjectEstimate` (or anything with
    ``rotation`` (3, 3) object-to-camera, ``translation`` (3,) and ``size`` (3,) in metres, and
    optionally ``category``, ``score`` and ``status``). The box has extents ``size`` along the
    object axes, centred at ``translation``; the axes are 0.6 x the largest extent long. ``color``
    overrides the per-category colour (e.g. to draw ground truth in white). With ``only_ok``,
    estimates whose ``status`` is not OK (0) are skipped: their pose is a placeholder."""
    image = np.array(rgb, dtype=np.uint8, copy=True)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if thickness is None:
        thickness = max(1, int(round(min(image.shape[:2]) / 320)))
    for estimate in estimates:
        if only_ok and int(getattr(estimate, "status", 0)) != 0:
            continue
        rotation = np.asarray(estimate.rotation, dtype=np.float64).reshape(3, 3)
        translation = np.asarray(estimate.translation, dtype=np.float64).reshape(3)
        size = np.asarray(estimate.size, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(rotation)) and np.all(np.isfinite(translation)) and np.all(np.isfinite(size))):
            continue
        box_color = color or CATEGORY_COLORS.get(_category(estimate), (255, 255, 255))
        corners = box_corners(size) @ rotation.T + translation
        uv, ok = project_points(corners, intrinsics)
        for i, j in BOX_EDGES:
            if ok[i] and ok[j]:
                _segment(image, uv[i], uv[j], box_color, thickness)
        if axes:
            length = 0.6 * float(size.max())
            ends = np.vstack([translation, *(translation + rotation[:, axis] * length for axis in range(3))])
            axis_uv, axis_ok = project_points(ends, intrinsics)
            for axis in range(3):
                if axis_ok[0] and axis_ok[axis + 1]:
                    _segment(image, axis_uv[0], axis_uv[axis + 1], AXIS_COLORS[axis], thickness + 1)
        if labels and ok.any():
            score = getattr(estimate, "score", None)
            text = _category(estimate) if score is None else f"{_category(estimate)} {float(score):.2f}"
            visible = uv[ok]
            anchor = visible[np.argmin(visible[:, 1])]  # above the top-most visible corner
            _label(image, text, anchor, box_color)
    return image
