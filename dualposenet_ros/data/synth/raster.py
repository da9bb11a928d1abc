"""Vectorised z-buffer triangle rasteriser (NumPy, one core).

Each triangle is tested against the pixel centres of its screen bounding box; every (triangle,
pixel) pair is one array element, so the cost follows the covered area, not a Python loop.
Depth is the exact depth of the triangle's plane along the pixel ray (1/z is affine in screen
space), and barycentric weights are perspective-correct, so any attribute that is affine in
3-D (object coordinates) is interpolated exactly at the pixel's surface point.

Pixel (u, v) samples the ray through u = column, v = row, the convention of the back-projection
``x = (u - cx) z / fx``. Inclusive edge tests make shared edges watertight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.camera import Intrinsics

_EDGE_EPSILON = 1e-9


@dataclass(frozen=True, eq=False)
class Fragments:
    """Per pixel: the visible face (-1 for none), its perspective-correct barycentric weights
    and the depth z in the units of the vertices (inf for none)."""

    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray


def _screen_planes(screen: np.ndarray, inverse_z: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per face, affine coefficients (a, b, c) with value = a*u + b*v + c of the first two screen
    barycentric weights and of 1/z; also the signed doubled area."""
    p0, p1, p2 = screen[:, 0], screen[:, 1], screen[:, 2]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])

    def weight(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
        # Weight of the vertex opposite edge (pa, pb): cross(pb - pa, p - pa) / area.
        a = -(pb[:, 1] - pa[:, 1]) / area
        b = (pb[:, 0] - pa[:, 0]) / area
        c = ((pb[:, 1] - pa[:, 1]) * pa[:, 0] - (pb[:, 0] - pa[:, 0]) * pa[:, 1]) / area
        return np.stack([a, b, c], axis=1)

    w0, w1 = weight(p1, p2), weight(p2, p0)
    w2 = np.stack([-w0[:, 0] - w1[:, 0], -w0[:, 1] - w1[:, 1], 1.0 - w0[:, 2] - w1[:, 2]], axis=1)
    inverse = w0 * inverse_z[:, :1] + w1 * inverse_z[:, 1:2] + w2 * inverse_z[:, 2:]
    return w0, w1, inverse, area


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    intrinsics: Intrinsics,
    size: tuple[int, int],
    near: float = 0.01,
    cull_back: bool = True,
    max_pairs: int = 3_000_000,
) -> Fragments:
    """Rasterise triangles given in the optical camera frame into a ``size`` = (width, height) image.

    Faces with a vertex nearer than ``near`` are skipped (no clipping); with ``cull_back``, faces
    seen from behind (geometric normal away from the camera) are skipped too, which is right
    for closed, outward-wound meshes. ``max_pairs`` bounds the memory of one batch.
    """
    width, height = size
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    corners = vertices[faces]
    keep = np.all(corners[:, :, 2] > near, axis=1)
    if cull_back:
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        keep &= np.einsum("ij,ij->i", normal, corners[:, 0]) < 0.0
    face_index = np.nonzero(keep)[0]
    corners = corners[keep]
    z = corners[:, :, 2]
    screen = np.stack(
        [intrinsics.fx * corners[:, :, 0] / z + intrinsics.cx, intrinsics.fy * corners[:, :, 1] / z + intrinsics.cy],
        axis=-1,
    )
    w0, w1, inverse, area = _screen_planes(screen, 1.0 / z)
    lower = np.ceil(screen.min(axis=1)).astype(np.int64)
    upper = np.floor(screen.max(axis=1)).astype(np.int64)
    lower = np.maximum(lower, 0)
    upper = np.minimum(upper, [width - 1, height - 1])
    spans = upper - lower + 1
    visible = np.all(spans > 0, axis=1) & (np.abs(area) > 1e-12)
    face_index, w0, w1, inverse, lower, spans = (a[visible] for a in (face_index, w0, w1, inverse, lower, spans))

    best = np.zeros(width * height)  # largest 1/z so far (0 = nothing)
    owner = np.full(width * height, -1, dtype=np.int64)  # index into the kept faces
    counts = spans[:, 0] * spans[:, 1]
    cumulative = np.cumsum(counts)
    start = 0
    while start < len(counts):  # batches of whole faces with at most max_pairs pairs (or one face)
        done = int(cumulative[start - 1]) if start else 0
        stop = max(int(np.searchsorted(cumulative, done + max_pairs, side="right")), start + 1)
        _rasterize_batch(slice(start, stop), counts, lower, spans, w0, w1, inverse, width, best, owner)
        start = stop

    covered = np.nonzero(owner >= 0)[0]
    local = owner[covered]
    u = (covered % width).astype(np.float64)
    v = (covered // width).astype(np.float64)
    s0 = w0[local, 0] * u + w0[local, 1] * v + w0[local, 2]
    s1 = w1[local, 0] * u + w1[local, 1] * v + w1[local, 2]
    screen_weights = np.stack([s0, s1, 1.0 - s0 - s1], axis=1)
    inverse_depth = inverse[local, 0] * u + inverse[local, 1] * v + inverse[local, 2]
    corner_inverse_z = 1.0 / vertices[faces[face_index[local]], 2]
    bary = screen_weights * corner_inverse_z / inverse_depth[:, None]

    face_image = np.full(width * height, -1, dtype=np.int64)
    face_image[covered] = face_index[local]
    bary_image = np.zeros((width * height, 3))
    bary_image[covered] = bary
    depth_image = np.full(width * height, np.inf)
    depth_image[covered] = 1.0 / inverse_depth
    return Fragments(
        face_image.reshape(height, width), bary_image.reshape(height, width, 3), depth_image.reshape(height, width)
    )


def _rasterize_batch(
    batch: slice,
    counts: np.ndarray,
    lower: np.ndarray,
    spans: np.ndarray,
    w0: np.ndarray,
    w1: np.ndarray,
    inverse: np.ndarray,
    width: int,
    best: np.ndarray,
    owner: np.ndarray,
) -> None:
    """Depth-test the pixels of the faces in ``batch`` against ``best`` and record winners in ``owner``."""
    batch_counts = counts[batch]
    total = int(batch_counts.sum())
    if total == 0:
        return
    offsets = np.arange(total) - np.repeat(np.cumsum(batch_counts) - batch_counts, batch_counts)
    span_u = np.repeat(spans[batch, 0], batch_counts)
    u = np.repeat(lower[batch, 0], batch_counts) + offsets % span_u
    v = np.repeat(lower[batch, 1], batch_counts) + offsets // span_u
    uf, vf = u.astype(np.float64), v.astype(np.float64)

    def plane(coefficients: np.ndarray) -> np.ndarray:
        c = coefficients[batch]
        return (
            np.repeat(c[:, 0], batch_counts) * uf
            + np.repeat(c[:, 1], batch_counts) * vf
            + np.repeat(c[:, 2], batch_counts)
        )

    s0 = plane(w0)
    inside = s0 >= -_EDGE_EPSILON
    s1 = plane(w1)
    inside &= s1 >= -_EDGE_EPSILON
    inside &= s0 + s1 <= 1.0 + _EDGE_EPSILON
    inverse_depth = plane(inverse)
    local = np.repeat(np.arange(batch.start, batch.stop), batch_counts)[inside]
    pixel = (v * width + u)[inside]
    inverse_depth = inverse_depth[inside]
    np.maximum.at(best, pixel, inverse_depth)
    won = inverse_depth >= best[pixel]
    owner[pixel[won]] = local[won]
