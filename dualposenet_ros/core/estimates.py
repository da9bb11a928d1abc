"""Inputs and outputs of the inference pipeline, shared by the CLI test phases and the ROS node.

Everything here is plain numpy in the camera **optical** frame (x right, y down, z forward),
metres, so callers never see the network's internal NOCS camera frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from .camera import Distortion, Intrinsics
from .categories import NOCS_CATEGORIES, CategorySet
from .choice import Choice


class RefineMode(Choice):
    """Test-time refinement of pose consistency (:mod:`dualposenet_ros.inference.refine`)."""

    NONE = "none"
    ENCODER = "encoder"  # fine-tune the encoder per instance, weights restored afterwards
    FEATURE = "feature"  # fine-tune only the 1024-d pose feature per instance


class EstimateStatus(enum.IntEnum):
    """Per-instance outcome; values match the STATUS_* constants of ObjectPose.msg."""

    OK = 0
    TOO_FEW_POINTS = 1
    LOW_SCORE = 2  # gated: segmentation score below the minimum (dualposenet_ros.inference.tracking.gate)
    HIGH_RESIDUAL = 3  # gated: consistency residual above the maximum


@dataclass(frozen=True)
class InstanceInput:
    """One segmented instance: its mask over the image and its class."""

    mask: np.ndarray  # (H, W) bool
    class_id: int  # 1..n of the estimator's categories (the NOCS six: 1..6)
    score: float = 1.0
    instance_id: int = 0  # label value in the segmentation input (1-based); 0 = unknown


@dataclass(frozen=True)
class FrameInput:
    """One registered RGB-D frame and its instances."""

    rgb: np.ndarray  # (H, W, 3) uint8, RGB order
    depth: np.ndarray  # (H, W) float32 metres; 0 or non-finite = no depth
    intrinsics: Intrinsics
    instances: tuple[InstanceInput, ...] = field(default_factory=tuple)
    distortion: Distortion | None = None
    """Lens distortion of the images (None: an ideal pinhole camera, e.g. rectified images)."""

    def __post_init__(self) -> None:
        height, width = self.depth.shape[:2]
        if self.rgb.shape[:2] != (height, width) or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"colour image {self.rgb.shape} does not match depth {self.depth.shape} "
                             "(expected (H, W, 3))")
        for instance in self.instances:
            if instance.mask.shape != (height, width):
                raise ValueError(f"mask of instance {instance.instance_id} is {instance.mask.shape}, "
                                 f"image is {(height, width)}")
            if int(instance.class_id) < 1:  # the estimator checks the upper end against its categories
                raise ValueError(f"unknown class id {instance.class_id} of instance {instance.instance_id}: "
                                 "class ids start at 1")


@dataclass(frozen=True)
class ObjectEstimate:
    """Estimated pose and size of one instance, in the optical frame of the input."""

    instance_id: int
    class_id: int
    score: float
    rotation: np.ndarray  # (3, 3) object-to-camera
    translation: np.ndarray  # (3,) metres, centre of the object's box
    size: np.ndarray  # (3,) metres, box extents along the object axes
    consistency_residual: float
    num_points: int
    refined: bool = False
    status: EstimateStatus = EstimateStatus.OK
    handle_visible: bool = True  # known for ground truth only; estimates keep the default
    track_id: int = 0  # identity across frames (dualposenet_ros.inference.tracking); 0 = not tracked
    categories: CategorySet = NOCS_CATEGORIES
    """The categories of the model that made the estimate (they name ``class_id``)."""

    @property
    def rotation_symmetric(self) -> bool:
        """Whether the rotation about the object y axis is unobservable for this object."""
        return self.categories.is_symmetric(self.class_id, self.handle_visible)

    @property
    def category(self) -> str:
        return self.categories.name(self.class_id)

    @property
    def scale(self) -> float:
        """Object scale s = norm(size), the NOCS normalisation."""
        return float(np.linalg.norm(self.size))

    @property
    def quaternion_xyzw(self) -> np.ndarray:
        """Orientation in ROS order (x, y, z, w)."""
        return Rotation.from_matrix(self.rotation).as_quat()

    @property
    def pose_matrix(self) -> np.ndarray:
        """4x4 object-to-camera transform (no scale)."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.rotation
        matrix[:3, 3] = self.translation
        return matrix
