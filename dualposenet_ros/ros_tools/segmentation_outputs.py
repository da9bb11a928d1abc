"""A label image as each segmentation format the node reads, the way real segmenters publish it.

The synthetic camera uses these to publish its perfect segmentation in any ``segmentation_format``
(:mod:`.segmentation_inputs` reads them back), with class names as a COCO-trained segmenter says
them (``cup`` for a mug), so the default ``class_map`` is exercised:

* :func:`instance_segmentation`: ``dualposenet_ros/InstanceSegmentation`` (NOCS class ids);
* :func:`detections_masks`: ``vision_msgs/Detection2DArray`` + mask images, either one mono8
  image per detection (255 inside, as ultralytics_ros) or one mono8/mono16 label image;
* :func:`yolo_detections`: ``yolo_msgs/DetectionArray`` with the outline of each mask as its
  polygon (the largest outer contour, as yolo_ros sends one polygon per detection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.categories import category_name

__all__ = ["COCO_IDS", "SEGMENTER_NAMES", "detections_masks", "image_msg", "instance_segmentation", "yolo_detections"]

SEGMENTER_NAMES = {"bottle": "bottle", "bowl": "bowl", "camera": "camera", "can": "can", "laptop": "laptop",
                   "mug": "cup"}
"""Category -> the class name a COCO-style segmenter publishes."""
COCO_IDS = {"bottle": 39, "cup": 41, "bowl": 45, "laptop": 63}
"""COCO class ids (0-based, as YOLO models number them); classes COCO lacks get 80 + category id."""


def image_msg(array: np.ndarray, encoding: str, header: Any) -> Any:
    """A ``sensor_msgs/Image`` of ``array`` in ``encoding`` with ``header``."""
    from ..ros.compat import load_cv_bridge

    return load_cv_bridge().CvBridge().cv2_to_imgmsg(np.ascontiguousarray(array), encoding=encoding, header=header)


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Centre x, y and size x, y (pixels) of the mask's bounding box."""
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return 0.0, 0.0, 0.0, 0.0
    x0, x1, y0, y1 = cols.min(), cols.max() + 1, rows.min(), rows.max() + 1
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, float(x1 - x0), float(y1 - y0)


def _name(class_id: int) -> str:
    return SEGMENTER_NAMES[category_name(class_id)]


def instance_segmentation(header: Any, labels: np.ndarray, class_ids: Sequence[int]) -> Any:
    """``InstanceSegmentation`` of a label image (value k = instance k) and NOCS class ids."""
    from dualposenet_ros.msg import InstanceSegmentation

    msg = InstanceSegmentation(header=header, labels=image_msg(labels.astype(np.uint16, copy=False), "mono16", header))
    msg.class_ids = [int(c) for c in class_ids]
    msg.class_names = [category_name(c) for c in class_ids]
    msg.scores = [1.0] * len(class_ids)
    return msg


def detections_masks(header: Any, labels: np.ndarray, class_ids: Sequence[int],
                     label_image: bool = False) -> tuple[Any, list[Any]]:
    """``Detection2DArray`` and its masks: one mono8 image per detection, or (``label_image``) one
    label image whose value k is detection k."""
    from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesis, ObjectHypothesisWithPose

    detections = []
    masks = []
    for k, class_id in enumerate(class_ids, start=1):
        mask = labels == k
        cx, cy, sx, sy = _box(mask)
        bbox = BoundingBox2D(size_x=sx, size_y=sy)
        bbox.center.position.x, bbox.center.position.y = cx, cy
        hypothesis = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id=_name(class_id), score=1.0))
        detections.append(Detection2D(header=header, results=[hypothesis], bbox=bbox, id=str(k)))
        if not label_image:
            masks.append(image_msg(mask.astype(np.uint8) * np.uint8(255), "mono8", header))
    if label_image:
        wide = len(class_ids) > 255
        masks.append(image_msg(labels.astype(np.uint16 if wide else np.uint8), "mono16" if wide else "mono8", header))
    return Detection2DArray(header=header, detections=detections), masks


def _outline(mask: np.ndarray) -> np.ndarray:
    """(N, 2) pixel coordinates of the largest outer contour of ``mask``."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2))
    return max(contours, key=cv2.contourArea).reshape(-1, 2)


def yolo_detections(header: Any, labels: np.ndarray, class_ids: Sequence[int]) -> Any:
    """``yolo_msgs/DetectionArray``: per instance its class, score 1, box and outline polygon."""
    from yolo_msgs.msg import Detection, DetectionArray, Point2D

    height, width = labels.shape
    detections = []
    for k, class_id in enumerate(class_ids, start=1):
        mask = labels == k
        name = _name(class_id)
        detection = Detection(class_id=COCO_IDS.get(name, 80 + int(class_id)), class_name=name, score=1.0, id=str(k))
        cx, cy, sx, sy = _box(mask)
        detection.bbox.center.position.x, detection.bbox.center.position.y = cx, cy
        detection.bbox.size.x, detection.bbox.size.y = sx, sy
        detection.mask.height, detection.mask.width = int(height), int(width)
        detection.mask.data = [Point2D(x=float(x), y=float(y)) for x, y in _outline(mask)]
        detections.append(detection)
    return DetectionArray(header=header, detections=detections)
