"""Pinhole camera intrinsics and lens distortion, shared by the data tools, the pipeline and the ROS node.

A plain NamedTuple of numbers, so modules that only read or write data never import torch.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Intrinsics(NamedTuple):
    """Pinhole intrinsics in pixels (pixel centres at integer coordinates)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_matrix(cls, matrix: Any) -> "Intrinsics":
        """From a 3x3 camera matrix ``K`` (e.g. ``CameraInfo.k`` reshaped)."""
        k = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

    @classmethod
    def coerce(cls, value: Any) -> "Intrinsics":
        """Accept an object with ``fx, fy, cx, cy``, a 3x3 matrix or a 4-sequence."""
        if all(hasattr(value, name) for name in cls._fields):
            return cls(*(float(getattr(value, name)) for name in cls._fields))
        values = np.asarray(value, dtype=np.float64)
        if values.shape in ((3, 3), (9,)):
            return cls.from_matrix(values)
        if values.shape == (4,):
            return cls(*(float(v) for v in values))
        raise ValueError(f"cannot read intrinsics from {type(value).__name__} of shape {values.shape}")

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix ``K`` (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, factor_x: float, factor_y: float) -> "Intrinsics":
        """Intrinsics of the same camera with the image resized by these factors."""
        return Intrinsics(self.fx * factor_x, self.fy * factor_y,
                          (self.cx + 0.5) * factor_x - 0.5, (self.cy + 0.5) * factor_y - 0.5)


DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")
"""Lens models of ``sensor_msgs/CameraInfo`` (``distortion_model``) that :class:`Distortion` undoes."""


class Distortion(NamedTuple):
    """Lens distortion of a camera: a ``CameraInfo`` model name and its coefficients ``D``.

    ``plumb_bob`` (k1, k2, p1, p2, k3) and ``rational_polynomial`` (k1..k6 after p1, p2, up to 14
    values) are OpenCV's standard model, ``equidistant`` (k1..k4) its fisheye model."""

    model: str
    coefficients: tuple[float, ...]

    @classmethod
    def create(cls, model: str, coefficients: Any) -> "Distortion":
        """Checked constructor: raises ValueError for another model or a wrong number of values."""
        values = tuple(float(v) for v in coefficients)
        if model not in DISTORTION_MODELS:
            raise ValueError(f"distortion model {model!r} is not supported (supported: {', '.join(DISTORTION_MODELS)})")
        allowed = {"plumb_bob": (4, 5, 8, 12, 14), "rational_polynomial": (4, 5, 8, 12, 14), "equidistant": (4,)}[model]
        if len(values) not in allowed or not np.all(np.isfinite(values)):
            raise ValueError(f"{model} distortion needs {' or '.join(map(str, allowed))} finite coefficients, "
                             f"got {list(values)}")
        return cls(model, values)

    @property
    def is_zero(self) -> bool:
        return not any(self.coefficients)

    def undistort(self, cols: np.ndarray, rows: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Normalised image coordinates (x/z, y/z) of the rays seen at distorted pixels ``(cols, rows)``."""
        import cv2

        pixels = np.stack([cols, rows], axis=-1).astype(np.float64).reshape(-1, 1, 2)
        if pixels.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        coefficients = np.asarray(self.coefficients, dtype=np.float64)
        if self.model == "equidistant":
            normalised = cv2.fisheye.undistortPoints(pixels, intrinsics.matrix, coefficients)
        else:
            criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-10)
            if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4
                normalised = cv2.undistortPointsIter(pixels, intrinsics.matrix, coefficients, None, None, criteria)
            else:  # OpenCV 5: the iteration criteria are an argument of undistortPoints
                normalised = cv2.undistortPoints(pixels, intrinsics.matrix, coefficients, criteria=criteria)
        normalised = normalised.reshape(-1, 2)
        return normalised[:, 0], normalised[:, 1]


Intrinsics.CAMERA = Intrinsics(577.5, 577.5, 319.5, 239.5)  # type: ignore[attr-defined]
"""The synthetic NOCS CAMERA dataset (640x480)."""
Intrinsics.REAL = Intrinsics(591.0125, 590.16775, 322.525, 244.11084)  # type: ignore[attr-defined]
"""The NOCS Real dataset (640x480)."""
