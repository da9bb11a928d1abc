"""Categories of one's own: objects drawn from a folder of mesh files (OBJ, PLY, GLB, ...).

The files are read with trimesh. Each is taken in the NOCS conventions the parametric shapes
follow too: y is up (the object stands on its lowest y) and, for a category symmetric about an
axis, that axis is y; a folder whose meshes are z-up is turned with ``up="z"``. Every object is a
random mesh of the folder, stretched a little per axis (``stretch``) for shape variety, at a random
metric size (box diagonal in ``size_range``, metres), so mesh units do not matter.

Meshes are read once per process (and per folder) and kept: a scene draws its objects from the
cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...core.categories import Category
from .mesh import BODY, Mesh
from .shapes import ObjectModel, normalize_mesh

MESH_SUFFIXES: tuple[str, ...] = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")
"""File types read from a mesh folder (what trimesh loads without extra packages)."""

MAX_FACES = 60_000
"""Meshes with more faces are refused: the CPU rasteriser would take seconds per frame."""


@dataclass(frozen=True)
class MeshCategory:
    """A category made from the meshes of ``folder`` (plain values, so worker processes can take it)."""

    name: str
    symmetry: str
    folder: str
    size_range: tuple[float, float] = (0.1, 0.3)
    stretch: float = 0.1
    up: str = "y"

    def __post_init__(self) -> None:
        Category(self.name, self.symmetry)  # checks the name and the symmetry
        low, high = self.size_range
        if not 0 < low <= high:
            raise ValueError(f"size range {self.size_range} must be 0 < low <= high (metres, box diagonal)")
        if not 0 <= self.stretch < 1:
            raise ValueError(f"stretch {self.stretch} must be in [0, 1)")
        if self.up not in ("y", "z"):
            raise ValueError(f"up axis {self.up!r} must be 'y' or 'z'")

    @property
    def category(self) -> Category:
        return Category(self.name, self.symmetry)

    def meshes(self) -> tuple[tuple[str, Mesh], ...]:
        """(file stem, normalised mesh) of every mesh file of the folder, read once per process."""
        return load_mesh_folder(os.path.abspath(self.folder), self.up)

    def sample(self, class_id: int, rng: np.random.Generator) -> ObjectModel:
        """A random object: a mesh of the folder, stretched, at a random size."""
        meshes = self.meshes()
        stem, mesh = meshes[int(rng.integers(len(meshes)))]
        stretch = rng.uniform(1.0 - self.stretch, 1.0 + self.stretch, size=3)
        if self.symmetry != "none":
            stretch[2] = stretch[0]  # keep the cross-section round about the y axis
        stretched = Mesh(mesh.vertices * stretch, _stretched_normals(mesh.normals, stretch), mesh.faces, mesh.parts)
        normalised, _, extents = normalize_mesh(stretched)
        scale = float(rng.uniform(*self.size_range))
        model_id = f"{stem}_{int(rng.integers(1 << 40)):010x}"
        return ObjectModel(int(class_id), model_id, normalised, scale, extents, name=self.name)


def _stretched_normals(normals: np.ndarray, stretch: np.ndarray) -> np.ndarray:
    """Normals of a surface scaled by ``stretch`` per axis (inverse-transpose, renormalised)."""
    scaled = normals / stretch
    return scaled / np.maximum(np.linalg.norm(scaled, axis=1, keepdims=True), 1e-12)


def mesh_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The mesh files of ``folder`` (not recursive), sorted; ``ValueError`` when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"mesh folder {folder} does not exist")
    files = sorted(path for path in folder.iterdir() if path.suffix.lower() in MESH_SUFFIXES and path.is_file())
    if not files:
        raise ValueError(f"mesh folder {folder} holds no mesh file ({', '.join(MESH_SUFFIXES)})")
    return files


def read_mesh(path: str | os.PathLike[str], up: str = "y") -> Mesh:
    """One mesh file as a normalised :class:`Mesh` (one part, smooth vertex normals, outward winding).

    Several bodies in one file (a GLB scene) are joined. ``ValueError`` names a file that is not a
    usable triangle mesh."""
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="mesh", process=True)
    except Exception as error:  # trimesh raises many kinds for a broken file
        raise ValueError(f"cannot read mesh {path}: {error}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"{path} holds no triangles")
    if len(loaded.faces) > MAX_FACES:
        raise ValueError(f"{path} has {len(loaded.faces)} faces, more than {MAX_FACES}: simplify it first")
    loaded.remove_unreferenced_vertices()
    if loaded.is_watertight:
        trimesh.repair.fix_normals(loaded)  # consistent, outward winding
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    normals = np.asarray(loaded.vertex_normals, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if up == "z":  # z up -> y up: (x, y, z) -> (x, z, -y)
        turn = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
        vertices, normals = vertices @ turn.T, normals @ turn.T
    if not np.all(np.isfinite(vertices)) or float(np.ptp(vertices, axis=0).min()) <= 0:
        raise ValueError(f"{path} is flat or has non-finite vertices")
    mesh = Mesh(vertices, normals, faces, np.full(len(faces), BODY, dtype=np.int8))
    return normalize_mesh(mesh)[0]


@lru_cache(maxsize=16)
def load_mesh_folder(folder: str, up: str = "y") -> tuple[tuple[str, Mesh], ...]:
    """Every mesh of ``folder`` read with :func:`read_mesh`, cached per process."""
    return tuple((path.stem, read_mesh(path, up)) for path in mesh_files(folder))
