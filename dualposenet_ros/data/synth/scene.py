"""Random tabletop scenes: objects standing upright on a table, a camera looking down at them.

World frame: y up, the table top is the plane y = 0. Camera poses are built in the optical
frame (x right, y down, z forward), the frame of the public NOCS pose files too, so the ``gts``
pickles hold them unchanged. A :class:`Scene` is immutable; :meth:`Scene.advanced` returns the
scene some time later (objects spinning about their vertical axis, the camera orbiting), for
moving-object streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ...core.camera import Intrinsics
from ...core.categories import CATEGORIES
from ..nocs_io import CAMERA_INTRINSICS
from .mesh import box, polyline_pieces, revolution_segments, revolve_pieces, rotation_y
from .mesh_files import MeshCategory
from .shapes import DEFAULT_STEP, SHAPE_RANGES, ObjectModel, ShapeRanges, make_object_model, normalize_mesh
from .textures import Material, PlaneTexture, periodic_noise, sample_material, sample_plane_texture

UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True, eq=False)
class PlacedObject:
    """An object on the table: its box centre in the world, its yaw about world y and spin rate."""

    instance_id: int
    model: ObjectModel
    material: Material
    position: np.ndarray
    yaw: float
    spin: float = 0.0  # rad/s, used by Scene.advanced

    @property
    def rotation(self) -> np.ndarray:
        """Object-to-world rotation (upright: a rotation about y)."""
        return rotation_y(self.yaw)


@dataclass(frozen=True, eq=False)
class CameraView:
    """A camera at ``distance`` from ``target`` at azimuth/elevation (radians) about world y.

    Azimuth 0 puts the camera on the +x side of the target; ``roll`` turns the image about the
    optical axis; ``orbit_rate`` (rad/s) moves the azimuth in :meth:`Scene.advanced`.
    """

    target: np.ndarray
    distance: float
    azimuth: float
    elevation: float
    roll: float = 0.0
    orbit_rate: float = 0.0

    @property
    def centre(self) -> np.ndarray:
        """Camera position in the world."""
        direction = np.array(
            [
                np.cos(self.elevation) * np.cos(self.azimuth),
                np.sin(self.elevation),
                np.cos(self.elevation) * np.sin(self.azimuth),
            ]
        )
        return np.asarray(self.target, dtype=np.float64) + self.distance * direction

    @property
    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation of the optical frame (columns: right, down, forward)."""
        forward = np.asarray(self.target, dtype=np.float64) - self.centre
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, UP)
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        c, s = np.cos(self.roll), np.sin(self.roll)
        return np.stack([c * right + s * down, -s * right + c * down, forward], axis=1)

    @property
    def pose(self) -> np.ndarray:
        """4x4 camera-to-world transform (optical frame)."""
        matrix = np.eye(4)
        matrix[:3, :3], matrix[:3, 3] = self.rotation, self.centre
        return matrix

    def project(self, points: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and depths (N,) of world points."""
        camera = (np.asarray(points, dtype=np.float64) - self.centre) @ self.rotation
        z = camera[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack(
                [intrinsics.fx * camera[:, 0] / z + intrinsics.cx, intrinsics.fy * camera[:, 1] / z + intrinsics.cy],
                axis=1,
            )
        return uv, z


@dataclass(frozen=True, eq=False)
class Table:
    """A rectangular table top (size along its local x and z, metres) over a floor."""

    centre: np.ndarray  # (x, z) of the table centre in the world
    size: tuple[float, float]
    yaw: float
    height: float  # of the top above the floor
    texture: PlaneTexture
    floor: PlaneTexture
    wall_tint: np.ndarray
    wall_noise: np.ndarray

    def local(self, xz: np.ndarray) -> np.ndarray:
        """World (N, 2) x, z -> table coordinates (N, 2)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        d = np.asarray(xz) - self.centre
        return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)


@dataclass(frozen=True, eq=False)
class Lighting:
    """A directional light (unit vector towards the light, world) plus ambient light."""

    direction: np.ndarray
    ambient: float
    diffuse: float


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything needed to render one image; immutable."""

    objects: tuple[PlacedObject, ...]
    camera: CameraView
    table: Table
    light: Lighting
    noise_seed: int
    time: float = 0.0
    frame_index: int = 0

    def object_pose(self, obj: PlacedObject) -> tuple[np.ndarray, np.ndarray]:
        """Object-to-camera rotation and translation (m) in the optical frame (``p = s R x + t``)."""
        to_camera = self.camera.rotation.T
        return to_camera @ obj.rotation, to_camera @ (np.asarray(obj.position) - self.camera.centre)

    def with_camera(self, camera: CameraView) -> Scene:
        """The same scene seen from another camera."""
        return replace(self, camera=camera)

    def advanced(self, dt: float) -> Scene:
        """The scene ``dt`` seconds later: objects turned by spin * dt, camera orbited by orbit_rate * dt."""
        objects = tuple(replace(obj, yaw=obj.yaw + obj.spin * dt) for obj in self.objects)
        camera = replace(self.camera, azimuth=self.camera.azimuth + self.camera.orbit_rate * dt)
        return replace(self, objects=objects, camera=camera, time=self.time + dt, frame_index=self.frame_index + 1)


@dataclass(frozen=True)
class SceneConfig:
    """Ranges the sampler draws from (metres, degrees)."""

    objects: tuple[int, int] = (3, 6)
    camera_distance: tuple[float, float] = (0.4, 0.9)
    camera_elevation_deg: tuple[float, float] = (20.0, 70.0)
    camera_roll_deg: float = 5.0
    layout_radius: tuple[float, float] = (0.1, 0.22)
    image_margin_px: int = 24  # object centres project at least this far inside the image
    spin_rate: float = 0.6  # rad/s, largest |spin| of an object
    orbit_rate: float = 0.15  # rad/s, largest |orbit rate| of the camera
    mesh_step: float = DEFAULT_STEP
    categories: tuple[str, ...] = CATEGORIES
    mesh_categories: tuple[MeshCategory, ...] = ()
    """Categories of one's own; when given, the objects come from their meshes (class ids 1..n in
    this order) instead of the NOCS ``categories``."""
    distractors: tuple[int, int] = (0, 0)  # clutter objects per scene (class id 0, never annotated)
    shape_ranges: dict[str, ShapeRanges] = field(default_factory=lambda: dict(SHAPE_RANGES))
    """Sizes and proportions of the NOCS categories (:mod:`.shapes`)."""


class SceneSampler:
    """Draws random scenes and camera views; all randomness comes from the generator passed in."""

    def __init__(
        self,
        config: SceneConfig | None = None,
        intrinsics: Intrinsics = CAMERA_INTRINSICS,
        image_size: tuple[int, int] = (640, 480),
    ) -> None:
        self.config = config or SceneConfig()
        self.intrinsics = intrinsics
        self.image_size = image_size

    def sample(self, rng: np.random.Generator) -> Scene:
        """A new scene with 3-6 objects and a first camera view."""
        objects = self._place_objects(rng)
        table = Table(
            centre=rng.uniform(-0.1, 0.1, size=2),
            size=(float(rng.uniform(0.9, 1.6)), float(rng.uniform(0.7, 1.0))),
            yaw=float(rng.uniform(0, np.pi)),
            height=float(rng.uniform(0.65, 0.8)),
            texture=sample_plane_texture(rng),
            floor=sample_plane_texture(rng, ("tiles", "wood")),
            wall_tint=rng.uniform(0.4, 0.95, size=3),
            wall_noise=periodic_noise(rng, 96, 2),
        )
        elevation, azimuth = np.radians(rng.uniform(35.0, 80.0)), rng.uniform(0.0, 2 * np.pi)
        light = Lighting(
            direction=np.array(
                [np.cos(elevation) * np.cos(azimuth), np.sin(elevation), np.cos(elevation) * np.sin(azimuth)]
            ),
            ambient=float(rng.uniform(0.25, 0.45)),
            diffuse=float(rng.uniform(0.55, 0.85)),
        )
        return Scene(objects, self._view(objects, rng), table, light, int(rng.integers(1 << 31)))

    def sample_view(self, scene: Scene, rng: np.random.Generator) -> CameraView:
        """Another camera for ``scene`` that sees every object centre well inside the image."""
        return self._view(scene.objects, rng)

    def _view(self, objects: Sequence[PlacedObject], rng: np.random.Generator, attempts: int = 40) -> CameraView:
        """A random camera seeing every object centre inside the margins, drifting away while it fails."""
        config = self.config
        centres = np.array([obj.position for obj in objects])
        middle = centres.mean(axis=0) * np.array([1.0, 0.0, 1.0])
        width, height = self.image_size
        margin = config.image_margin_px
        for attempt in range(attempts):
            low, high = config.camera_distance
            distance = rng.uniform(low + (high - low) * attempt / attempts, high)  # drift away on failures
            view = CameraView(
                target=middle + np.array([rng.uniform(-0.04, 0.04), rng.uniform(0.0, 0.04), rng.uniform(-0.04, 0.04)]),
                distance=float(distance),
                azimuth=float(rng.uniform(0.0, 2 * np.pi)),
                elevation=float(np.radians(rng.uniform(*config.camera_elevation_deg))),
                roll=float(np.radians(rng.uniform(-config.camera_roll_deg, config.camera_roll_deg))),
                orbit_rate=float(rng.uniform(-config.orbit_rate, config.orbit_rate)),
            )
            uv, z = view.project(centres, self.intrinsics)
            inside = (z > 0.1) & np.all(
                (uv >= margin) & (uv <= np.array([width - 1 - margin, height - 1 - margin])), axis=1
            )
            if inside.all():
                return view
        return view  # the farthest try: an object may sit near the border or outside

    def _object_model(self, rng: np.random.Generator) -> ObjectModel:
        """A random object of a random category (one's own when configured, else the NOCS ones)."""
        config = self.config
        if config.mesh_categories:
            index = int(rng.integers(len(config.mesh_categories)))
            return config.mesh_categories[index].sample(index + 1, rng)
        return make_object_model(str(rng.choice(config.categories)), rng, config.mesh_step, config.shape_ranges)

    def _place_objects(self, rng: np.random.Generator) -> tuple[PlacedObject, ...]:
        """Objects at random non-overlapping spots (footprint circles) around the table centre, then
        the clutter (class id 0, never annotated), a little farther out so it also stands in front."""
        config = self.config
        count = int(rng.integers(config.objects[0], config.objects[1] + 1))
        radius = rng.uniform(*config.layout_radius)
        placed: list[PlacedObject] = []
        for _ in range(count):
            self._place(self._object_model(rng), placed, radius, rng)
        if config.distractors[1] > 0:  # no draw otherwise: scenes without clutter stay as they were
            for _ in range(int(rng.integers(config.distractors[0], config.distractors[1] + 1))):
                self._place(make_distractor(rng), placed, 1.3 * radius, rng)
        return tuple(placed)

    def _place(self, model: ObjectModel, placed: list[PlacedObject], radius: float, rng: np.random.Generator) -> None:
        """Put ``model`` at a free spot (the area grows while spots are taken); after 100 tries it is left out."""
        footprint = model.footprint_radius
        for attempt in range(100):
            spot = rng.uniform(-1.0, 1.0, size=2) * (radius * (1.0 + attempt / 50.0) + 0.5 * footprint)
            clear = all(
                np.hypot(*(spot - other.position[[0, 2]])) > footprint + other.model.footprint_radius + 0.005
                for other in placed
            )
            if clear:
                placed.append(
                    PlacedObject(
                        instance_id=len(placed) + 1,
                        model=model,
                        material=sample_material(model.category, rng),
                        position=np.array([spot[0], model.size[1] / 2.0, spot[1]]),
                        yaw=float(rng.uniform(0.0, 2 * np.pi)),
                        spin=float(rng.uniform(-self.config.spin_rate, self.config.spin_rate)),
                    )
                )
                return


DISTRACTOR = "distractor"
"""Category name of clutter objects (class id 0, like the NOCS distractors: never annotated)."""


def make_distractor(rng: np.random.Generator) -> ObjectModel:
    """A clutter object: a box or a cylinder of random proportions, 3-16 cm."""
    if rng.random() < 0.5:
        mesh = box(rng.uniform(0.03, 0.16, size=3))
    else:
        radius, height = rng.uniform(0.015, 0.06), rng.uniform(0.03, 0.16)
        mesh = revolve_pieces(polyline_pieces([[0.0, -height / 2], [radius, -height / 2], [radius, height / 2],
                                               [0.0, height / 2]]), DEFAULT_STEP, revolution_segments(radius,
                                                                                                       DEFAULT_STEP))
    normalised, scale, extents = normalize_mesh(mesh)
    return ObjectModel(0, f"{DISTRACTOR}_{int(rng.integers(1 << 40)):010x}", normalised, scale, extents,
                       name=DISTRACTOR)
