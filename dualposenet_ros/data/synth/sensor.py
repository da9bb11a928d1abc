"""Sensor effects: depth noise and holes like a structured-light camera, colour noise and blur.

They are applied after rendering, so the exact geometry (coordinate maps, poses) is untouched
and the corruption is what a method must be robust to, as with real RGB-D data.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_DEPTH_MM = 65535


@dataclass(frozen=True)
class DepthNoise:
    """Noise model: sigma(z) = base + quadratic * z^2 (m); holes as blobs, at edges, at random."""

    base_sigma: float = 0.0008
    quadratic_sigma: float = 0.0015
    blobs: tuple[int, int] = (0, 5)
    blob_radius_px: tuple[float, float] = (3.0, 18.0)
    edge_jump: float = 0.02  # depth step (m) that counts as an edge
    edge_dropout: float = 0.5  # probability that an edge pixel loses its depth
    random_dropout: float = 0.002
    max_range: float = 5.0


DEFAULT_DEPTH_NOISE = DepthNoise()
NO_DEPTH_NOISE = DepthNoise(base_sigma=0.0, quadratic_sigma=0.0, blobs=(0, 0), edge_dropout=0.0, random_dropout=0.0)
"""Only the rounding to mm (and the range limit) is left."""


def corrupt_depth(depth: np.ndarray, rng: np.random.Generator, noise: DepthNoise = DEFAULT_DEPTH_NOISE) -> np.ndarray:
    """Noisy uint16 depth in mm from exact depth in metres (0 or inf = no surface)."""
    depth = np.where(np.isfinite(depth), depth, 0.0)
    valid = (depth > 0) & (depth < noise.max_range)
    sigma = noise.base_sigma + noise.quadratic_sigma * depth**2
    noisy = depth + rng.standard_normal(depth.shape) * sigma
    drop = ~valid | (rng.random(depth.shape) < noise.random_dropout)
    drop |= _edges(depth, noise.edge_jump) & (rng.random(depth.shape) < noise.edge_dropout)
    drop |= _blobs(depth.shape, rng, noise)
    millimetres = np.clip(np.rint(noisy * 1000.0), 0, MAX_DEPTH_MM)
    millimetres[drop] = 0
    return millimetres.astype(np.uint16)


def _edges(depth: np.ndarray, jump: float) -> np.ndarray:
    """Pixels next to a depth discontinuity (or next to a pixel without depth)."""
    kernel = np.ones((3, 3), np.uint8)
    far = np.where(depth > 0, depth, 1e3).astype(np.float32)
    spread = cv2.dilate(far, kernel) - cv2.erode(far, kernel)
    return spread > jump


def _blobs(shape: tuple[int, int], rng: np.random.Generator, noise: DepthNoise) -> np.ndarray:
    """Random elliptic dropout regions."""
    mask = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(noise.blobs[0], noise.blobs[1] + 1))):
        centre = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0])))
        axes = (int(rng.uniform(*noise.blob_radius_px)), int(rng.uniform(*noise.blob_radius_px)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)


def finish_color(rgb: np.ndarray, rng: np.random.Generator, sigma: float = 0.012) -> np.ndarray:
    """uint8 image from linear [0, 1] colour: slight blur (lens / anti-aliasing) and sensor noise."""
    blurred = cv2.GaussianBlur(rgb.astype(np.float32), (3, 3), 0.6)
    noisy = blurred + rng.standard_normal(blurred.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)
