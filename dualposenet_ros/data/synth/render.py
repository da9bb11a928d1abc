"""Render a :class:`~.scene.Scene` into an RGB-D frame with exact instance masks, NOCS maps and
ground-truth poses, in memory (the dataset writer and the ROS synthetic camera both use this).

Objects are rasterised as triangles (:mod:`.raster`); the table, the floor and the background
are intersected analytically per pixel. Shading is Lambert plus a Blinn-Phong highlight under
one directional light, with soft contact shadows on the table. Sensor noise is added last, so
``coord`` and the poses stay exact: back-projecting the noise-free depth of a pixel and mapping
it with the pose gives its NOCS coordinate to floating-point precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ...core.camera import Intrinsics
from ...core.frames import public_pose_matrix
from ..nocs_io import CAMERA_INTRINSICS
from .mesh import HANDLE
from .raster import rasterize
from .scene import Scene
from .sensor import DEFAULT_DEPTH_NOISE, NO_DEPTH_NOISE, DepthNoise, corrupt_depth, finish_color, vary_color
from .textures import background_color, object_albedo, plane_albedo

MIN_VISIBLE_PIXELS = 50
"""Objects showing fewer pixels are left unannotated (like clutter): out of the mask, the NOCS
map and the ground truth, since nothing useful can be learnt or measured from a sliver."""

HANDLE_MIN_PIXELS = 8
HANDLE_MIN_FRACTION = 0.01
"""A mug's handle counts as visible when at least max(8 px, 1 % of the mug's pixels) show it."""

FLOOR_RANGE = 8.0
"""Metres beyond which the floor is not drawn (pixels see the background wall colour)."""


@dataclass(frozen=True, eq=False)
class InstanceGT:
    """Ground truth of one visible object; pose object-to-camera in the OPTICAL frame, metres.

    A metric point of the object is ``scale * rotation @ x + translation`` for its normalised
    object coordinate ``x`` (NOCS map value - 0.5).
    """

    instance_id: int
    class_id: int
    model_id: str
    synset: str
    rotation: np.ndarray
    translation: np.ndarray
    size: np.ndarray  # metric box size (m)
    scale: float  # metric box diagonal (m)
    handle_visible: bool
    pixel_count: int

    @property
    def extents(self) -> np.ndarray:
        """Normalised box size (``gt_scales``)."""
        return self.size / self.scale

    def public_pose(self) -> np.ndarray:
        """4x4 pose as the public files hold it (``gt_RTs``: optical frame, scale folded in)."""
        return public_pose_matrix(self.rotation, self.translation, self.scale)


@dataclass(frozen=True, eq=False)
class Frame:
    """One rendered frame.

    ``rgb`` (H, W, 3) uint8; ``depth_mm`` (H, W) uint16 (0 = no depth); ``instance_mask`` (H, W)
    int32 with 0 = background and k = ``InstanceGT.instance_id``; ``coord`` (H, W, 3) float32 NOCS
    map in [0, 1] on object pixels, 0 elsewhere; ``camera_pose`` 4x4 camera(optical)-to-world.
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    instance_mask: np.ndarray
    coord: np.ndarray
    instances: list[InstanceGT]
    intrinsics: Intrinsics
    camera_pose: np.ndarray


@dataclass(frozen=True, eq=False)
class _ObjectBuffers:
    """All object triangles of a scene in the camera frame with their attributes."""

    vertices: np.ndarray
    normals: np.ndarray
    nocs: np.ndarray
    faces: np.ndarray
    face_object: np.ndarray  # index into scene.objects
    face_part: np.ndarray


def _object_buffers(scene: Scene) -> _ObjectBuffers:
    """Every object mesh posed in the camera frame, concatenated for one rasteriser call."""
    vertices, normals, nocs, faces, face_object, face_part = [], [], [], [], [], []
    offset = 0
    for index, obj in enumerate(scene.objects):
        rotation, translation = scene.object_pose(obj)
        mesh = obj.model.mesh
        vertices.append(_rotate(mesh.vertices, obj.model.scale * rotation) + translation)
        normals.append(_rotate(mesh.normals, rotation))
        nocs.append(mesh.vertices)
        faces.append(mesh.faces + offset)
        face_object.append(np.full(len(mesh.faces), index))
        face_part.append(mesh.parts)
        offset += len(mesh.vertices)
    if not vertices:
        empty = np.zeros((0, 3))
        return _ObjectBuffers(
            empty, empty, empty, np.zeros((0, 3), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8)
        )
    return _ObjectBuffers(
        *(np.concatenate(parts) for parts in (vertices, normals, nocs, faces, face_object, face_part))
    )


def _rotate(vectors: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``vectors @ rotation.T`` for (N, 3) arrays, without BLAS threading overhead on tall arrays."""
    return np.einsum("nj,ij->ni", vectors, rotation)


def _pixel_rays(intrinsics: Intrinsics, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and optical-frame ray directions with unit z (so ray length t = depth z)."""
    width, height = size
    rows, columns = np.divmod(np.arange(width * height), width)
    rays = np.stack(
        [(columns - intrinsics.cx) / intrinsics.fx, (rows - intrinsics.cy) / intrinsics.fy, np.ones(width * height)],
        axis=1,
    )
    return rows, columns, rays


def _contact_shadows(scene: Scene, xz: np.ndarray) -> np.ndarray:
    """Darkening factor in (0, 1] of table points (H, W, 2) under and beside the objects.

    The blobs are soft, so they are evaluated on every 4th pixel and upsampled.
    """
    height, width = xz.shape[:2]
    coarse = xz[::4, ::4]
    points = np.where(np.isfinite(coarse), coarse, 1e3).reshape(-1, 2)
    factor = np.ones(len(points))
    light = scene.light.direction
    for obj in scene.objects:
        shift = -light[[0, 2]] / max(light[1], 0.2) * obj.model.size[1] * 0.35
        radius = obj.model.footprint_radius * 0.9 + 0.5 * np.linalg.norm(shift)
        distance2 = np.sum((points - obj.position[[0, 2]] - shift) ** 2, axis=1) / radius**2
        factor *= 1.0 - 0.6 * np.exp(-2.0 * distance2)
    coarse_factor = factor.reshape(coarse.shape[:2]).astype(np.float32)
    return cv2.resize(coarse_factor, (width, height), interpolation=cv2.INTER_LINEAR).reshape(-1)


def _background(
    scene: Scene, rows: np.ndarray, columns: np.ndarray, rays: np.ndarray, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (inf where nothing is hit) and shaded colour of the table, floor and wall per pixel."""
    table, centre = scene.table, scene.camera.centre
    downward = rays[:, 1] < -1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = np.where(downward, -centre[1] / rays[:, 1], np.inf)
        t_floor = np.where(downward, (-table.height - centre[1]) / rays[:, 1], np.inf)
    table_xz = centre[[0, 2]] + t_table[:, None] * rays[:, [0, 2]]
    local = table.local(np.where(np.isfinite(table_xz), table_xz, 0.0))
    on_table = downward & np.all(np.abs(local) <= np.array(table.size) / 2.0, axis=1)
    on_floor = ~on_table & (t_floor < FLOOR_RANGE)
    depth = np.where(on_table, t_table, np.where(on_floor, t_floor, np.inf))

    color = np.empty((len(rows), 3))
    ambient, sun = scene.light.ambient, scene.light.diffuse * max(float(scene.light.direction[1]), 0.0)
    if on_table.any():
        shadows = _contact_shadows(scene, table_xz.reshape(height, -1, 2))[on_table]
        shading = ambient + sun * shadows
        color[on_table] = plane_albedo(table.texture, local[on_table]) * shading[:, None]
    if on_floor.any():
        floor_xz = centre[[0, 2]] + t_floor[on_floor, None] * rays[on_floor][:, [0, 2]]
        color[on_floor] = plane_albedo(table.floor, floor_xz) * (ambient + sun) * 0.8  # the room is dimmer
    wall = ~on_table & ~on_floor
    if wall.any():
        color[wall] = background_color(rows[wall], columns[wall], height, table.wall_tint, table.wall_noise)
    return depth, color


def _shade_objects(
    scene: Scene, buffers: _ObjectBuffers, face: np.ndarray, bary: np.ndarray, points: np.ndarray, nocs: np.ndarray
) -> np.ndarray:
    """Colour of object pixels: textured albedo, Lambert and a Blinn-Phong highlight."""
    normals = np.einsum("nk,nkc->nc", bary, buffers.normals[buffers.faces[face]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    light = scene.camera.rotation.T @ scene.light.direction
    view = -points / np.linalg.norm(points, axis=1, keepdims=True)
    half = light[None] + view
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    lambert = np.clip(normals @ light, 0.0, 1.0)
    highlight = np.clip(np.sum(normals * half, axis=1), 0.0, 1.0)
    parts = buffers.face_part[face]
    owner = buffers.face_object[face]
    color = np.empty((len(face), 3))
    for index, obj in enumerate(scene.objects):
        pick = owner == index
        if not pick.any():
            continue
        material = obj.material
        albedo = object_albedo(material, nocs[pick], parts[pick])
        shading = scene.light.ambient + scene.light.diffuse * lambert[pick]
        specular = material.specular * scene.light.diffuse * highlight[pick] ** material.shininess
        color[pick] = albedo * shading[:, None] + specular[:, None]
    return color


def _instances(scene: Scene, instance_mask: np.ndarray, part_image: np.ndarray, min_pixels: int) -> list[InstanceGT]:
    """Ground truth of the objects with at least ``min_pixels`` visible pixels."""
    instances = []
    for obj in scene.objects:
        if obj.model.class_id == 0:  # clutter
            continue
        pixels = instance_mask == obj.instance_id
        count = int(pixels.sum())
        if count < max(min_pixels, 1):
            continue
        handle_visible = True
        if obj.model.category == "mug":
            handle = int(np.sum(pixels & (part_image == HANDLE)))
            handle_visible = handle >= max(HANDLE_MIN_PIXELS, HANDLE_MIN_FRACTION * count)
        rotation, translation = scene.object_pose(obj)
        instances.append(
            InstanceGT(
                instance_id=obj.instance_id,
                class_id=obj.model.class_id,
                model_id=obj.model.model_id,
                synset=obj.model.synset,
                rotation=rotation,
                translation=translation,
                size=obj.model.size,
                scale=obj.model.scale,
                handle_visible=bool(handle_visible),
                pixel_count=count,
            )
        )
    return instances


def render_scene(
    scene: Scene,
    intrinsics: Any = CAMERA_INTRINSICS,
    size: tuple[int, int] = (640, 480),
    rng: np.random.Generator | None = None,
    sensor_noise: bool = True,
    depth_noise: DepthNoise = DEFAULT_DEPTH_NOISE,
    min_pixels: int = MIN_VISIBLE_PIXELS,
    color_variety: bool = False,
) -> Frame:
    """Render ``scene`` at ``size`` = (width, height) with ``intrinsics`` (fx, fy, cx, cy object,
    3x3 matrix or 4-sequence). Noise comes from ``rng`` or, by default, from the scene's noise
    seed and frame index, so a scene renders the same every time. Without ``sensor_noise`` the
    depth is the exact depth rounded to mm and the colour is noise-free. Objects with fewer than
    ``min_pixels`` visible pixels stay in the images but are not annotated, as are clutter objects
    (class id 0). ``color_variety`` draws another exposure, white balance and gamma for the image."""
    pinhole = Intrinsics.coerce(intrinsics)
    width, height = size
    rng = np.random.default_rng([scene.noise_seed, scene.frame_index]) if rng is None else rng
    rows, columns, rays = _pixel_rays(pinhole, size)
    background_depth, color = _background(scene, rows, columns, _rotate(rays, scene.camera.rotation), height)

    buffers = _object_buffers(scene)
    # Mesh files (objects with a category name of their own) may be open or wound either way: both sides are drawn.
    closed = all(not obj.model.name or obj.model.class_id == 0 for obj in scene.objects)
    fragments = rasterize(buffers.vertices, buffers.faces, pinhole, size, cull_back=closed)
    object_depth = fragments.depth.reshape(-1)
    is_object = object_depth < background_depth
    depth = np.where(is_object, object_depth, background_depth)
    face = fragments.face.reshape(-1)[is_object]
    bary = fragments.bary.reshape(-1, 3)[is_object]
    nocs = np.einsum("nk,nkc->nc", bary, buffers.nocs[buffers.faces[face]])
    points = rays[is_object] * depth[is_object, None]  # optical frame
    color[is_object] = _shade_objects(scene, buffers, face, bary, points, nocs)

    instance_mask = np.zeros(width * height, dtype=np.int32)
    instance_ids = np.array([obj.instance_id for obj in scene.objects] or [0], dtype=np.int32)
    instance_mask[is_object] = instance_ids[buffers.face_object[face]]
    part_image = np.full(width * height, -1, dtype=np.int8)
    part_image[is_object] = buffers.face_part[face]
    coord = np.zeros((width * height, 3), dtype=np.float32)
    coord[is_object] = np.clip(nocs + 0.5, 0.0, 1.0)

    image = color.reshape(height, width, 3)
    exact_depth = depth.reshape(height, width)
    if sensor_noise:
        brightness = image.max(axis=-1)  # what the dark- and specular-surface holes look at
        rgb = finish_color(vary_color(image, rng) if color_variety else image, rng)
        depth_mm = corrupt_depth(exact_depth, rng, depth_noise, brightness)
    else:
        rgb, depth_mm = finish_color(image, rng, sigma=0.0), corrupt_depth(exact_depth, rng, NO_DEPTH_NOISE)
    instance_mask = instance_mask.reshape(height, width)
    coord = coord.reshape(height, width, 3)
    instances = _instances(scene, instance_mask, part_image.reshape(height, width), min_pixels)
    unannotated = ~np.isin(instance_mask, [gt.instance_id for gt in instances])
    instance_mask[unannotated] = 0
    coord[unannotated] = 0.0
    return Frame(
        rgb=rgb,
        depth_mm=depth_mm,
        instance_mask=instance_mask,
        coord=coord,
        instances=instances,
        intrinsics=pinhole,
        camera_pose=scene.camera.pose,
    )
