"""Chunked, memory-mappable store of prepared training instances, and its torch ``Dataset``.

Layout of a store directory (written by :class:`InstanceWriter`, read by :class:`InstanceStore` and
:class:`InstanceDataset`)::

    manifest.json             format, counts, resolution, dataset, split, field dtypes/shapes,
                              chunk list, skip counts, free-form metadata
    images.txt                one image prefix per line (e.g. ``CAMERA/train/00000/0003``);
                              the ``image_index`` field indexes it
    chunk_00000/<field>.npy   one plain .npy per field per chunk (np.load(mmap_mode='r') works)
    chunk_00001/...

Fields (per instance; ``n`` = spherical resolution, ``P`` = points per instance):

=============== =========== =========================================================
name            shape       meaning
=============== =========== =========================================================
distance        (n, n, 1)   distance map of the centred points, [azimuth, polar]
rgb             (n, n, 3)   normalised colour of the same points
points          (P, 3)      sampled centred observed points (metres, NOCS camera frame)
canonical       (P, 3)      their ground-truth canonical coordinates (normalised object frame)
quaternion      (4,)        camera-to-object rotation (w, x, y, z), w >= 0
translation     (3,)        object origin minus the point centroid (metres)
size            (3,)        scale times normalised box extents (its norm is the scale)
centroid        (3,)        centroid c of the observed points (metres; object origin = translation + c)
class_id        ()          1..6
image_index     ()          row of images.txt
instance_id     ()          instance id in the image's mask / meta.txt
=============== =========== =========================================================

The writer holds at most one chunk in memory and rewrites the manifest after every chunk, so a
store of millions of instances is written and read out of core; ``complete`` in the manifest says
whether the writer finished.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "field_specs", "InstanceWriter", "InstanceStore", "InstanceDataset",
           "ColorJitter"]

FORMAT_NAME = "dualposenet_ros.instances"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMAGES = "images.txt"

MAP_DTYPE = "float16"
"""Spherical maps are stored in half precision: distances (< 1 m) keep ~0.5 mm, colours ~1e-3 of the
normalised range (finer than one 8-bit level); it halves the dominant share of the store."""


def field_specs(resolution: int, num_points: int, map_dtype: str = MAP_DTYPE) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Field name -> (dtype name, per-instance shape)."""
    n = int(resolution)
    return {
        "distance": (map_dtype, (n, n, 1)),
        "rgb": (map_dtype, (n, n, 3)),
        "points": ("float32", (int(num_points), 3)),
        "canonical": ("float32", (int(num_points), 3)),
        "quaternion": ("float32", (4,)),
        "translation": ("float32", (3,)),
        "size": ("float32", (3,)),
        "centroid": ("float32", (3,)),
        "class_id": ("int64", ()),
        "image_index": ("int64", ()),
        "instance_id": ("int64", ()),
    }


def _write_json_atomically(path: Path, document: Mapping[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _chunk_name(index: int) -> str:
    return f"chunk_{index:05d}"


class InstanceWriter:
    """Append instances chunk by chunk; use as a context manager or call :meth:`close`.

    ``images`` (the image prefixes, in ``image_index`` order) may be given up front or appended with
    :meth:`add_image`. Refuses to write into a directory that already holds a manifest unless
    ``overwrite`` (then the old chunks are removed first).
    """

    def __init__(self, root: str | os.PathLike[str], resolution: int, num_points: int = 1024,
                 chunk_size: int = 4096, dataset: str = "", split: str = "",
                 metadata: Mapping[str, Any] | None = None, images: Iterable[str] = (),
                 map_dtype: str = MAP_DTYPE, overwrite: bool = False) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.root = Path(root)
        if (self.root / MANIFEST).exists():
            if not overwrite:
                raise FileExistsError(f"{self.root} already holds an instance store "
                                      "(pass overwrite=True / --overwrite)")
            _remove_store(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.specs = field_specs(resolution, num_points, map_dtype)
        self.resolution = int(resolution)
        self.num_points = int(num_points)
        self.chunk_size = int(chunk_size)
        self.dataset, self.split = dataset, split
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.skips: dict[str, int] = {}
        self.chunks: list[dict[str, Any]] = []
        self.count = 0
        self._images = open(self.root / IMAGES, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._num_images = 0
        for image in images:
            self.add_image(image)
        self._buffer = {name: np.zeros((self.chunk_size, *shape), dtype=dtype)
                        for name, (dtype, shape) in self.specs.items()}
        self._filled = 0
        self._closed = False
        self._write_manifest(complete=False)

    @property
    def num_added(self) -> int:
        """Instances added so far (written chunks plus the buffered ones)."""
        return self.count + self._filled

    def add_image(self, prefix: str) -> int:
        """Register an image prefix; returns its ``image_index``."""
        if "\n" in prefix:
            raise ValueError("image prefixes cannot contain newlines")
        self._images.write(prefix + "\n")
        self._num_images += 1
        return self._num_images - 1

    def add(self, record: Mapping[str, Any]) -> None:
        """Append one instance (a mapping with every field of :func:`field_specs`, checked for shape)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        missing = [name for name in self.specs if name not in record]
        if missing:
            raise KeyError(f"instance record lacks field(s) {', '.join(missing)}")
        row = self._filled
        for name, (_, shape) in self.specs.items():
            value = np.asarray(record[name])
            if value.shape != shape:
                raise ValueError(f"field {name!r} has shape {value.shape}, expected {shape}")
            self._buffer[name][row] = value
        self._filled += 1
        if self._filled == self.chunk_size:
            self._flush()

    def add_skip(self, reason: str, count: int = 1) -> None:
        """Count a skipped instance by reason (stored in the manifest)."""
        self.skips[reason] = self.skips.get(reason, 0) + int(count)

    def _flush(self) -> None:
        if self._filled == 0:
            return
        name = _chunk_name(len(self.chunks))
        directory = self.root / name
        directory.mkdir(exist_ok=True)
        for field, array in self._buffer.items():
            np.save(directory / f"{field}.npy", array[: self._filled])
        self.chunks.append({"name": name, "count": self._filled})
        self.count += self._filled
        self._filled = 0
        self._images.flush()
        self._write_manifest(complete=False)

    def _write_manifest(self, complete: bool) -> None:
        document = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "complete": complete,
            "count": self.count,
            "num_images": self._num_images,
            "resolution": self.resolution,
            "num_points": self.num_points,
            "dataset": self.dataset,
            "split": self.split,
            "chunk_size": self.chunk_size,
            "fields": {name: {"dtype": dtype, "shape": list(shape)} for name, (dtype, shape) in self.specs.items()},
            "chunks": self.chunks,
            "skips": dict(sorted(self.skips.items())),
            "metadata": self.metadata,
        }
        _write_json_atomically(self.root / MANIFEST, document)

    def close(self) -> None:
        if self._closed:
            return
        self._flush()
        self._images.close()
        self._closed = True
        self._buffer = {}
        self._write_manifest(complete=True)

    def __enter__(self) -> "InstanceWriter":
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # leave an honest, incomplete manifest behind
            self._flush()
            self._images.close()
            self._closed = True


def _remove_store(root: Path) -> None:
    for child in root.glob("chunk_*"):
        if child.is_dir():
            for file in child.glob("*.npy"):
                file.unlink()
            child.rmdir()
    for name in (MANIFEST, IMAGES):
        (root / name).unlink(missing_ok=True)


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a store's manifest."""
    path = Path(root) / MANIFEST
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"no instance store at {root} (missing {MANIFEST}; "
                                "run `dualposenet prepare`)") from None
    if document.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a {FORMAT_NAME} manifest")
    if int(document.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {document['format_version']}; "
                         f"this code reads up to {FORMAT_VERSION}")
    return document


class InstanceStore:
    """Random access to a store's instances as NumPy (memory-mapped, opened lazily per process)."""

    def __init__(self, root: str | os.PathLike[str], fields: Sequence[str] | None = None,
                 allow_incomplete: bool = False) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        if not self.manifest.get("complete", False) and not allow_incomplete:
            raise ValueError(f"instance store {self.root} is incomplete (its writer did not finish)")
        available = self.manifest["fields"]
        self.fields = tuple(fields) if fields is not None else tuple(available)
        unknown = [name for name in self.fields if name not in available]
        if unknown:
            raise KeyError(f"store {self.root} has no field(s) {', '.join(unknown)}")
        self.chunks = [chunk["name"] for chunk in self.manifest["chunks"]]
        counts = [int(chunk["count"]) for chunk in self.manifest["chunks"]]
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        self._open: dict[int, dict[str, np.ndarray]] = {}
        self._pid = os.getpid()

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    @property
    def num_points(self) -> int:
        return int(self.manifest["num_points"])

    def __len__(self) -> int:
        return self.offsets[-1]

    def images(self) -> list[str]:
        return (self.root / IMAGES).read_text(encoding="utf-8").splitlines()

    def _chunk(self, index: int) -> dict[str, np.ndarray]:
        if os.getpid() != self._pid:  # forked into a DataLoader worker: open our own maps
            self._open, self._pid = {}, os.getpid()
        arrays = self._open.get(index)
        if arrays is None:
            directory = self.root / self.chunks[index]
            arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in self.fields}
            self._open[index] = arrays
        return arrays

    def locate(self, index: int) -> tuple[int, int]:
        """(chunk, row) of global ``index`` (negative indices count from the end)."""
        length = len(self)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError(f"instance index {index} out of range for {length} instances")
        chunk = bisect.bisect_right(self.offsets, index) - 1
        return chunk, index - self.offsets[chunk]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        chunk, row = self.locate(int(index))
        arrays = self._chunk(chunk)
        return {name: np.array(arrays[name][row]) for name in self.fields}

    def __getstate__(self) -> dict[str, Any]:  # never pickle open memory maps into workers
        state = dict(self.__dict__)
        state["_open"] = {}
        return state


class ColorJitter:
    """Photometric augmentation applied to the RGB spherical map only (geometry untouched).

    Colours are un-normalised, scaled by a random gain (brightness), shifted by a random per-channel
    offset, clipped to [0, 255] and normalised again; empty cells (distance 0) stay 0. Deterministic
    given the generator, so resumed runs see the same augmentation.
    """

    def __init__(self, brightness: float = 0.2, channel_shift: float = 10.0) -> None:
        self.brightness = float(brightness)
        self.channel_shift = float(channel_shift)

    def __call__(self, rgb: np.ndarray, occupied: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from ..model.preprocess import RGB_MEAN

        gain = 1.0 + rng.uniform(-self.brightness, self.brightness)
        shift = rng.uniform(-self.channel_shift, self.channel_shift, size=3)
        raw = rgb.astype(np.float32) * 255.0 + RGB_MEAN
        raw = np.clip(raw * gain + shift, 0.0, 255.0)
        return np.where(occupied, (raw - RGB_MEAN) / 255.0, 0.0).astype(np.float32)


class InstanceDataset(Dataset):
    """Torch view of one or more instance stores in the network's layout.

    Each item is a dict of tensors: ``distance_map`` (1, n, n) and ``rgb_map`` (3, n, n) float32,
    ``points`` and ``canonical_points`` (P, 3), ``quaternion`` (4,), ``translation`` (3,), ``size`` (3,)
    float32, and ``class_id``, ``image_index``, ``instance_id`` int64 scalars, and ``source``, the position of
    its store in ``roots``. Several stores are one dataset, their instances concatenated (the original's
    REAL275 recipe: CAMERA train + REAL train, shuffled together by the sampler); they must share the map
    resolution and point count. Chunks are memory-mapped lazily in each DataLoader worker. ``augment``
    (optional, e.g. :class:`ColorJitter`) gets a generator seeded by ``(seed, epoch, index)`` (call
    :meth:`set_epoch`), so augmentation is reproducible.
    """

    def __init__(self, roots: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                 augment: Callable[..., np.ndarray] | None = None, seed: int = 0,
                 allow_incomplete: bool = False) -> None:
        roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
        if not roots:
            raise ValueError("no instance store given")
        self.stores = [InstanceStore(root, allow_incomplete=allow_incomplete) for root in roots]
        first = self.stores[0]
        for store in self.stores[1:]:
            if (store.resolution, store.num_points) != (first.resolution, first.num_points):
                raise ValueError(f"{store.root} holds {store.resolution}x{store.resolution} maps and "
                                 f"{store.num_points} points, {first.root} {first.resolution}x{first.resolution} "
                                 f"and {first.num_points}: prepare them with the same --config")
        self.offsets = np.concatenate([[0], np.cumsum([len(store) for store in self.stores])]).astype(np.int64).tolist()
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    @property
    def store(self) -> InstanceStore:
        """The first store (the only one unless several were given)."""
        return self.stores[0]

    @property
    def manifest(self) -> dict[str, Any]:
        return self.store.manifest

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Dataset, split, path and instance count of each store, in order."""
        return [{"dataset": store.manifest.get("dataset"), "split": store.manifest.get("split"),
                 "path": str(store.root), "instances": len(store)} for store in self.stores]

    @property
    def resolution(self) -> int:
        return self.store.resolution

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.offsets[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """(store, index in that store) of a global index."""
        if not 0 <= index < len(self):
            raise IndexError(f"instance index {index} out of range for {len(self)} instances")
        source = bisect.bisect_right(self.offsets, index) - 1
        return source, index - self.offsets[source]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        source, local = self.locate(int(index) + len(self) if int(index) < 0 else int(index))
        item = self.stores[source][local]
        distance = np.ascontiguousarray(item["distance"].astype(np.float32).transpose(2, 0, 1))
        rgb = item["rgb"].astype(np.float32)
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, int(index) % len(self)))
            rgb = self.augment(rgb, item["distance"] > 0, rng)
        rgb = np.ascontiguousarray(rgb.transpose(2, 0, 1))
        sample = {
            "distance_map": torch.from_numpy(distance),
            "rgb_map": torch.from_numpy(rgb),
            "points": torch.from_numpy(item["points"].astype(np.float32)),
            "canonical_points": torch.from_numpy(item["canonical"].astype(np.float32)),
            "quaternion": torch.from_numpy(item["quaternion"].astype(np.float32)),
            "translation": torch.from_numpy(item["translation"].astype(np.float32)),
            "size": torch.from_numpy(item["size"].astype(np.float32)),
            "class_id": torch.tensor(int(item["class_id"]), dtype=torch.int64),
            "image_index": torch.tensor(int(item["image_index"]), dtype=torch.int64),
            "instance_id": torch.tensor(int(item["instance_id"]), dtype=torch.int64),
            "source": torch.tensor(source, dtype=torch.int64),
        }
        if "centroid" in item:  # provenance; absent from stores written before it was added
            sample["centroid"] = torch.from_numpy(item["centroid"].astype(np.float32))
        return sample
