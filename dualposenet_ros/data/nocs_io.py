"""Readers and writers of the public NOCS dataset formats.

Every reader here must accept the files of the public CAMERA / Real datasets and of the public
result pickles as they are, and every writer must produce files those readers (and the original
NOCS / DualPoseNet code) accept, so that generated and downloaded data are interchangeable.

Images are read with OpenCV, which stores colour in BGR order; everything returned here is RGB.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from ..core.camera import Intrinsics

PathLike = str | os.PathLike[str]

NO_DEPTH_CODE = 32001
"""Value of 3-channel encoded depth pixels without a measurement (read as 0)."""

MASK_BACKGROUND = 255
"""Instance id of background pixels in mask PNGs."""


# --------------------------------------------------------------------------- intrinsics


CAMERA_INTRINSICS = Intrinsics.CAMERA
"""The synthetic CAMERA dataset (640x480)."""
REAL_INTRINSICS = Intrinsics.REAL
"""The Real dataset (640x480)."""

_DATASET_INTRINSICS: dict[str, Intrinsics] = {
    "camera": CAMERA_INTRINSICS,
    "camera25": CAMERA_INTRINSICS,
    "val": CAMERA_INTRINSICS,
    "real": REAL_INTRINSICS,
    "real275": REAL_INTRINSICS,
    "real_test": REAL_INTRINSICS,
    "real_train": REAL_INTRINSICS,
}


def dataset_intrinsics(name: str) -> Intrinsics:
    """Intrinsics of a dataset by any of its names (CAMERA, CAMERA25, val, Real, REAL275, real_test...)."""
    try:
        return _DATASET_INTRINSICS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(_DATASET_INTRINSICS)}") from None


def root_intrinsics(root: PathLike, dataset: str) -> tuple[Intrinsics, str]:
    """Intrinsics of the dataset under ``root`` and where they came from: the ``dataset.json`` of a
    generated dataset (which records rescaled intrinsics for other image sizes), else the
    published ones of ``dataset``."""
    path = Path(root) / "dataset.json"
    if path.is_file():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))["settings"]["intrinsics"]
            return Intrinsics.coerce(values), os.fspath(path)
        except (KeyError, TypeError, ValueError):  # JSONDecodeError is a ValueError
            pass
    return dataset_intrinsics(dataset), f"{dataset} default"


# --------------------------------------------------------------------------- images


def _imread(path: PathLike, flags: int) -> np.ndarray:
    """cv2.imread that raises instead of returning None."""
    image = cv2.imread(os.fspath(path), flags)
    if image is None:
        raise FileNotFoundError(f"cannot read image {os.fspath(path)!r}")
    return image


def _imwrite(path: PathLike, image: np.ndarray) -> None:
    """cv2.imwrite that creates the folder and raises on failure."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(os.fspath(path), image):
        raise OSError(f"cannot write image {os.fspath(path)!r}")


def read_color(path: PathLike) -> np.ndarray:
    """Colour image as (H, W, 3) uint8 RGB (grey and RGBA files are converted as NOCS does)."""
    return np.ascontiguousarray(_imread(path, cv2.IMREAD_COLOR)[:, :, ::-1])


def write_color(path: PathLike, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.dtype} {rgb.shape}")
    _imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))


def decode_depth(image: np.ndarray) -> np.ndarray:
    """Depth in mm (uint16) from a 16-bit image or a 3-channel encoded one.

    Encoded: value = image[..., 1] * 256 + image[..., 2] of the array OpenCV returns (what NOCS
    calls G * 256 + B, its note being that OpenCV's order is BGR); 32001 means no depth -> 0.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        if image.dtype != np.uint16:
            raise ValueError(f"single-channel depth must be uint16 mm, got {image.dtype}")
        return image
    if image.ndim == 3 and image.shape[2] >= 3:
        depth = image[:, :, 1].astype(np.uint16) * np.uint16(256) + image[:, :, 2].astype(np.uint16)
        depth[depth == NO_DEPTH_CODE] = 0
        return depth
    raise ValueError(f"unsupported depth image shape {image.shape}")


def encode_depth(depth_mm: np.ndarray) -> np.ndarray:
    """3-channel encoding of uint16 depth as CAMERA stores it (inverse of :func:`decode_depth`,
    OpenCV channel order); 0 (no depth) becomes 32001."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise ValueError(f"expected (H, W) uint16 depth in mm, got {depth.dtype} {depth.shape}")
    if np.any(depth == NO_DEPTH_CODE):
        raise ValueError(f"depth value {NO_DEPTH_CODE} mm is reserved for 'no depth' in the encoded format")
    value = np.where(depth == 0, np.uint16(NO_DEPTH_CODE), depth)
    encoded = np.zeros(depth.shape + (3,), dtype=np.uint8)
    encoded[:, :, 1] = value >> 8
    encoded[:, :, 2] = value & 0xFF
    return encoded


def read_depth(path: PathLike) -> np.ndarray:
    """Depth PNG (16-bit or 3-channel encoded) as (H, W) uint16 mm, 0 = no depth."""
    return decode_depth(_imread(path, cv2.IMREAD_UNCHANGED))


def write_depth(path: PathLike, depth_mm: np.ndarray, encoded: bool = False) -> None:
    """Write uint16 mm depth as a 16-bit PNG or, with ``encoded``, in the 3-channel CAMERA form."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.dtype != np.uint16:
        raise ValueError(f"expected (H, W) uint16 depth in mm, got {depth.dtype} {depth.shape}")
    _imwrite(path, encode_depth(depth) if encoded else depth)


def read_mask(path: PathLike) -> np.ndarray:
    """Instance ids (H, W) uint8 from the red channel (OpenCV index 2); 255 = background."""
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else image[:, :, 2]


def write_mask(path: PathLike, instance_ids: np.ndarray) -> None:
    """Write instance ids (H, W), 255 = background, into all three channels (red is what counts)."""
    ids = np.asarray(instance_ids)
    if ids.ndim != 2 or ids.min(initial=0) < 0 or ids.max(initial=0) > MASK_BACKGROUND:
        raise ValueError("expected (H, W) instance ids in 0..255")
    _imwrite(path, np.repeat(ids.astype(np.uint8)[:, :, None], 3, axis=2))


def read_coord(path: PathLike) -> np.ndarray:
    """NOCS map as (H, W, 3) float32 in [0, 1]: RGB / 255 with z flipped back (z = 1 - z).

    Background pixels are black in the file and so read as (0, 0, 1); select object pixels with
    the mask.
    """
    rgb = _imread(path, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / np.float32(255.0)
    rgb[:, :, 2] = 1.0 - rgb[:, :, 2]
    return rgb


def write_coord(path: PathLike, coord: np.ndarray, foreground: np.ndarray | None = None) -> None:
    """Write a NOCS map (H, W, 3) in [0, 1] as NOCS stores it (z flipped, 8 bits per channel).

    Pixels outside ``foreground`` (default: where any coordinate is non-zero) are written black.
    """
    coord = np.asarray(coord, dtype=np.float64)
    if coord.ndim != 3 or coord.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) coordinates, got shape {coord.shape}")
    if foreground is None:
        foreground = np.any(coord != 0.0, axis=2)
    stored = np.clip(coord, 0.0, 1.0)
    stored[:, :, 2] = 1.0 - stored[:, :, 2]
    rgb = np.rint(stored * 255.0).astype(np.uint8)
    rgb[~np.asarray(foreground, dtype=bool)] = 0
    _imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]))


# --------------------------------------------------------------------------- meta.txt, bbox.txt


@dataclass(frozen=True)
class MetaRecord:
    """One line of ``<idx>_meta.txt``: Real has no synset, CAMERA has one."""

    instance_id: int
    class_id: int
    model_id: str
    synset: str | None = None


def parse_meta(text: str) -> list[MetaRecord]:
    """Records of a meta.txt: ``inst_id class_id model_id`` or ``inst_id class_id synset model_id``."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == 3:
            records.append(MetaRecord(int(fields[0]), int(fields[1]), fields[2]))
        elif len(fields) == 4:
            records.append(MetaRecord(int(fields[0]), int(fields[1]), fields[3], synset=fields[2]))
        else:
            raise ValueError(f"meta line {number}: expected 3 or 4 fields, got {line!r}")
    return records


def read_meta(path: PathLike) -> list[MetaRecord]:
    """Parse a meta.txt file."""
    return parse_meta(Path(path).read_text(encoding="utf-8"))


def format_meta(records: Iterable[MetaRecord]) -> str:
    """meta.txt text; a record with a synset is written in the CAMERA form."""
    lines = []
    for record in records:
        middle = [record.synset] if record.synset is not None else []
        lines.append(" ".join([str(record.instance_id), str(record.class_id), *middle, record.model_id]))
    return "\n".join(lines) + "\n"


def write_meta(path: PathLike, records: Iterable[MetaRecord]) -> None:
    """Write a meta.txt file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(format_meta(records), encoding="utf-8")


def read_model_extents(path: PathLike) -> np.ndarray:
    """Normalised box size (3,) from an ``obj_models`` ``bbox.txt``: rows are the upper and the
    lower corner of the tight box in normalised object coordinates, so extents = row 0 - row 1."""
    bounds = np.loadtxt(os.fspath(path), dtype=np.float64).reshape(2, 3)
    return bounds[0] - bounds[1]


def write_model_extents(path: PathLike, extents: Sequence[float]) -> None:
    """Write ``bbox.txt`` for a model centred at the origin with these normalised extents."""
    half = np.asarray(extents, dtype=np.float64).reshape(3) / 2.0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(os.fspath(path), np.stack([half, -half]), fmt="%.8f")


# --------------------------------------------------------------------------- result pickles

GT_KEYS: tuple[str, ...] = ("gt_class_ids", "gt_RTs", "gt_scales", "gt_handle_visibility")
SEGMENTATION_KEYS: tuple[str, ...] = ("pred_class_ids", "pred_scores", "pred_bboxes", "pred_masks")
POSE_KEYS: tuple[str, ...] = ("pred_class_ids", "pred_scores", "pred_bboxes", "pred_RTs", "pred_scales")

RESULT_KINDS: dict[str, tuple[str, ...]] = {
    "gt": GT_KEYS,
    "segmentation": GT_KEYS + SEGMENTATION_KEYS,
    "pose": GT_KEYS + POSE_KEYS,
}
"""Keys each kind of result file must hold. Pose files usually also carry ``pred_masks``, but
evaluation does not read them, so they are checked only when present."""

_KEY_ALIASES: dict[str, str] = {
    "handle_visibility": "gt_handle_visibility",  # public gts/real_test files
    "class_ids": "pred_class_ids",  # Mask R-CNN files as SPD and others ship them
    "scores": "pred_scores",
    "rois": "pred_bboxes",
    "masks": "pred_masks",
}

# Trailing shape of each array per instance; the instance axis is first except for pred_masks.
_TRAILING_SHAPES: dict[str, tuple[int, ...]] = {
    "gt_class_ids": (),
    "gt_RTs": (4, 4),
    "gt_scales": (3,),
    "gt_handle_visibility": (),
    "gt_bboxes": (4,),
    "pred_class_ids": (),
    "pred_scores": (),
    "pred_bboxes": (4,),
    "pred_RTs": (4, 4),
    "pred_scales": (3,),
}


class ResultsFormatError(ValueError):
    """A result pickle lacks a key or holds an array of the wrong shape."""


def normalize_results(results: Mapping[str, Any]) -> dict[str, Any]:
    """Copy with alias keys renamed to the names used here and a missing handle visibility
    filled with ones, as the reference evaluation code does."""
    out = dict(results)
    for alias, name in _KEY_ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    if "gt_handle_visibility" not in out and "gt_class_ids" in out:
        out["gt_handle_visibility"] = np.ones(len(np.asarray(out["gt_class_ids"]).reshape(-1)), dtype=np.int64)
    return out


def validate_results(results: Mapping[str, Any], kind: str = "pose", source: str = "results") -> None:
    """Raise :class:`ResultsFormatError` naming the first missing key or mis-shaped array."""
    if kind not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {kind!r}: expected one of {sorted(RESULT_KINDS)}")
    for key in RESULT_KINDS[kind]:
        if key not in results:
            present = ", ".join(sorted(map(str, results)))
            raise ResultsFormatError(f"{source}: missing key {key!r} required in {kind} results (has: {present})")
    rows: dict[str, int] = {}  # instance count per prefix ('gt' / 'pred'), from the first array seen
    for key, trailing in _TRAILING_SHAPES.items():
        if results.get(key) is None:
            continue
        array = np.asarray(results[key])
        if array.size == 0:
            continue
        if array.shape[1:] != trailing:
            raise ResultsFormatError(f"{source}: {key!r} has shape {array.shape}, expected (N, *{trailing})")
        prefix = key.split("_")[0]
        expected = rows.setdefault(prefix, array.shape[0])
        if array.shape[0] != expected:
            raise ResultsFormatError(f"{source}: {key!r} has {array.shape[0]} rows, other {prefix}_* arrays {expected}")
    masks = results.get("pred_masks")
    if masks is not None and np.asarray(masks).size:
        shape = np.asarray(masks).shape
        if len(shape) != 3 or shape[2] != rows.get("pred", shape[2]):
            raise ResultsFormatError(f"{source}: 'pred_masks' has shape {shape}, expected (H, W, N)")


def read_pickle(path: PathLike) -> Any:
    """Unpickle a result file as stored, Python 2 pickles of the public files included (latin-1
    for their NumPy buffers; Python 3 pickles are unaffected). For trusted files only: unpickling
    can run arbitrary code."""
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")  # noqa: S301 - trusted files, see docstring


def load_results(path: PathLike, kind: str = "pose") -> dict[str, Any]:
    """Load and validate a result pickle (``kind``: 'gt', 'segmentation' or 'pose').

    For trusted files only: unpickling can run arbitrary code. Python 2 pickles of the public
    files are read too (latin-1 for their NumPy buffers). Alias keys are normalised
    (:func:`normalize_results`).
    """
    results = read_pickle(path)
    if not isinstance(results, Mapping):
        raise ResultsFormatError(f"{os.fspath(path)}: expected a dict, got {type(results).__name__}")
    results = normalize_results(results)
    validate_results(results, kind, source=os.fspath(path))
    return results


def save_results(path: PathLike, results: Mapping[str, Any], kind: str = "pose") -> None:
    """Validate and pickle a result dict (protocol 4, readable by every Python 3)."""
    validate_results(results, kind, source=os.fspath(path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(dict(results), handle, protocol=4)


# --------------------------------------------------------------------------- dataset layout

_SPLIT_TAGS: dict[tuple[str, str], str] = {
    ("CAMERA", "train"): "train",
    ("CAMERA", "val"): "val",
    ("Real", "train"): "real_train",
    ("Real", "test"): "real_test",
}
"""(dataset folder, subset) -> the tag in ``gts/<tag>/results_<tag>_<scene>_<idx>.pkl``."""


def parse_split(split: str) -> tuple[str, str]:
    """'CAMERA/val' -> ('CAMERA', 'val'); the dataset name is matched case-insensitively."""
    dataset, _, subset = split.replace("\\", "/").partition("/")
    for known_dataset, known_subset in _SPLIT_TAGS:
        if known_dataset.lower() == dataset.lower() and known_subset == subset:
            return known_dataset, known_subset
    raise ValueError(f"unknown split {split!r}: expected one of {[f'{d}/{s}' for d, s in _SPLIT_TAGS]}")


def split_tag(dataset: str, subset: str) -> str:
    """The results-file tag of a split: CAMERA/val -> 'val', Real/test -> 'real_test'."""
    return _SPLIT_TAGS[parse_split(f"{dataset}/{subset}")]


def results_file_name(tag: str, scene: str, index: str) -> str:
    """``results_<tag>_<scene>_<idx>.pkl`` as the public files are named."""
    return f"results_{tag}_{scene}_{index}.pkl"


@dataclass(frozen=True)
class ImageRecord:
    """Paths of one image of a NOCS-layout dataset and the name of its result files."""

    root: Path
    dataset: str
    subset: str
    scene: str
    index: str

    @property
    def prefix(self) -> Path:
        """``<root>/<dataset>/<subset>/<scene>/<idx>`` (file names append ``_color.png`` etc.)."""
        return self.root / self.dataset / self.subset / self.scene / self.index

    def _file(self, suffix: str) -> Path:
        return self.prefix.with_name(f"{self.index}_{suffix}")

    @property
    def color(self) -> Path:
        return self._file("color.png")

    @property
    def depth(self) -> Path:
        return self._file("depth.png")

    @property
    def mask(self) -> Path:
        return self._file("mask.png")

    @property
    def coord(self) -> Path:
        return self._file("coord.png")

    @property
    def meta(self) -> Path:
        return self._file("meta.txt")

    @property
    def image_path(self) -> str:
        """Relative image path stored in result pickles, e.g. ``CAMERA/val/00000/0000``."""
        return f"{self.dataset}/{self.subset}/{self.scene}/{self.index}"

    @property
    def tag(self) -> str:
        return split_tag(self.dataset, self.subset)

    @property
    def results_name(self) -> str:
        """Name of this image's gts / segmentation / pose result files."""
        return results_file_name(self.tag, self.scene, self.index)


def _natural_key(name: str) -> list[Any]:
    """Sort scene_2 before scene_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


_COLOR_FILE = re.compile(r"^(\d+)_color\.png$")


def iter_image_records(root: PathLike, split: str) -> Iterator[ImageRecord]:
    """Every image of ``split`` ('CAMERA/train', 'CAMERA/val', 'Real/train', 'Real/test') under
    ``root``, scenes in natural order, images by index; an image exists when its colour PNG does.
    The dataset folder may also be spelled ``camera`` / ``real`` (the original code base's layout)."""
    dataset, subset = parse_split(split)
    spellings = dict.fromkeys((dataset, *_DATASET_SPELLINGS[dataset.lower()]))
    dataset = next((name for name in spellings if (Path(root) / name / subset).is_dir()), dataset)
    base = Path(root) / dataset / subset
    if not base.is_dir():
        raise FileNotFoundError(f"no {' or '.join(f'{name}/{subset}' for name in spellings)} folder under "
                                f"{os.fspath(root)!r}")
    for scene_dir in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: _natural_key(p.name)):
        indices = sorted(m.group(1) for m in map(_COLOR_FILE.match, os.listdir(scene_dir)) if m)
        for index in indices:
            yield ImageRecord(Path(root), dataset, subset, scene_dir.name, index)


_DATASET_SPELLINGS: dict[str, tuple[str, ...]] = {"real": ("Real", "real"), "camera": ("CAMERA", "camera")}
"""Spellings of the dataset folders: the NOCS layout's ``Real`` / ``CAMERA`` and the lower-case
``real`` / ``camera`` of the original code base (and of its released result files' ``image_path``)."""


def image_prefix_candidates(image_path: str, bases: Sequence[PathLike]) -> list[Path]:
    """Where a result file's ``image_path`` (e.g. ``data/real/test/scene_1/0000``) may point: joined to each
    base folder in turn, its dataset folder in each known spelling (the file's own first); then the same
    from the dataset folder on (``real/test/scene_1/0000``), for a dataset root not named as in the file."""
    parts = PurePosixPath(str(image_path).replace("\\", "/")).parts
    variants = [parts]
    for position, part in enumerate(parts):
        spellings = _DATASET_SPELLINGS.get(part.lower())
        if spellings:
            names = dict.fromkeys((part, *spellings))
            variants = [parts[:position] + (name,) + parts[position + 1:] for name in names]
            if position:
                variants += [(name,) + parts[position + 1:] for name in names]
            break
    candidates: list[Path] = []
    for variant in variants:
        for base in bases:
            candidate = Path(base).joinpath(*variant) if variant else Path(base)
            if candidate not in candidates:
                candidates.append(candidate)
    return candidates


def find_image_prefix(image_path: str, bases: Sequence[PathLike]) -> Path | None:
    """The first candidate of :func:`image_prefix_candidates` whose ``_color.png`` exists, or None."""
    for candidate in image_prefix_candidates(image_path, bases):
        if candidate.with_name(f"{candidate.name}_color.png").is_file():
            return candidate
    return None
