"""Pinhole camera intrinsics, shared by the data tools, the pipeline and the ROS node.

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


Intrinsics.CAMERA = Intrinsics(577.5, 577.5, 319.5, 239.5)  # type: ignore[attr-defined]
"""The synthetic NOCS CAMERA dataset (640x480)."""
Intrinsics.REAL = Intrinsics(591.0125, 590.16775, 322.525, 244.11084)  # type: ignore[attr-defined]
"""The NOCS Real dataset (640x480)."""
