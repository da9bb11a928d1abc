"""Parametric meshes of the six NOCS categories with random proportions in real size ranges.

Each builder makes a metric mesh standing on y = 0 with y up, the conventions of the NOCS
object models: the mug handle points to +x, the camera lens and the open laptop screen face +z.
:func:`make_object_model` then moves it into the NOCS normalised frame (tight box centred at
the origin, box diagonal 1) and keeps the metric diagonal as the scale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...core.categories import CATEGORIES, category_name
from ...core.categories import class_id as category_id
from .mesh import (
    ACCENT,
    BODY,
    DETAIL,
    HANDLE,
    Mesh,
    arc,
    box,
    concatenate,
    polyline_pieces,
    revolution_segments,
    revolve_pieces,
    rotation_x,
    torus_section,
)

SYNSETS: dict[str, str] = {
    "bottle": "02876657",
    "bowl": "02880940",
    "camera": "02942699",
    "can": "02946921",
    "laptop": "03642806",
    "mug": "03797390",
}
"""ShapeNet synset of each category, as in CAMERA meta files and ``obj_models`` folders."""

ShapeRanges = dict[str, tuple[float, float]]
"""The ranges one category's builder draws from: ``size``, its main size in metres (the dimension
named below), and the proportions it is drawn with (ratios to a size, or metres, as named)."""

SHAPE_RANGES: dict[str, ShapeRanges] = {
    "bottle": {"size": (0.15, 0.30), "radius_per_height": (0.13, 0.2)},  # size: height
    "bowl": {"size": (0.12, 0.20), "height_per_diameter": (0.35, 0.55)},  # size: rim diameter
    "camera": {"size": (0.08, 0.15), "height_per_width": (0.55, 0.75),  # size: body width
               "depth_per_width": (0.3, 0.5), "lens_per_width": (0.2, 0.6)},
    "can": {"size": (0.08, 0.15), "radius": (0.026, 0.042)},  # size: height
    "laptop": {"size": (0.25, 0.40), "depth_per_width": (0.62, 0.72), "opening_deg": (95.0, 135.0)},  # size: width
    "mug": {"size": (0.08, 0.13), "radius": (0.035, 0.05)},  # size: height
}
"""The generator's default shapes (the shipped model was trained on them)."""

REAL_SHAPE_RANGES: dict[str, ShapeRanges] = {
    "bottle": {**SHAPE_RANGES["bottle"], "radius_per_height": (0.13, 0.32)},
    "bowl": SHAPE_RANGES["bowl"],
    "camera": {"size": (0.06, 0.19), "height_per_width": (0.45, 1.45), "depth_per_width": (0.3, 0.8),
               "lens_per_width": (0.2, 1.3)},
    "can": {**SHAPE_RANGES["can"], "size": (0.08, 0.20)},
    "laptop": {"size": (0.25, 0.45), "depth_per_width": (0.5, 0.75), "opening_deg": (95.0, 145.0)},
    "mug": {**SHAPE_RANGES["mug"], "radius": (0.035, 0.06)},
}
"""Wider ranges that cover real objects of the six categories (the ``real_sizes`` effect of
``dualposenet synth``): every REAL275 test object of the repository's fixtures (a 0.42 m wide laptop,
a 0.19 m can, squat shampoo bottles, cameras taller than wide with long lenses) and the public
per-category mean sizes of the REAL275 objects (:data:`REAL275_MEAN_SIZES`) are matched by some drawn
object to within 15 % on every axis (``test_synth_effects.py`` checks it)."""

REAL275_MEAN_SIZES: dict[str, tuple[float, float, float]] = {
    "bottle": (0.087, 0.220, 0.089),
    "bowl": (0.165, 0.080, 0.165),
    "camera": (0.088, 0.128, 0.156),
    "can": (0.068, 0.146, 0.072),
    "laptop": (0.346, 0.200, 0.335),
    "mug": (0.146, 0.083, 0.114),
}
"""Mean box size (x, y, z in metres, NOCS object frame: y up) of the REAL275 objects per category, as
FS-Net (Chen et al., CVPR 2021) publishes them and later category-level methods (GPV-Pose, HS-Pose)
reuse as their size priors."""

DEFAULT_STEP = 0.004
"""Target triangle edge length in metres: small enough for smooth silhouettes at 0.4 m."""


@dataclass(frozen=True, eq=False)
class ObjectModel:
    """One random object in the NOCS normalised frame.

    ``mesh`` vertices are normalised object coordinates (NOCS map value - 0.5); ``scale`` is the
    metric box diagonal, so metric points are ``scale * vertex``; ``extents`` is the normalised
    box size (norm 1), the ``gt_scales`` of the NOCS pickles. ``name`` is the category of an
    object made from a mesh file (:mod:`.mesh_files`); empty for the NOCS six, named by class id.
    """

    class_id: int
    model_id: str
    mesh: Mesh
    scale: float
    extents: np.ndarray
    name: str = ""

    @property
    def category(self) -> str:
        return self.name or category_name(self.class_id)

    @property
    def synset(self) -> str:
        """The ShapeNet synset of a NOCS category, the category name of one's own (its folder name)."""
        return SYNSETS.get(self.category, self.category)

    @property
    def size(self) -> np.ndarray:
        """Metric box size (m)."""
        return self.extents * self.scale

    @property
    def footprint_radius(self) -> float:
        """Largest horizontal distance of the metric mesh from its vertical axis (m), for layout."""
        return float(np.max(np.hypot(self.mesh.vertices[:, 0], self.mesh.vertices[:, 2]))) * self.scale


def _bottle(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    height = rng.uniform(*ranges["size"])
    radius = height * rng.uniform(*ranges["radius_per_height"])
    neck = radius * rng.uniform(0.28, 0.45)
    shoulder, neck_start = height * rng.uniform(0.45, 0.62), height * rng.uniform(0.72, 0.82)
    cap_height, cap_radius = height * rng.uniform(0.05, 0.08), neck * rng.uniform(1.05, 1.2)
    corner = radius * 0.15
    s = np.linspace(0.0, 1.0, 24)
    shoulder_curve = np.stack(
        [neck + (radius - neck) * 0.5 * (1.0 + np.cos(np.pi * s)), shoulder + (neck_start - shoulder) * s], axis=1
    )
    body = np.concatenate(
        [
            arc((radius - corner, corner), corner, -np.pi / 2, 0.0),
            shoulder_curve,
            [[neck, height - cap_height]],
        ]
    )
    top = height - cap_height
    segments = revolution_segments(radius, step)
    return concatenate(
        [
            revolve_pieces([np.array([[0.0, 0.0], [radius - corner, 0.0]]), body], step, segments, BODY),
            revolve_pieces(
                polyline_pieces([[neck, top], [cap_radius, top], [cap_radius, height], [0.0, height]]),
                step,
                segments,
                DETAIL,
            ),
        ]
    )


def _bowl(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    radius = rng.uniform(*ranges["size"]) / 2.0
    height = 2.0 * radius * rng.uniform(*ranges["height_per_diameter"])
    thickness, foot = rng.uniform(0.004, 0.007), radius * rng.uniform(0.38, 0.55)
    s = np.linspace(0.0, 1.0, 32)
    outer = np.stack([foot + (radius - foot) * np.sin(s * np.pi / 2), height * (1 - np.cos(s * np.pi / 2))], axis=1)
    inner_foot, inner_radius = foot - thickness, radius - thickness
    inner = np.stack(
        [
            inner_foot + (inner_radius - inner_foot) * np.sin(s * np.pi / 2),
            thickness + (height - thickness) * (1 - np.cos(s * np.pi / 2)),
        ],
        axis=1,
    )[::-1]
    rim = arc((radius - thickness / 2, height), thickness / 2, 0.0, np.pi, 8)
    profile = np.concatenate([[[0.0, 0.0]], outer, rim[1:-1], inner, [[0.0, thickness]]])
    return revolve_pieces([profile], step, revolution_segments(radius, step), BODY)


def _can(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    height = rng.uniform(*ranges["size"])
    radius = min(rng.uniform(*ranges["radius"]), 0.45 * height)
    rim = min(0.012, 0.12 * height)
    body = [[radius * 0.95, 0.0], [radius, rim], [radius, height - rim], [radius * 0.9, height - 0.002]]
    lid = [
        [radius * 0.9, height - 0.002],
        [radius * 0.91, height],
        [radius * 0.85, height],
        [radius * 0.84, height - 0.003],
        [0.0, height - 0.003],
    ]
    bottom = [[0.0, 0.003], [radius * 0.82, 0.003], [radius * 0.86, 0.0], [radius * 0.95, 0.0]]
    segments = revolution_segments(radius, step)
    return concatenate(
        [
            revolve_pieces(polyline_pieces(bottom), step, segments, DETAIL),
            revolve_pieces(polyline_pieces(body), step, segments, BODY),
            revolve_pieces(polyline_pieces(lid), step, segments, DETAIL),
        ]
    )


def _mug(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    height = rng.uniform(*ranges["size"])
    radius, wall, floor = rng.uniform(*ranges["radius"]), rng.uniform(0.003, 0.005), rng.uniform(0.005, 0.009)
    lip = arc((radius - wall / 2, height), wall / 2, 0.0, np.pi, 8)
    wall_profile = np.concatenate([[[radius, 0.0]], lip, [[radius - wall, floor]]])
    body = revolve_pieces(
        [np.array([[0.0, 0.0], [radius, 0.0]]), wall_profile, np.array([[radius - wall, floor], [0.0, floor]])],
        step,
        revolution_segments(radius, step),
        BODY,
    )
    ring = height * rng.uniform(0.26, 0.34)  # handle arc radius
    tube = rng.uniform(0.005, 0.008)
    centre = radius + ring * rng.uniform(0.05, 0.3)
    # The arc ends where its centre line is half way into the wall, hidden inside the body.
    end = np.arccos(np.clip((radius - wall / 2 - centre) / ring, -1.0, 1.0))
    handle = torus_section(ring, tube, -end, end, step, HANDLE).transformed(np.eye(3), (centre, height / 2, 0.0))
    return concatenate([body, handle])


def _laptop(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    width = rng.uniform(*ranges["size"])
    depth = width * rng.uniform(*ranges["depth_per_width"])
    base_thickness, lid_thickness = rng.uniform(0.012, 0.022), rng.uniform(0.005, 0.009)
    opening = np.radians(rng.uniform(*ranges["opening_deg"]))  # angle between base and lid
    base = box((width, base_thickness, depth), (0.0, base_thickness / 2, 0.0), BODY)
    keyboard = box((0.85 * width, 0.001, 0.42 * depth), (0.0, base_thickness + 0.0005, -0.08 * depth), DETAIL)
    touchpad = box((0.3 * width, 0.0008, 0.2 * depth), (0.0, base_thickness + 0.0004, 0.3 * depth), ACCENT)
    # Lid built closed in hinge coordinates (hinge line = x axis, lid along +z, screen below).
    lid = concatenate(
        [
            box((width, lid_thickness, depth), (0.0, lid_thickness / 2, depth / 2), BODY),
            box((0.9 * width, 0.001, 0.85 * depth), (0.0, -0.0005, depth / 2), DETAIL),
        ]
    ).transformed(rotation_x(-opening), (0.0, base_thickness + 0.001, -depth / 2 + 0.002))
    return concatenate([base, keyboard, touchpad, lid])


def _camera(rng: np.random.Generator, step: float, ranges: ShapeRanges) -> Mesh:
    width = rng.uniform(*ranges["size"])
    height = width * rng.uniform(*ranges["height_per_width"])
    depth = width * rng.uniform(*ranges["depth_per_width"])
    lens_radius = height * rng.uniform(0.25, 0.35)
    lens_length = width * rng.uniform(*ranges["lens_per_width"])
    lens_x = width * rng.uniform(-0.05, 0.1)
    segments = revolution_segments(1.08 * lens_radius, step)
    lens_profile = [
        [lens_radius, 0.0],
        [lens_radius, 0.7 * lens_length],
        [1.08 * lens_radius, 0.7 * lens_length],
        [1.08 * lens_radius, lens_length],
        [0.8 * lens_radius, lens_length],
        [0.8 * lens_radius, lens_length - 0.003],
    ]
    lens = concatenate(
        [
            revolve_pieces(polyline_pieces(lens_profile), step, segments, DETAIL),
            revolve_pieces(
                [np.array([[0.8 * lens_radius, lens_length - 0.003], [0.0, lens_length - 0.003]])],
                step,
                segments,
                ACCENT,
            ),
        ]
    ).transformed(rotation_x(np.pi / 2), (lens_x, 0.45 * height, depth / 2))
    button_radius = 0.05 * width
    button = revolve_pieces(
        polyline_pieces([[button_radius, height - 0.001], [button_radius, height + 0.005], [0.0, height + 0.005]]),
        step,
        revolution_segments(button_radius, step),
        ACCENT,
    ).transformed(np.eye(3), (0.36 * width, 0.0, 0.0))
    return concatenate(
        [
            box((width, height, depth), (0.0, height / 2, 0.0), BODY),
            lens,
            box((0.3 * width, 0.18 * height, 0.6 * depth), (lens_x, height * 1.09 - 0.001, 0.0), BODY),
            box((0.14 * width, 0.9 * height, 0.012), (-0.4 * width, height / 2, depth / 2 + 0.005), ACCENT),
            button,
        ]
    )


BUILDERS: dict[str, Callable[[np.random.Generator, float, ShapeRanges], Mesh]] = {
    "bottle": _bottle,
    "bowl": _bowl,
    "camera": _camera,
    "can": _can,
    "laptop": _laptop,
    "mug": _mug,
}
assert set(BUILDERS) == set(CATEGORIES)


def normalize_mesh(mesh: Mesh) -> tuple[Mesh, float, np.ndarray]:
    """Centre the tight box at the origin and scale its diagonal to 1: (mesh, scale, extents)."""
    lower, upper = mesh.bounds
    scale = float(np.linalg.norm(upper - lower))
    return mesh.scaled(1.0 / scale, (lower + upper) / 2.0), scale, (upper - lower) / scale


def make_object_model(category: int | str, rng: np.random.Generator, step: float = DEFAULT_STEP,
                      shape_ranges: dict[str, ShapeRanges] = SHAPE_RANGES) -> ObjectModel:
    """A random object of ``category`` (class id or name) with a random model id, its size and
    proportions drawn from ``shape_ranges`` (:data:`SHAPE_RANGES` or :data:`REAL_SHAPE_RANGES`)."""
    identifier = category_id(category) if isinstance(category, str) else int(category)
    name = category_name(identifier)
    mesh, scale, extents = normalize_mesh(BUILDERS[name](rng, step, shape_ranges[name]))
    model_id = f"synth_{int(rng.integers(1 << 48)):012x}"
    return ObjectModel(identifier, model_id, mesh, scale, extents)
