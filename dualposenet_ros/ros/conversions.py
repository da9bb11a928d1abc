"""Conversions between ROS messages and the pipeline's types, with the checks the node relies on.

Inputs: ``sensor_msgs/Image`` (colour rgb8/bgr8; depth 16UC1/mono16 in millimetres or 32FC1 in
metres), ``sensor_msgs/CameraInfo`` and a segmentation (read in its format by
:mod:`.segmentation_inputs`) become one :class:`~dualposenet_ros.core.estimates.FrameInput`. Anything
that makes the whole frame unusable raises :class:`InputError` (with a short ``reason`` key,
counted in diagnostics, and a message saying what is wrong); problems that only concern one
instance or part of the data are returned as :class:`InputIssue` entries and the rest of the
frame is used.

Outputs: :class:`~dualposenet_ros.core.estimates.ObjectEstimate` becomes ``ObjectPose`` /
``ObjectPoseArray``, ``geometry_msgs/TransformStamped`` and RViz markers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.camera import DISTORTION_MODELS, Distortion, Intrinsics
from ..core.estimates import EstimateStatus, FrameInput, InstanceInput, ObjectEstimate
from ..inference.visualize import BOX_EDGES, CATEGORY_COLORS, box_corners
from .compat import load_cv_bridge
from .compat.cv_bridge import CvBridgeError, encoding_info

__all__ = [
    "COLOR_ENCODINGS",
    "ReadInstances",
    "DEPTH_ENCODINGS",
    "LABEL_ENCODINGS",
    "ConvertedFrame",
    "InputError",
    "InputIssue",
    "child_frame_id",
    "color_from_image",
    "depth_from_image",
    "distortion_from_camera_info",
    "estimate_is_finite",
    "frame_from_messages",
    "header",
    "image_array",
    "image_from_rgb",
    "intrinsics_from_camera_info",
    "marker_array",
    "object_pose",
    "object_pose_array",
    "stamp_ns",
    "transforms",
]

COLOR_ENCODINGS = ("rgb8", "bgr8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
"""16UC1 / mono16: millimetres, 0 = no depth. 32FC1: metres, 0 or NaN = no depth (REP 118)."""
DEPTH_RANGE = (0.1, 10.0)
"""Valid depth of an RGB-D camera, metres: anything outside is treated as no depth (parameters depth.min/max)."""
LABEL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32SC1")

_bridge_module = load_cv_bridge()
_BRIDGE = _bridge_module.CvBridge()
_BRIDGE_ERRORS: tuple[type[BaseException], ...] = (CvBridgeError,
                                                   getattr(_bridge_module, "CvBridgeError", CvBridgeError))


class InputError(ValueError):
    """A frame that cannot be estimated. ``reason`` is a short key for counting (diagnostics)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InputIssue:
    """A problem that leaves the rest of the frame usable (one instance skipped, pixels ignored...)."""

    reason: str
    message: str
    level: str = "warning"  # or "info": expected in normal operation (NaN depth per REP 118)
    count: int = 1  # how many things (instances, pixels...) it concerns, for the diagnostics counter


ReadInstances = Callable[[Any, tuple[int, int], "int | None", "int | None"],
                         tuple[tuple[InstanceInput, ...], list["InputIssue"]]]
"""Reads a segmentation message: (msg, image shape, max_pixels, max_instances) -> (instances, issues)."""


@dataclass(frozen=True)
class ConvertedFrame:
    """A frame ready for the estimator, with the header its outputs carry."""

    frame: FrameInput
    stamp: Any  # builtin_interfaces/Time of the colour image
    frame_id: str  # the camera optical frame
    issues: tuple[InputIssue, ...] = field(default_factory=tuple)


# -- images -------------------------------------------------------------------------------------


def image_array(msg: Any, role: str, encodings: Sequence[str], max_pixels: int | None) -> np.ndarray:
    """Validate an Image's layout and return its pixels (a copy, native byte order)."""
    encoding = msg.encoding
    if encoding not in encodings:
        raise InputError(f"{role}_encoding",
                         f"{role} image has encoding {encoding!r}; expected one of {', '.join(encodings)}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise InputError(f"{role}_empty", f"{role} image is empty ({width}x{height})")
    if max_pixels is not None and height * width > max_pixels:
        raise InputError("image_too_large", f"{role} image is {width}x{height} = {height * width} pixels, more than "
                         f"max_image_pixels = {max_pixels}; raise the parameter to accept such frames")
    dtype, channels = encoding_info(encoding)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise InputError(f"{role}_layout", f"{role} image step {step} is smaller than one row of {width} {encoding} "
                         f"pixels ({row_bytes} bytes)")
    size = len(msg.data)
    if size != step * height:
        raise InputError(f"{role}_layout", f"{role} image has {size} bytes of data, expected step * height = "
                         f"{step} * {height} = {step * height}")
    try:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except _BRIDGE_ERRORS as error:  # layout checked above, so only an odd step can get here
        raise InputError(f"{role}_layout", f"{role} image cannot be read: {error}") from None


def color_from_image(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an rgb8 or bgr8 image."""
    image = image_array(msg, "color", COLOR_ENCODINGS, max_pixels)
    return np.ascontiguousarray(image[..., ::-1]) if msg.encoding == "bgr8" else image


def depth_from_image(msg: Any, max_pixels: int | None = None,
                     depth_range: tuple[float, float] = DEPTH_RANGE) -> tuple[np.ndarray, int, int]:
    """(H, W) float32 depth in metres, the number of invalid pixels (non-finite or negative) and
    the number of pixels outside ``depth_range`` (metres), all set to 0 (no depth).
    16UC1/mono16 are millimetres (0 = no depth), 32FC1 metres."""
    image = image_array(msg, "depth", DEPTH_ENCODINGS, max_pixels)
    if image.dtype == np.uint16:
        depth = image.astype(np.float32) * np.float32(0.001)
        invalid_count = 0
    else:
        depth = image.astype(np.float32, copy=True)
        invalid = ~np.isfinite(depth) | (depth < 0)
        invalid_count = int(np.count_nonzero(invalid))
        depth[invalid] = 0.0
    low, high = depth_range
    outside = (depth > 0) & ((depth < np.float32(low)) | (depth > np.float32(high)))
    outside_count = int(np.count_nonzero(outside))
    if outside_count:
        depth[outside] = 0.0
    return depth, invalid_count, outside_count


def image_from_rgb(rgb: np.ndarray, header: Any = None) -> Any:
    """An rgb8 ``sensor_msgs/Image`` of an (H, W, 3) uint8 RGB array."""
    return _BRIDGE.cv2_to_imgmsg(np.ascontiguousarray(rgb, dtype=np.uint8), encoding="rgb8", header=header)


# -- camera info --------------------------------------------------------------------------------


def intrinsics_from_camera_info(msg: Any, shape: tuple[int, int] | None = None) -> Intrinsics:
    """Pinhole intrinsics from ``CameraInfo.k``; checks them and, if given, the image size."""
    k = np.asarray(msg.k, dtype=np.float64)
    if k.shape != (9,) or not np.all(np.isfinite(k)):
        raise InputError("camera_info_invalid", f"camera_info K must hold 9 finite numbers, got {list(k)}")
    intrinsics = Intrinsics.from_matrix(k)
    if not (intrinsics.fx > 0 and intrinsics.fy > 0):
        raise InputError("camera_info_invalid", f"camera_info K has fx = {intrinsics.fx}, fy = {intrinsics.fy}; both "
                         "must be positive (is the camera calibrated?)")
    if shape is not None and (msg.width or msg.height):
        height, width = shape
        if (int(msg.height), int(msg.width)) != (height, width):
            raise InputError("size_mismatch", f"camera_info is for {msg.width}x{msg.height} images but the images are "
                             f"{width}x{height}: depth must be registered to the colour camera")
    return intrinsics


def distortion_from_camera_info(msg: Any) -> Distortion | None:
    """The lens distortion of ``CameraInfo`` (None when ``D`` is empty or all zero: a pinhole or
    rectified camera); an unsupported model or malformed coefficients make the frame unusable."""
    coefficients = [float(value) for value in msg.d]
    if not any(coefficients):
        return None
    try:
        return Distortion.create(str(msg.distortion_model), coefficients)
    except ValueError as error:
        supported = str(msg.distortion_model) in DISTORTION_MODELS
        reason = "camera_info_invalid" if supported else "distortion_unsupported"
        raise InputError(reason, f"camera_info: {error}; publish rectified images (image_proc) with zero distortion "
                         "to use another model") from None


# -- whole frame --------------------------------------------------------------------------------


def frame_from_messages(color: Any, depth: Any, camera_info: Any, segmentation: Any,
                        max_pixels: int | None = None, depth_range: tuple[float, float] = DEPTH_RANGE,
                        max_instances: int | None = None, *, read_instances: ReadInstances) -> ConvertedFrame:
    """One synchronised set of input messages as a :class:`ConvertedFrame` (or :class:`InputError`).
    ``read_instances(segmentation, shape, max_pixels, max_instances)`` reads the segmentation in
    its format (:meth:`.segmentation_inputs.InstanceReader.read`)."""
    frame_id = color.header.frame_id or camera_info.header.frame_id
    if not frame_id:
        raise InputError("missing_frame_id", "colour image and camera_info have an empty header.frame_id: the "
                         "outputs need the camera optical frame")
    for role, msg in (("depth image", depth), ("camera_info", camera_info)):
        if msg.header.frame_id and msg.header.frame_id != frame_id:
            raise InputError("frame_id_mismatch", f"{role} is in frame {msg.header.frame_id!r} but the colour image in "
                             f"{frame_id!r}: depth must be registered to the colour camera (e.g. "
                             "aligned_depth_to_color) and camera_info must be the colour camera's")
    rgb = color_from_image(color, max_pixels)
    shape = rgb.shape[:2]
    metres, invalid, outside = depth_from_image(depth, max_pixels, depth_range)
    if metres.shape != shape:
        raise InputError("size_mismatch", f"depth image is {metres.shape[1]}x{metres.shape[0]} but the colour image is "
                         f"{shape[1]}x{shape[0]}: depth must be registered to the colour camera")
    intrinsics = intrinsics_from_camera_info(camera_info, shape)
    distortion = distortion_from_camera_info(camera_info)
    instances, issues = read_instances(segmentation, shape, max_pixels, max_instances)
    if outside:
        issues.insert(0, InputIssue("depth_out_of_range", f"depth image has {outside} pixels outside depth.min.."
                                    f"depth.max = {depth_range[0]:g}..{depth_range[1]:g} m: treated as no depth",
                                    level="info"))
    if invalid:
        issues.insert(0, InputIssue("invalid_depth", f"depth image has {invalid} NaN, infinite or negative pixels: "
                                    "treated as no depth", level="info"))
    if instances and not np.any(metres > 0):
        issues.insert(0, InputIssue("no_valid_depth", "depth image has no valid pixel (all zero, invalid or outside "
                                    f"depth.min..depth.max = {depth_range[0]:g}..{depth_range[1]:g} m): every instance "
                                    "gets status TOO_FEW_POINTS"))
    try:
        frame = FrameInput(rgb=rgb, depth=metres, intrinsics=intrinsics, instances=instances, distortion=distortion)
    except ValueError as error:  # already checked above; kept so a future check cannot crash the node
        raise InputError("invalid_frame", str(error)) from None
    return ConvertedFrame(frame=frame, stamp=color.header.stamp, frame_id=frame_id, issues=tuple(issues))


# -- outputs ------------------------------------------------------------------------------------


def estimate_is_finite(estimate: ObjectEstimate) -> bool:
    """Whether the pose and size are all finite (a NaN pose must never be published)."""
    return bool(np.all(np.isfinite(estimate.rotation)) and np.all(np.isfinite(estimate.translation))
                and np.all(np.isfinite(estimate.size)))


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (a header stamp), the key stamps are compared by."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def header(stamp: Any, frame_id: str) -> Any:
    """``std_msgs/Header`` of an output: the input's stamp and optical frame."""
    from std_msgs.msg import Header

    return Header(stamp=stamp, frame_id=frame_id)


def object_pose(estimate: ObjectEstimate) -> Any:
    """``dualposenet_ros/ObjectPose`` of one estimate."""
    from dualposenet_ros.msg import ObjectPose

    msg = ObjectPose()
    msg.category = estimate.category
    msg.class_id = int(estimate.class_id)
    msg.instance_id = int(estimate.instance_id)
    msg.track_id = int(estimate.track_id)
    msg.score = float(estimate.score)
    x, y, z = (float(v) for v in estimate.translation)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
    qx, qy, qz, qw = (float(v) for v in estimate.quaternion_xyzw)
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = qx, qy, qz, qw
    msg.size.x, msg.size.y, msg.size.z = (float(v) for v in estimate.size)
    msg.scale = float(estimate.scale)
    msg.consistency_residual = float(estimate.consistency_residual)
    msg.refined = bool(estimate.refined)
    msg.rotation_symmetric = bool(estimate.rotation_symmetric)
    msg.num_points = int(estimate.num_points)
    msg.status = int(estimate.status)
    return msg


def object_pose_array(stamp: Any, frame_id: str, estimates: Sequence[ObjectEstimate]) -> Any:
    """``dualposenet_ros/ObjectPoseArray`` with the input's stamp and frame."""
    from dualposenet_ros.msg import ObjectPoseArray

    return ObjectPoseArray(header=header(stamp, frame_id), objects=[object_pose(e) for e in estimates])


def child_frame_id(prefix: str, estimate: ObjectEstimate) -> str:
    """TF frame of an object: ``<prefix><category>_<track id>`` (the instance id when untracked)."""
    return f"{prefix}{estimate.category}_{estimate.track_id or estimate.instance_id}"


def transforms(stamp: Any, frame_id: str, estimates: Sequence[ObjectEstimate], prefix: str) -> list[Any]:
    """One ``TransformStamped`` (camera optical frame -> object) per successful estimate."""
    from geometry_msgs.msg import TransformStamped

    result = []
    for estimate in estimates:
        if estimate.status != EstimateStatus.OK:
            continue
        msg = TransformStamped(header=header(stamp, frame_id), child_frame_id=child_frame_id(prefix, estimate))
        msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (
            float(v) for v in estimate.translation)
        q = [float(v) for v in estimate.quaternion_xyzw]
        msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z, msg.transform.rotation.w = q
        result.append(msg)
    return result


def marker_array(stamp: Any, frame_id: str, estimates: Sequence[ObjectEstimate], lifetime: float = 0.5,
                 line_width: float = 0.004, text_height: float = 0.03) -> Any:
    """RViz markers of the successful estimates: a translucent box, its edges, the object axes
    (x red, y green, z blue) and a label. The array starts with a DELETEALL, so objects no longer
    seen disappear at once; ``lifetime`` (s, 0 = forever) clears them when frames stop coming."""
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker, MarkerArray

    seconds = int(math.floor(lifetime))
    duration = Duration(sec=seconds, nanosec=int(round((lifetime - seconds) * 1e9)) % 1_000_000_000)
    common = header(stamp, frame_id)
    markers = [Marker(header=common, action=Marker.DELETEALL)]

    def base(ns: str, estimate: ObjectEstimate, kind: int) -> Any:
        marker = Marker(header=common, ns=ns, id=int(estimate.track_id or estimate.instance_id), type=kind,
                        action=Marker.ADD, lifetime=duration)
        position = marker.pose.position
        position.x, position.y, position.z = (float(v) for v in estimate.translation)
        q = [float(v) for v in estimate.quaternion_xyzw]
        marker.pose.orientation.x, marker.pose.orientation.y, marker.pose.orientation.z, marker.pose.orientation.w = q
        return marker

    for estimate in estimates:
        if estimate.status != EstimateStatus.OK:
            continue
        r, g, b = (c / 255.0 for c in CATEGORY_COLORS.get(estimate.category, (255, 255, 255)))
        size = np.asarray(estimate.size, dtype=np.float64)

        box = base("boxes", estimate, Marker.CUBE)
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 1e-4) for v in size)
        box.color = ColorRGBA(r=r, g=g, b=b, a=0.35)
        markers.append(box)

        edges = base("box_edges", estimate, Marker.LINE_LIST)
        edges.scale.x = line_width
        edges.color = ColorRGBA(r=r, g=g, b=b, a=1.0)
        corners = box_corners(size)
        edges.points = [Point(x=float(c[0]), y=float(c[1]), z=float(c[2]))
                        for edge in BOX_EDGES for c in corners[list(edge)]]
        markers.append(edges)

        axes = base("axes", estimate, Marker.LINE_LIST)
        axes.scale.x = line_width * 1.5
        length = 0.6 * float(size.max())
        for axis, colour in enumerate(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))):
            tip = [0.0, 0.0, 0.0]
            tip[axis] = length
            axes.points += [Point(), Point(x=tip[0], y=tip[1], z=tip[2])]
            axes.colors += [ColorRGBA(r=colour[0], g=colour[1], b=colour[2], a=1.0)] * 2
        axes.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        markers.append(axes)

        label = base("labels", estimate, Marker.TEXT_VIEW_FACING)
        # Above the box: the object's y axis points up out of its base.
        offset = estimate.rotation @ np.array([0.0, size[1] / 2.0 + text_height, 0.0])
        label.pose.position.x += float(offset[0])
        label.pose.position.y += float(offset[1])
        label.pose.position.z += float(offset[2])
        label.pose.orientation.x, label.pose.orientation.y, label.pose.orientation.z = 0.0, 0.0, 0.0
        label.pose.orientation.w = 1.0
        label.scale.z = text_height
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        label.text = f"{estimate.category} {estimate.track_id or estimate.instance_id} ({estimate.score:.2f})"
        markers.append(label)
    return MarkerArray(markers=markers)
