"""Triangle meshes with analytic vertex normals and per-face part labels, and the primitives
the category shapes are built from (surfaces of revolution, boxes, torus sections).

Normals come from the parametric surfaces, not from the triangles, so shading is smooth while
geometry stays exact. Faces are wound so their geometric normal points outwards (the side the
vertex normals point to), which lets the rasteriser cull back faces of the closed shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BODY, HANDLE, DETAIL, ACCENT = 0, 1, 2, 3
"""Part labels: each part gets its own colour; HANDLE marks a mug's handle for visibility."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """Vertices (V, 3), unit vertex normals (V, 3), faces (F, 3) and a part label per face (F,)."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    parts: np.ndarray

    def transformed(self, rotation: np.ndarray, translation: Sequence[float] = (0.0, 0.0, 0.0)) -> Mesh:
        """The mesh moved rigidly: ``rotation @ v + translation``."""
        rotation = np.asarray(rotation, dtype=np.float64)
        return Mesh(
            self.vertices @ rotation.T + np.asarray(translation), self.normals @ rotation.T, self.faces, self.parts
        )

    def scaled(self, factor: float, centre: Sequence[float] = (0.0, 0.0, 0.0)) -> Mesh:
        """The mesh scaled uniformly about ``centre`` (normals unchanged)."""
        centre = np.asarray(centre, dtype=np.float64)
        return Mesh((self.vertices - centre) * factor, self.normals, self.faces, self.parts)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corner of the tight axis-aligned box."""
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def concatenate(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh holding all of ``meshes``."""
    offsets = np.cumsum([0] + [len(mesh.vertices) for mesh in meshes[:-1]])
    return Mesh(
        np.concatenate([mesh.vertices for mesh in meshes]),
        np.concatenate([mesh.normals for mesh in meshes]),
        np.concatenate([mesh.faces + offset for mesh, offset in zip(meshes, offsets, strict=True)]),
        np.concatenate([mesh.parts for mesh in meshes]),
    )


def _oriented(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, part: int) -> Mesh:
    """Drop degenerate faces and wind the rest so the geometric normal agrees with the vertex normals."""
    corners = vertices[faces]
    geometric = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area2 = np.linalg.norm(geometric, axis=1)
    keep = area2 > 1e-14
    faces = faces[keep]
    flip = np.einsum("ij,ij->i", geometric[keep], normals[faces].sum(axis=1)) < 0
    faces[flip] = faces[flip][:, ::-1]
    unit = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    return Mesh(vertices, unit, faces.astype(np.int64), np.full(len(faces), part, dtype=np.int8))


def _grid_faces(rows: int, columns: int, wrap: bool) -> np.ndarray:
    """Two triangles per cell of a rows x columns vertex grid (columns wrap around if ``wrap``)."""
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(columns if wrap else columns - 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    j1 = (j + 1) % columns
    a, b, c, d = i * columns + j, i * columns + j1, (i + 1) * columns + j, (i + 1) * columns + j1
    return np.concatenate([np.stack([a, b, d], axis=1), np.stack([a, d, c], axis=1)])


def resample_polyline(points: np.ndarray, step: float) -> np.ndarray:
    """Points along a polyline at about ``step`` spacing (end points kept), for even triangles."""
    points = np.asarray(points, dtype=np.float64)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(lengths)])
    count = max(1, int(np.ceil(arc[-1] / step)))
    samples = np.linspace(0.0, arc[-1], count + 1)
    return np.stack([np.interp(samples, arc, points[:, k]) for k in range(points.shape[1])], axis=1)


def revolve(profile: np.ndarray, segments: int, part: int = BODY) -> Mesh:
    """Surface of revolution about the y axis of a smooth profile of (radius, y) points.

    The profile is traversed so that the outward side is on its right (bottom to top on the
    outside, top to bottom inside a cavity); vertex normals average the adjacent segment normals,
    so one profile must not contain sharp corners (revolve each smooth piece on its own).
    """
    profile = np.asarray(profile, dtype=np.float64)
    tangent = np.diff(profile, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    segment_normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal2d = np.concatenate([segment_normal[:1], segment_normal[:-1] + segment_normal[1:], segment_normal[-1:]])
    normal2d /= np.linalg.norm(normal2d, axis=1, keepdims=True)
    angle = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    cos, sin = np.cos(angle)[None, :], np.sin(angle)[None, :]
    r, y = profile[:, :1], profile[:, 1:]
    vertices = np.stack([r * cos, np.broadcast_to(y, (len(profile), segments)), r * sin], axis=-1)
    nr, ny = normal2d[:, :1], normal2d[:, 1:]
    normals = np.stack([nr * cos, np.broadcast_to(ny, (len(profile), segments)), nr * sin], axis=-1)
    return _oriented(vertices.reshape(-1, 3), normals.reshape(-1, 3), _grid_faces(len(profile), segments, True), part)


def revolution_segments(radius: float, step: float, limits: tuple[int, int] = (16, 96)) -> int:
    """Segments around the axis for edges of about ``step`` at ``radius``.

    Pieces that meet must share one count, or their rings do not coincide and leave slits.
    """
    return int(np.clip(np.ceil(2.0 * np.pi * radius / step), *limits))


def revolve_pieces(pieces: Sequence[np.ndarray], step: float, segments: int, part: int = BODY) -> Mesh:
    """Revolve a profile made of smooth pieces meeting at sharp corners, resampled to ``step``."""
    return concatenate([revolve(resample_polyline(piece, step), segments, part) for piece in pieces])


def polyline_pieces(points: Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Each segment of a polyline as its own piece (flat-shaded, sharp corners everywhere)."""
    points = np.asarray(points, dtype=np.float64)
    return [points[k : k + 2] for k in range(len(points) - 1)]


def arc(centre: Sequence[float], radius: float, start: float, stop: float, count: int = 12) -> np.ndarray:
    """(count, 2) points on a circular arc in the (radius, y) profile plane, angles in radians."""
    angle = np.linspace(start, stop, count)
    return np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle)], axis=1)


def box(size: Sequence[float], centre: Sequence[float] = (0.0, 0.0, 0.0), part: int = BODY) -> Mesh:
    """Axis-aligned box with flat face normals (4 vertices per face)."""
    half = np.asarray(size, dtype=np.float64) / 2.0
    vertices, normals, faces = [], [], []
    for axis in range(3):
        u, v = (axis + 1) % 3, (axis + 2) % 3
        for sign in (-1.0, 1.0):
            corners = np.zeros((4, 3))
            corners[:, axis] = sign * half[axis]
            corners[:, u] = np.array([-1, 1, 1, -1]) * half[u]
            corners[:, v] = np.array([-1, -1, 1, 1]) * half[v]
            normal = np.zeros(3)
            normal[axis] = sign
            base = 4 * len(vertices)
            vertices.append(corners)
            normals.append(np.repeat(normal[None], 4, axis=0))
            faces.extend([[base, base + 1, base + 2], [base, base + 2, base + 3]])
    return _oriented(
        np.concatenate(vertices) + np.asarray(centre, dtype=np.float64), np.concatenate(normals), np.array(faces), part
    )


def torus_section(major: float, minor: float, start: float, stop: float, step: float, part: int = BODY) -> Mesh:
    """Tube of radius ``minor`` around the arc of radius ``major`` in the xy plane (angles from +x
    towards +y), centred at the origin; the ends are open (meant to be buried in another part)."""
    around = int(np.clip(np.ceil(2.0 * np.pi * minor / step), 10, 32))
    along = int(np.clip(np.ceil(abs(stop - start) * major / step), 8, 96)) + 1
    theta = np.linspace(start, stop, along)[:, None]
    phi = np.linspace(0.0, 2.0 * np.pi, around, endpoint=False)[None, :]
    normals = np.stack(
        [np.cos(phi) * np.cos(theta), np.cos(phi) * np.sin(theta), np.broadcast_to(np.sin(phi), (along, around))],
        axis=-1,
    )
    centres = np.stack([major * np.cos(theta), major * np.sin(theta), np.zeros_like(theta)], axis=-1)
    vertices = centres + minor * normals
    return _oriented(vertices.reshape(-1, 3), normals.reshape(-1, 3), _grid_faces(along, around, True), part)


def rotation_x(angle: float) -> np.ndarray:
    """Rotation about x by ``angle`` radians (y towards z)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle: float) -> np.ndarray:
    """Rotation about y by ``angle`` radians (z towards x)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
