"""The segmentation formats the node reads, each turned into the same per-instance masks and classes.

``segmentation_format`` chooses what arrives on the ``segmentation`` topic (synchronised with
colour, depth and camera_info like any input):

* ``instance_segmentation``: ``dualposenet_ros/InstanceSegmentation`` (label image, NOCS class ids
  and optional class names);
* ``detections_masks``: ``vision_msgs/Detection2DArray`` (what ultralytics_ros and Isaac ROS
  segmenters publish), its masks on ``segmentation/masks`` (``sensor_msgs/Image``, same stamp):
  either one mono8 image per detection, in the order of the detections (nonzero = inside), or a
  single label image (mono8/mono16/32SC1) whose value k marks detection k (1-based);
* ``yolo_ros``: ``yolo_msgs/DetectionArray`` of yolo_ros; each detection's ``mask`` polygon is
  rasterised at the image size with ``cv2.fillPoly`` (points scaled when the mask was computed at
  another size).

Segmenters name classes their own way (COCO says ``cup``): ``class_map`` maps their class names or
ids (as text) to the six categories, in every format; the category names map to themselves, and an
``InstanceSegmentation`` class id without a name or map entry is the NOCS id it is by definition.
Detections whose class is not in the map are skipped and reported as the issue ``unmapped_class``
(counted in diagnostics). Every format yields :class:`~dualposenet_ros.core.estimates.InstanceInput`
with ``instance_id`` = the 1-based index of the detection, so the same scene gives the same
estimates in every format. Of more than ``max_instances`` instances the largest masks are kept
(:func:`keep_largest`, one rule for every format).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from ..core.categories import DEFAULT_CLASS_MAP, NOCS_CATEGORIES, CategorySet
from ..core.estimates import InstanceInput
from .conversions import LABEL_ENCODINGS, InputError, InputIssue, image_array

__all__ = [
    "DEFAULT_CLASS_MAP",
    "FORMATS",
    "MASKS_TOPIC",
    "MaskStore",
    "InstanceReader",
    "instances_from_detections",
    "instances_from_segmentation",
    "instances_from_yolo",
    "keep_largest",
    "is_label_image",
    "parse_class_map",
    "segmentation_type",
]

FORMATS = ("instance_segmentation", "detections_masks", "yolo_ros")
MASKS_TOPIC = "segmentation/masks"
"""Topic of the mask images of the ``detections_masks`` format (relative, remappable)."""


Instances = tuple[tuple[InstanceInput, ...], list[InputIssue]]
T = TypeVar("T")


def parse_class_map(entries: str | Sequence[str], categories: CategorySet = NOCS_CATEGORIES,
                    skip_unknown_categories: bool = False) -> dict[str, int]:
    """``"cup: mug, 41: mug"`` (or a list of such entries) -> {"cup": 6, "41": 6}, plus each
    category name -> its id, for the model's ``categories``. Keys are compared case-insensitively;
    raises ValueError naming the first bad entry. With ``skip_unknown_categories`` (the default map
    under a model of other categories) entries naming a category the model lacks are left out."""
    lower = {name.lower(): index + 1 for index, name in enumerate(categories.names)}
    mapping = dict(lower)
    if isinstance(entries, str):
        entries = [entry for entry in entries.split(",") if entry.strip()]
    for entry in entries:
        key, sep, value = str(entry).rpartition(":")
        key, value = key.strip().lower(), value.strip().lower()
        if sep and key and value not in lower and skip_unknown_categories:
            continue
        if not sep or not key or value not in lower:
            raise ValueError(f"class_map entry {entry!r} must be 'segmenter class: category' with a category among "
                             f"{', '.join(categories.names)}")
        mapping[key] = lower[value]
    return mapping


def segmentation_type(segmentation_format: str) -> type:
    """Message type of the ``segmentation`` topic in ``segmentation_format`` (ImportError names the
    missing package)."""
    if segmentation_format == "instance_segmentation":
        from dualposenet_ros.msg import InstanceSegmentation

        return InstanceSegmentation
    if segmentation_format == "detections_masks":
        from vision_msgs.msg import Detection2DArray

        return Detection2DArray
    if segmentation_format == "yolo_ros":
        from yolo_msgs.msg import DetectionArray

        return DetectionArray
    raise ValueError(f"unknown segmentation_format {segmentation_format!r}: expected one of {', '.join(FORMATS)}")


def _lookup(class_map: dict[str, int], *keys: Any) -> int | None:
    for key in keys:
        text = str(key).strip().lower()
        if text and text in class_map:
            return class_map[text]
    return None


def _check_score(score: float, index: int, name: str, issues: list[InputIssue]) -> bool:
    if math.isfinite(score) and 0.0 <= score <= 1.0:
        return True
    issues.append(InputIssue("invalid_score", f"detection {index} ({name}) has score {score}, not in [0, 1]: skipped"))
    return False


def _unmapped(index: int, name: str) -> InputIssue:
    return InputIssue("unmapped_class", f"detection {index} has class {name!r}, which class_map does not map to a "
                      f"category: skipped", level="info")


def keep_largest(items: Sequence[T], pixels: Sequence[int], max_instances: int | None) -> tuple[list[T],
                                                                                                list[InputIssue]]:
    """At most ``max_instances`` of ``items`` (one per instance, ``pixels`` its mask size): the
    largest masks, in their order (equal sizes: the first); the rest is the issue ``too_many_instances``."""
    if max_instances is None or len(items) <= max_instances:
        return list(items), []
    kept = sorted(sorted(range(len(items)), key=lambda k: (-int(pixels[k]), k))[:max_instances])
    skipped = len(items) - max_instances
    issue = InputIssue("too_many_instances", f"segmentation has {len(items)} usable instances, more than "
                       f"max_instances = {max_instances}: the {max_instances} largest masks are estimated, "
                       f"{skipped} skipped", count=skipped)
    return [items[k] for k in kept], [issue]


# -- instance_segmentation ------------------------------------------------------------------------------


def _segmentation_class(index: int, name: str, class_id: int, class_map: dict[str, int],
                        categories: CategorySet = NOCS_CATEGORIES) -> tuple[int | None, InputIssue | None]:
    """The category id of ``InstanceSegmentation`` entry ``index`` (0-based), or the issue that skips it:
    its name through ``class_map`` when it has one (which must agree with a class id of the model's
    ``categories``), else its id through ``class_map``, else the model's class id it is by definition."""
    label = index + 1
    by_id = _lookup(class_map, class_id)
    nocs = class_id in categories
    if not name:
        if by_id is not None or nocs:
            return (by_id if by_id is not None else class_id), None
        return None, InputIssue("unknown_class_id", f"instance {label} has class id {class_id}, not one of "
                                f"1..{len(categories)} ({', '.join(categories.names)}) nor in class_map: skipped")
    by_name = _lookup(class_map, name)
    if by_name is None:
        return None, _unmapped(label, name)
    if by_id is None and nocs and class_id != by_name:
        return None, InputIssue("class_name_mismatch", f"instance {label} has class name {name!r} but class id "
                                f"{class_id} is {categories.name(class_id)!r}: skipped")
    return by_name, None


def instances_from_segmentation(msg: Any, shape: tuple[int, int], class_map: dict[str, int],
                                max_pixels: int | None = None, max_instances: int | None = None,
                                categories: CategorySet = NOCS_CATEGORIES) -> Instances:
    """Instances of an ``InstanceSegmentation`` (label k <-> entry k-1), and the problems found; class
    ids are those of the model's ``categories``.

    An instance whose class is unknown (:func:`_segmentation_class`), with an invalid score or no
    pixels is skipped; label values without an entry (or negative) are ignored. Of more than
    ``max_instances`` the largest masks are kept; only their masks are made. Each of these is
    reported as an issue. Arrays of the wrong length make the whole frame unusable."""
    labels = image_array(msg.labels, "labels", LABEL_ENCODINGS, max_pixels)
    if labels.shape != tuple(shape):
        raise InputError("size_mismatch", f"label image is {labels.shape[1]}x{labels.shape[0]} but the colour image is "
                         f"{shape[1]}x{shape[0]}")
    class_ids = [int(value) for value in msg.class_ids]
    count = len(class_ids)
    names, scores = list(msg.class_names), [float(value) for value in msg.scores]
    if names and len(names) != count:
        raise InputError("segmentation_arrays", f"segmentation has {len(names)} class_names for {count} class_ids "
                         "(class_names must be empty or one per instance)")
    if scores and len(scores) != count:
        raise InputError("segmentation_arrays", f"segmentation has {len(scores)} scores for {count} class_ids "
                         "(scores must be empty or one per instance)")
    issues: list[InputIssue] = []
    labels = labels.astype(np.int64, copy=False) if labels.dtype == np.int32 else labels
    negative = int(np.count_nonzero(labels < 0)) if labels.dtype.kind == "i" else 0
    if negative:
        issues.append(InputIssue("negative_label", f"label image has {negative} pixels with negative values: ignored"))
    beyond = labels > count
    unmatched = int(np.count_nonzero(beyond))
    if unmatched:
        values = np.unique(labels[beyond])
        shown = ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        issues.append(InputIssue("label_without_class", f"label image has {unmatched} pixels with label values "
                                 f"({shown}) beyond the {count} class_ids entries: ignored"))
    inside = labels[(labels > 0) & ~beyond]
    pixels = np.bincount(inside.ravel().astype(np.int64), minlength=count + 1) if count else np.zeros(1, np.int64)
    usable: list[tuple[int, int, float]] = []  # (label, class id, score)
    for index, class_id in enumerate(class_ids):
        label = index + 1
        category, issue = _segmentation_class(index, names[index] if names else "", class_id, class_map, categories)
        if category is None:
            issues.append(issue)
            continue
        score = scores[index] if scores else 1.0
        if not _check_score(score, label, categories.name(category), issues):
            continue
        if pixels[label] == 0:
            issues.append(InputIssue("empty_mask", f"instance {label} ({categories.name(category)}) has no pixels in "
                                     "the label image: skipped"))
            continue
        usable.append((label, category, score))
    usable, too_many = keep_largest(usable, [int(pixels[label]) for label, _, _ in usable], max_instances)
    instances = tuple(InstanceInput(mask=labels == label, class_id=category, score=score, instance_id=label)
                      for label, category, score in usable)
    return instances, issues + too_many


# -- detections_masks ---------------------------------------------------------------------------------


def _best_hypothesis(detection: Any) -> tuple[str, float] | None:
    results = list(detection.results)
    if not results:
        return None
    best = max(results, key=lambda result: float(result.hypothesis.score))
    return str(best.hypothesis.class_id), float(best.hypothesis.score)


def _detection_masks(masks: Sequence[Any], count: int, shape: tuple[int, int],
                     max_pixels: int | None) -> list[np.ndarray]:
    """One boolean mask per detection from one label image or ``count`` mono8 masks."""
    arrays = []
    for mask in masks:
        array = image_array(mask, "mask", LABEL_ENCODINGS, max_pixels)
        if array.shape != tuple(shape):
            raise InputError("size_mismatch", f"mask image is {array.shape[1]}x{array.shape[0]} but the colour image "
                             f"is {shape[1]}x{shape[0]}")
        arrays.append(array)
    if len(arrays) == 1:
        labels = arrays[0]
        if count == 1:
            return [labels != 0]
        return [labels == k for k in range(1, count + 1)]
    if len(arrays) != count:
        raise InputError("mask_count", f"{len(arrays)} mask images for {count} detections (expected one per detection "
                         "or one label image)")
    return [array != 0 for array in arrays]


def instances_from_detections(detections: Any, masks: Sequence[Any], shape: tuple[int, int],
                              class_map: dict[str, int], max_pixels: int | None = None) -> Instances:
    """Instances of a ``Detection2DArray`` and its mask images (see the module documentation)."""
    count = len(detections.detections)
    if count == 0:
        return (), []
    if not masks:
        raise InputError("missing_masks", f"no mask image arrived on {MASKS_TOPIC} for the {count} detections")
    boolean = _detection_masks(masks, count, shape, max_pixels)
    issues: list[InputIssue] = []
    instances = []
    for index, (detection, mask) in enumerate(zip(detections.detections, boolean), start=1):
        hypothesis = _best_hypothesis(detection)
        if hypothesis is None:
            issues.append(InputIssue("no_class", f"detection {index} has no results (class hypotheses): skipped"))
            continue
        name, score = hypothesis
        class_id = _lookup(class_map, name)
        if class_id is None:
            issues.append(_unmapped(index, name))
            continue
        if not _check_score(score, index, name, issues):
            continue
        if not mask.any():
            issues.append(InputIssue("empty_mask", f"detection {index} ({name}) has an empty mask: skipped"))
            continue
        instances.append(InstanceInput(mask=mask, class_id=class_id, score=score, instance_id=index))
    return tuple(instances), issues


def is_label_image(msg: Any, count: int) -> bool:
    """Whether one mask image of a frame with ``count`` detections is a label image rather than
    the first of ``count`` per-detection masks: a 16- or 32-bit image, or a mono8 image holding
    more than one nonzero value or a value in 2..count (a per-detection mask is 0 and one value)."""
    if msg.encoding not in ("mono8", "8UC1"):
        return msg.encoding in LABEL_ENCODINGS
    values = np.unique(np.frombuffer(bytes(msg.data), dtype=np.uint8))
    nonzero = values[values > 0]
    return len(nonzero) > 1 or (len(nonzero) == 1 and 2 <= int(nonzero[0]) <= count)


class MaskStore:
    """Mask images of the ``detections_masks`` format by stamp, for the inference thread.

    The subscription callback :meth:`add` s every mask image; the inference thread :meth:`take` s
    those of its frame's stamp, waiting up to ``timeout`` seconds until ``count`` arrived (or one
    label image). Only the newest ``max_stamps`` stamps are kept."""

    def __init__(self, max_stamps: int = 30) -> None:
        self._masks: OrderedDict[tuple[int, int], list[Any]] = OrderedDict()
        self._changed = threading.Condition()
        self.max_stamps = max(1, int(max_stamps))

    def add(self, msg: Any) -> None:
        key = (int(msg.header.stamp.sec), int(msg.header.stamp.nanosec))
        with self._changed:
            self._masks.setdefault(key, []).append(msg)
            self._masks.move_to_end(key)
            while len(self._masks) > self.max_stamps:
                self._masks.popitem(last=False)
            self._changed.notify_all()

    def take(self, stamp: Any, count: int, timeout: float) -> list[Any]:
        """The mask images of ``stamp`` once ``count`` arrived, or one label image (see
        :func:`is_label_image`), or what came within ``timeout`` s; removed with every older stamp."""
        key = (int(stamp.sec), int(stamp.nanosec))
        deadline = time.monotonic() + max(0.0, timeout)

        def complete(masks: list[Any]) -> bool:
            return len(masks) >= count or (len(masks) == 1 and is_label_image(masks[0], count))

        with self._changed:
            while not complete(self._masks.get(key, [])):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            masks = self._masks.get(key, [])
            for old in [k for k in self._masks if k <= key]:
                del self._masks[old]
        return masks


# -- yolo_ros -----------------------------------------------------------------------------------------


def _polygon_mask(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    height, width = shape
    points = np.array([[p.x, p.y] for p in mask.data], dtype=np.float64).reshape(-1, 2)
    if len(points) < 3 or not np.all(np.isfinite(points)):
        return np.zeros(shape, dtype=bool)
    if mask.width > 0 and mask.height > 0 and (mask.width, mask.height) != (width, height):
        points *= (width / float(mask.width), height / float(mask.height))
    raster = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(raster, [np.round(points).astype(np.int32)], 1)
    return raster.astype(bool)


def instances_from_yolo(msg: Any, shape: tuple[int, int], class_map: dict[str, int]) -> Instances:
    """Instances of a ``yolo_msgs/DetectionArray``: polygon masks rasterised at ``shape``."""
    issues: list[InputIssue] = []
    instances = []
    for index, detection in enumerate(msg.detections, start=1):
        name = detection.class_name or str(detection.class_id)
        class_id = _lookup(class_map, detection.class_name, detection.class_id)
        if class_id is None:
            issues.append(_unmapped(index, name))
            continue
        score = float(detection.score)
        if not _check_score(score, index, name, issues):
            continue
        mask = _polygon_mask(detection.mask, shape)
        if not mask.any():
            issues.append(InputIssue("empty_mask", f"detection {index} ({name}) has no mask polygon (yolo_ros needs a "
                                     "segmentation model, e.g. yolov8m-seg.pt): skipped"))
            continue
        instances.append(InstanceInput(mask=mask, class_id=class_id, score=score, instance_id=index))
    return tuple(instances), issues


# -- one reader per format ------------------------------------------------------------------------------


class InstanceReader:
    """``read(segmentation_msg, shape, max_pixels) -> (instances, issues)`` for one format; the
    node passes it to :func:`~.conversions.frame_from_messages`."""

    def __init__(self, segmentation_format: str, class_map: dict[str, int] | None = None,
                 masks: MaskStore | None = None, mask_timeout: float = 0.5,
                 categories: CategorySet = NOCS_CATEGORIES) -> None:
        if segmentation_format not in FORMATS:
            raise ValueError(f"unknown segmentation_format {segmentation_format!r}: expected one of "
                             f"{', '.join(FORMATS)}")
        self.format = segmentation_format
        self.categories = categories
        self.class_map = class_map if class_map is not None else parse_class_map(
            DEFAULT_CLASS_MAP, categories, skip_unknown_categories=True)
        if masks is None and segmentation_format == "detections_masks":
            masks = MaskStore()
        self.masks = masks
        self.mask_timeout = float(mask_timeout)

    def read(self, msg: Any, shape: tuple[int, int], max_pixels: int | None = None,
             max_instances: int | None = None) -> Instances:
        if self.format == "instance_segmentation":  # masks made for the kept instances only
            return instances_from_segmentation(msg, shape, self.class_map, max_pixels, max_instances, self.categories)
        if self.format == "yolo_ros":
            instances, issues = instances_from_yolo(msg, shape, self.class_map)
        else:
            count = len(msg.detections)
            masks = self.masks.take(msg.header.stamp, count, self.mask_timeout) if count else []
            instances, issues = instances_from_detections(msg, masks, shape, self.class_map, max_pixels)
        if max_instances is None or len(instances) <= max_instances:  # no mask needs counting
            return tuple(instances), issues
        kept, too_many = keep_largest(instances, [int(np.count_nonzero(i.mask)) for i in instances], max_instances)
        return tuple(kept), issues + too_many
