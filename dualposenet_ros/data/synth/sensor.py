"""Sensor effects: depth noise and holes like a structured-light camera, colour noise, blur and variety.

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
    """Noise model: sigma(z) = base + quadratic * z^2 (m); holes as blobs, at edges, at random.

    The fields after ``max_range`` are the structured-light / active-stereo effects of a RealSense
    D4xx, off by default (:data:`REALSENSE_DEPTH_NOISE` turns them on; ``dualposenet synth
    --effects`` one by one): depth quantised in disparity steps (so the step grows with z^2);
    flying pixels at depth edges (a depth between the two sides); holes in patches on dark
    surfaces (little infrared comes back) and on saturated highlights (specular surfaces).
    """

    base_sigma: float = 0.0008
    quadratic_sigma: float = 0.0015
    blobs: tuple[int, int] = (0, 5)
    blob_radius_px: tuple[float, float] = (3.0, 18.0)
    edge_jump: float = 0.02  # depth step (m) that counts as an edge
    edge_dropout: float = 0.5  # probability that an edge pixel loses its depth
    random_dropout: float = 0.002
    max_range: float = 5.0
    disparity_step: float = 0.0  # px of disparity per depth level (D4xx subpixel ~0.08); 0 = mm rounding only
    baseline_focal: float = 0.05 * 600.0  # stereo baseline (m) x focal length (px): disparity = this / z
    flying_pixels: float = 0.0  # probability that an edge pixel (kept) takes a depth between its two sides
    dark_dropout: float = 0.0  # hole probability on the darkest surfaces (falls to 0 at dark_level)
    dark_level: float = 0.12  # linear brightness below which surfaces start to lose depth
    specular_dropout: float = 0.0  # hole probability where the brightness exceeds specular_level
    specular_level: float = 0.92
    patch_px: int = 6  # size of the hole patches on dark and shiny surfaces


DEFAULT_DEPTH_NOISE = DepthNoise()
NO_DEPTH_NOISE = DepthNoise(base_sigma=0.0, quadratic_sigma=0.0, blobs=(0, 0), edge_dropout=0.0, random_dropout=0.0)
"""Only the rounding to mm (and the range limit) is left."""
REALSENSE_DEPTH_NOISE = DepthNoise(disparity_step=0.08, flying_pixels=0.4, dark_dropout=0.7, specular_dropout=0.6)
"""Every effect of a structured-light / active-stereo camera on."""


def corrupt_depth(depth: np.ndarray, rng: np.random.Generator, noise: DepthNoise = DEFAULT_DEPTH_NOISE,
                  brightness: np.ndarray | None = None) -> np.ndarray:
    """Noisy uint16 depth in mm from exact depth in metres (0 or inf = no surface).

    ``brightness`` (H, W, linear [0, 1] shaded brightness) is what the dark- and specular-surface
    holes look at; without it they are off. The random draws of the effects that are off are not
    made, so a noise model without them gives the depth it always gave."""
    depth = np.where(np.isfinite(depth), depth, 0.0)
    valid = (depth > 0) & (depth < noise.max_range)
    sigma = noise.base_sigma + noise.quadratic_sigma * depth**2
    noisy = depth + rng.standard_normal(depth.shape) * sigma
    drop = ~valid | (rng.random(depth.shape) < noise.random_dropout)
    edges = _edges(depth, noise.edge_jump)
    drop |= edges & (rng.random(depth.shape) < noise.edge_dropout)
    drop |= _blobs(depth.shape, rng, noise)
    if noise.flying_pixels > 0:
        noisy = _flying_pixels(noisy, depth, edges & ~drop, rng, noise.flying_pixels)
    if noise.disparity_step > 0:
        noisy = quantize_disparity(noisy, noise.disparity_step, noise.baseline_focal)
    if brightness is not None and (noise.dark_dropout > 0 or noise.specular_dropout > 0):
        drop |= _material_holes(brightness, rng, noise)
    millimetres = np.clip(np.rint(noisy * 1000.0), 0, MAX_DEPTH_MM)
    millimetres[drop] = 0
    return millimetres.astype(np.uint16)


def quantize_disparity(depth: np.ndarray, step: float, baseline_focal: float) -> np.ndarray:
    """Depth rounded to whole disparity steps: ``z = bf / (step * round(bf / (z * step)))``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        levels = np.rint(baseline_focal / (np.where(depth > 0, depth, np.inf) * step))
        quantized = np.where(levels > 0, baseline_focal / (levels * step), 0.0)
    return np.where(depth > 0, quantized, depth)


def _flying_pixels(noisy: np.ndarray, depth: np.ndarray, edges: np.ndarray, rng: np.random.Generator,
                   probability: float) -> np.ndarray:
    """Edge pixels with a depth between the nearest and the farthest surface around them."""
    kernel = np.ones((3, 3), np.uint8)
    surface = depth.astype(np.float32)
    near = cv2.erode(np.where(depth > 0, surface, np.float32(1e3)), kernel)
    far = cv2.dilate(surface, kernel)
    flying = edges & (rng.random(depth.shape) < probability) & (near < far) & (near < 1e3)
    mix = rng.random(depth.shape)
    return np.where(flying, near + mix * (far - near), noisy)


def _material_holes(brightness: np.ndarray, rng: np.random.Generator, noise: DepthNoise) -> np.ndarray:
    """Patches without depth on dark and on saturated (specular) surfaces."""
    height, width = brightness.shape
    size = max(1, int(noise.patch_px))
    coarse = rng.random(((height + size - 1) // size, (width + size - 1) // size)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_NEAREST)  # one draw per patch
    dark = noise.dark_dropout * np.clip(1.0 - brightness / max(noise.dark_level, 1e-6), 0.0, 1.0)
    shiny = np.where(brightness >= noise.specular_level, noise.specular_dropout, 0.0)
    return field < np.maximum(dark, shiny)


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


def vary_color(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another camera and light: exposure (x0.6..1.4), white balance (+-15 % per channel) and
    gamma (0.8..1.25) of a linear [0, 1] image, as auto-exposure and room lights vary."""
    gain = rng.uniform(0.6, 1.4) * rng.uniform(0.85, 1.15, size=3)
    gamma = rng.uniform(0.8, 1.25)
    return np.clip(rgb * gain, 0.0, 1.0) ** gamma


def finish_color(rgb: np.ndarray, rng: np.random.Generator, sigma: float = 0.012) -> np.ndarray:
    """uint8 image from linear [0, 1] colour: slight blur (lens / anti-aliasing) and sensor noise."""
    blurred = cv2.GaussianBlur(rgb.astype(np.float32), (3, 3), 0.6)
    noisy = blurred + rng.standard_normal(blurred.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)
