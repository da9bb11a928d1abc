"""Procedural colours: per-object materials (base colour with stripes or noise, part colours)
and textures for the table, the floor and the background.

Textures are functions of surface coordinates (NOCS coordinates for objects, metres on the
planes), so they stick to the surfaces as objects and cameras move, and need no image files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...core.categories import category_name
from .mesh import ACCENT, DETAIL

PATTERNS: tuple[str, ...] = ("plain", "stripes", "noise", "bands")


def periodic_noise(
    rng: np.random.Generator, resolution: int, dims: int, lowest: float = 2.0, roughness: float = 1.6
) -> np.ndarray:
    """A tileable fractal noise tile (``resolution`` per side, ``dims`` = 2 or 3) in [0, 1].

    White noise shaped in the Fourier domain (amplitude ~ 1 / frequency ** roughness from
    ``lowest`` cycles per tile up), so it tiles seamlessly. Drawn once per material or plane and
    only looked up per pixel (:func:`sample_periodic`), far cheaper than per-pixel noise.
    """
    white = np.fft.rfftn(rng.standard_normal((resolution,) * dims))
    axes = [np.fft.fftfreq(resolution, 1.0 / resolution)] * (dims - 1) + [np.fft.rfftfreq(resolution, 1.0 / resolution)]
    frequency = np.sqrt(sum(axis**2 for axis in np.meshgrid(*axes, indexing="ij")))
    amplitude = np.where(frequency >= lowest, np.maximum(frequency, 1.0) ** -roughness, 0.0)
    tile = np.fft.irfftn(white * amplitude, s=(resolution,) * dims, axes=tuple(range(dims)))
    tile -= tile.min()
    return (tile / max(float(tile.max()), 1e-12)).astype(np.float32)


def sample_periodic(tile: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Tile value at (N, D) points in tile periods (the tile repeats every 1.0), linear interpolation."""
    coordinates = (np.asarray(points, dtype=np.float64) % 1.0) * tile.shape[0]
    return ndimage.map_coordinates(tile, coordinates.T, order=1, mode="grid-wrap")


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """RGB in [0, 1] of an HSV colour (hue in [0, 1))."""
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# Typical looks: (hue range, saturation range, value range) of the base colour.
_LOOKS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "bottle": ((0.0, 1.0), (0.2, 0.9), (0.25, 0.9)),
    "bowl": ((0.0, 1.0), (0.0, 0.7), (0.5, 0.95)),
    "camera": ((0.0, 1.0), (0.0, 0.25), (0.08, 0.75)),
    "can": ((0.0, 1.0), (0.5, 1.0), (0.4, 0.95)),
    "laptop": ((0.0, 1.0), (0.0, 0.15), (0.15, 0.85)),
    "mug": ((0.0, 1.0), (0.0, 0.9), (0.3, 0.95)),
}


@dataclass(frozen=True, eq=False)
class Material:
    """Colours of one object: base (with a pattern in a second colour), detail and accent parts.

    ``noise`` is a 3-D tile over NOCS space used by the 'noise' pattern and the surface grain.
    """

    base: np.ndarray
    second: np.ndarray
    detail: np.ndarray
    accent: np.ndarray
    pattern: str
    frequency: float
    direction: np.ndarray
    noise: np.ndarray
    specular: float
    shininess: float


_ANY_LOOK = ((0.0, 1.0), (0.0, 1.0), (0.1, 0.95))
"""The look of a category of one's own: any colour."""


def sample_material(category: int | str, rng: np.random.Generator) -> Material:
    """A random material with the look of the category (NOCS class id or category name; e.g.
    grey laptops, bright cans; any colour for a category of one's own)."""
    name = category_name(category) if isinstance(category, (int, np.integer)) else str(category)
    hue, saturation, value = _LOOKS.get(name, _ANY_LOOK)
    base = _hsv(rng.uniform(*hue), rng.uniform(*saturation), rng.uniform(*value))
    second = _hsv(rng.uniform(0, 1), rng.uniform(0.2, 1.0), rng.uniform(0.2, 1.0))
    direction = np.array([0.0, 1.0, 0.0]) if rng.uniform() < 0.6 else rng.normal(size=3)
    return Material(
        base=base,
        second=second,
        detail=_hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.3), rng.uniform(0.02, 0.3)),
        accent=_hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.8), rng.uniform(0.3, 0.9)),
        pattern=str(rng.choice(PATTERNS)),
        frequency=float(rng.uniform(4.0, 14.0)),
        direction=direction / np.linalg.norm(direction),
        noise=periodic_noise(rng, 24, 3),
        specular=float(rng.uniform(0.0, 0.5)),
        shininess=float(rng.uniform(10.0, 60.0)),
    )


def object_albedo(material: Material, coord: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) in [0, 1] of surface points with NOCS coordinates (N, 3) and part labels (N,).

    Body and handle carry the pattern; detail and accent parts are plain.
    """
    coord = np.asarray(coord, dtype=np.float64)
    if material.pattern == "stripes":
        mix = (np.sin(2 * np.pi * material.frequency * coord @ material.direction) > 0.3).astype(np.float64)
    elif material.pattern == "bands":  # a label band, as on bottles and cans
        height = coord @ material.direction
        mix = ((height > 0.35) & (height < 0.65)).astype(np.float64)
    elif material.pattern == "noise":
        mix = np.clip(2.0 * sample_periodic(material.noise, coord * material.frequency / 8.0) - 0.5, 0.0, 1.0)
    else:
        mix = np.zeros(len(coord))
    albedo = material.base[None] * (1.0 - mix[:, None]) + material.second[None] * mix[:, None]
    grain = 0.9 + 0.2 * sample_periodic(material.noise, coord * 4.0 + 0.37)  # fine surface grain
    albedo *= grain[:, None]
    albedo[parts == DETAIL] = material.detail
    albedo[parts == ACCENT] = material.accent
    return np.clip(albedo, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class PlaneTexture:
    """Texture of a plane: 'wood' grain, 'checker' cloth or 'tiles', two colours, a noise tile
    repeating every 8 periods (metres)."""

    kind: str
    first: np.ndarray
    second: np.ndarray
    period: float
    angle: float
    noise: np.ndarray


def _plane_colors(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two colours: shades of one brown for wood, any two colours otherwise."""
    if kind == "wood":
        first = _hsv(rng.uniform(0.02, 0.14), rng.uniform(0.2, 0.7), rng.uniform(0.3, 0.8))
        return first, first * rng.uniform(0.55, 0.85)
    return tuple(_hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.6), rng.uniform(0.2, 0.9)) for _ in range(2))


def sample_plane_texture(
    rng: np.random.Generator, kinds: tuple[str, ...] = ("wood", "checker", "tiles")
) -> PlaneTexture:
    """A random plane texture of one of ``kinds``."""
    kind = str(rng.choice(kinds))
    first, second = _plane_colors(kind, rng)
    return PlaneTexture(
        kind, first, second, float(rng.uniform(0.02, 0.12)), float(rng.uniform(0, np.pi)), periodic_noise(rng, 96, 2)
    )


def plane_albedo(texture: PlaneTexture, uv: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) at (N, 2) plane coordinates in metres."""
    c, s = np.cos(texture.angle), np.sin(texture.angle)
    a, b = (uv[:, 0] * c - uv[:, 1] * s) / texture.period, (uv[:, 0] * s + uv[:, 1] * c) / texture.period
    noise = sample_periodic(texture.noise, np.stack([a, b], axis=1) / 8.0)
    if texture.kind == "wood":
        mix = 0.5 + 0.5 * np.sin(2 * np.pi * (a + 3.0 * noise))
    elif texture.kind == "checker":
        mix = ((np.floor(a) + np.floor(b)) % 2) * 0.8 + 0.2 * noise
    else:
        grout = np.minimum(np.abs((a % 1.0) - 0.5), np.abs((b % 1.0) - 0.5)) > 0.46
        mix = grout * 0.9 + 0.1 * noise
    return texture.first[None] * (1.0 - mix[:, None]) + texture.second[None] * mix[:, None]


def background_color(
    rows: np.ndarray, columns: np.ndarray, height: int, tint: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """Colour (N, 3) of pixels that see no surface: a vertical gradient over a blotchy wall."""
    gradient = 0.75 + 0.25 * (1.0 - rows / max(height - 1, 1))
    blotch = 0.85 + 0.3 * sample_periodic(noise, np.stack([rows, columns], axis=1) / 480.0)
    return np.clip(tint[None] * (gradient * blotch)[:, None], 0.0, 1.0)
