"""Per-instance pre-processing: back-projection, RGB normalisation, point sampling, spherical maps.

Everything here follows the DualPoseNet reference pre-processing, quirks included, because the
official weights were trained on its outputs. Points are in the NOCS camera frame (x left, y up,
z forward; see :mod:`dualposenet_ros.core.frames`).

Spherical maps have three implementations with identical outputs: :func:`spherical_maps_reference`
(the per-point loop, the definition), :func:`spherical_maps` (vectorised NumPy, one instance) and
:func:`spherical_maps_batch` (torch, all instances of a frame at once, any device with float64).
Binning is done in float64 in all three (the loop uses Python floats); Python's ``round`` and
``np.round`` / ``torch.round`` all round half to even, so the three agree bin for bin.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ..core.camera import Distortion, Intrinsics

__all__ = [
    "RGB_MEAN",
    "Intrinsics",
    "backproject",
    "centre",
    "normalize_rgb",
    "sample_point_indices",
    "spherical_maps",
    "spherical_maps_batch",
    "spherical_maps_reference",
]

RGB_MEAN: np.ndarray = np.array([123.7, 116.8, 103.9], dtype=np.float32)
"""Per-channel mean subtracted before dividing by 255 (RGB order)."""

RADIUS_EPSILON = 1e-10
"""Added under the square root of the radius, so the centroid itself has a direction."""




def backproject(
    depth: np.ndarray, intrinsics: Intrinsics, mask: np.ndarray, distortion: Distortion | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Masked depth pixels as (N, 3) float32 points in the NOCS camera frame, in the units of ``depth``.

    Only pixels inside ``mask`` with finite depth > 0 count. With a lens ``distortion``, each
    pixel's ray is undistorted first. Returns the points and the ``(rows, cols)`` of the pixels
    they came from (to pick their colours).
    """
    depth = np.asarray(depth)
    mask = np.asarray(mask)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) image, got shape {depth.shape}")
    if mask.shape != depth.shape:
        raise ValueError(f"mask shape {mask.shape} does not match depth shape {depth.shape}")
    z = depth.astype(np.float64)
    rows, cols = np.nonzero(mask.astype(bool) & np.isfinite(z) & (z > 0))
    z = z[rows, cols]
    if distortion is not None and not distortion.is_zero:
        x_over_z, y_over_z = distortion.undistort(cols, rows, intrinsics)
        x, y = x_over_z * z, y_over_z * z
    else:
        x = (cols - intrinsics.cx) * z / intrinsics.fx
        y = (rows - intrinsics.cy) * z / intrinsics.fy
    # NOCS camera convention: x and y negated (180 degrees about z from the optical frame).
    return np.stack([-x, -y, z], axis=-1).astype(np.float32), (rows, cols)


def normalize_rgb(rgb: np.ndarray) -> np.ndarray:
    """``(rgb - RGB_MEAN) / 255`` as float32; ``rgb`` is (..., 3) in RGB order."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) RGB values, got shape {rgb.shape}")
    return ((rgb.astype(np.float32) - RGB_MEAN) / np.float32(255.0)).astype(np.float32)


def sample_point_indices(
    count_available: int, count: int = 1024, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``count`` indices into ``count_available`` points: without replacement only if strictly more
    points are available than needed (as the reference), with replacement otherwise."""
    if count_available <= 0:
        raise ValueError("cannot sample from an empty point set")
    rng = np.random.default_rng() if rng is None else rng
    return rng.choice(count_available, size=count, replace=count_available <= count).astype(np.int64)


def centre(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points minus their centroid (computed in float64), and the centroid, both in the input's dtype."""
    points = np.asarray(points)
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    centroid = points.mean(axis=0, dtype=np.float64)
    return (points - centroid).astype(dtype), centroid.astype(dtype)


def _polar_radius_and_cells(x: Any, y: Any, z: Any, resolution: int, xp: ModuleType) -> tuple[Any, Any]:
    """Radius and flat cell index ``azimuth_bin * n + polar_bin`` of centred points (float64 arrays).

    ``xp`` is ``numpy`` or ``torch``: both spell these functions the same way, so the vectorised
    NumPy and torch versions share one transcription of the definition.
    """
    radius = xp.sqrt(x * x + y * y + z * z + RADIUS_EPSILON)
    polar = xp.round(xp.arccos(z / radius) / (math.pi / resolution)) % resolution
    angle = xp.arctan2(y, x)
    angle = xp.where(y < 0, angle + 2 * math.pi, angle)
    azimuth = xp.where(y == 0, 0.0, xp.round(angle / (2 * math.pi / resolution))) % resolution
    return radius, azimuth * resolution + polar


def spherical_maps_reference(
    points: np.ndarray, colors: np.ndarray, resolution: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The definition, one point at a time: distance (n, n, 1) and colour (n, n, 3) maps, [azimuth, polar].

    Slow; kept as the specification the vectorised versions are tested against.
    """
    n = resolution
    distance = np.zeros((n, n, 1), dtype=np.float64)  # compared in double precision, cast at the end
    rgb = np.zeros((n, n, 3), dtype=np.float32)
    for (x, y, z), color in zip(np.asarray(points, dtype=np.float64).tolist(), np.asarray(colors)):
        r = math.sqrt(x * x + y * y + z * z + RADIUS_EPSILON)
        p = round(math.acos(z / r) / (math.pi / n)) % n
        if y > 0:
            a = round(math.atan2(y, x) / (2 * math.pi / n))
        elif y < 0:
            a = round((math.atan2(y, x) + 2 * math.pi) / (2 * math.pi / n))
        else:
            a = 0
        a %= n
        if r >= distance[a, p, 0]:
            distance[a, p, 0] = r
            rgb[a, p] = color
    return distance.astype(np.float32), rgb


def _check_cloud(points: Any, colors: Any) -> None:
    if points.shape[-1] != 3 or colors.shape != points.shape:
        raise ValueError(f"expected points and colours of equal shape (..., 3), got {points.shape} and {colors.shape}")


def spherical_maps(points: np.ndarray, colors: np.ndarray, resolution: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Distance (n, n, 1) and colour (n, n, 3) float32 maps of centred ``points``, layout [azimuth, polar].

    Each cell keeps the farthest point that falls in it (the later one on ties) and that point's
    colour; empty cells are 0. Equal to :func:`spherical_maps_reference`, without a Python loop.
    """
    points = np.asarray(points, dtype=np.float64)
    colors = np.asarray(colors, dtype=np.float32)
    _check_cloud(points, colors)
    if points.ndim != 2:
        raise ValueError(f"expected one (N, 3) cloud, got shape {points.shape}")
    n = resolution
    radius, cells = _polar_radius_and_cells(points[:, 0], points[:, 1], points[:, 2], n, np)
    cells = cells.astype(np.int64)
    # Rank the points by radius with a stable sort: equal radii keep their visiting order, so the
    # highest rank in a cell is the survivor of the per-point loop (largest r, later on ties).
    order = np.argsort(radius, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    best_rank = np.full(n * n, -1, dtype=np.int64)
    np.maximum.at(best_rank, cells, rank)
    occupied = best_rank >= 0
    winners = order[best_rank[occupied]]
    distance = np.zeros((n * n, 1), dtype=np.float32)
    rgb = np.zeros((n * n, 3), dtype=np.float32)
    distance[occupied, 0] = radius[winners]
    rgb[occupied] = colors[winners]
    return distance.reshape(n, n, 1), rgb.reshape(n, n, 3)


def spherical_maps_batch(
    points: torch.Tensor, colors: torch.Tensor, valid: torch.Tensor, resolution: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spherical maps of a padded batch of centred clouds in one call, in the network's layout.

    ``points`` and ``colors`` are (B, N, 3), ``valid`` (B, N) marks real points (not padding).
    Returns distance (B, 1, n, n) in ``points.dtype`` and colour (B, 3, n, n) in ``colors.dtype``,
    ``(batch, channels, azimuth, polar)``, equal to :func:`spherical_maps` per instance. Binning
    runs in float64 on the input's device.
    """
    _check_cloud(points, colors)
    if valid.shape != points.shape[:-1]:
        raise ValueError(f"valid mask shape {tuple(valid.shape)} does not match points {tuple(points.shape)}")
    batch, count, _ = points.shape
    n = resolution
    valid = valid.to(torch.bool)
    coords = torch.where(valid[..., None], points.to(torch.float64), 0.0)  # padding may hold garbage
    radius, cells = _polar_radius_and_cells(coords[..., 0], coords[..., 1], coords[..., 2], n, torch)
    flat_cells = (cells.to(torch.int64) + n * n * torch.arange(batch, device=points.device)[:, None]).flatten()

    # Survivor per cell: the largest radius, then the largest index among the points reaching it.
    valid = valid.flatten()
    radius = torch.where(valid, radius.flatten(), -math.inf)
    best_radius = radius.new_full((batch * n * n,), -math.inf).scatter_reduce(0, flat_cells, radius, "amax")
    index = torch.arange(count, device=points.device).expand(batch, count).flatten()
    candidate = torch.where(valid & (radius == best_radius[flat_cells]), index, -1)
    winner = torch.full_like(best_radius, -1, dtype=torch.int64).scatter_reduce(0, flat_cells, candidate, "amax")
    winner = winner.view(batch, n * n)
    occupied = winner >= 0
    winner = winner.clamp(min=0)

    distance = torch.gather(radius.view(batch, count), 1, winner).to(points.dtype)
    distance = torch.where(occupied, distance, 0.0).view(batch, 1, n, n)
    rgb = torch.gather(colors, 1, winner[..., None].expand(-1, -1, 3))
    rgb = torch.where(occupied[..., None], rgb, 0.0).view(batch, n, n, 3).permute(0, 3, 1, 2).contiguous()
    return distance, rgb
