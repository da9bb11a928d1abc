"""Helpers for the tests of the dualposenet node: synthetic input messages and a stand-in estimator.

The stand-in (:class:`StubEstimator`) has the interface of ``PoseEstimator`` (``settings``,
``device``, ``estimate(frame, refine)``) and a deterministic, checkable answer: each instance's box
is the bounding box of its back-projected points (optical frame), identity rotation. It lets the
node's plumbing be tested in seconds without a model; tests with the real pipeline use a tiny
random-weight checkpoint (:func:`write_tiny_checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dualposenet_ros.estimates import EstimateStatus, FrameInput, ObjectEstimate, RefineMode
from dualposenet_ros.preprocess import Intrinsics

INTRINSICS = Intrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5)
FRAME_ID = "camera_color_optical_frame"
FAIL_SCORE = 0.25
"""An instance with exactly this score makes :class:`StubEstimator` raise (tests the error path)."""


@dataclass
class StubSettings:
    min_points: int = 32
    refine: RefineMode = RefineMode.NONE


@dataclass
class StubEstimator:
    """Stand-in for PoseEstimator: boxes from the back-projected mask points."""

    settings: Any = field(default_factory=StubSettings)
    device: str = "cpu (stub)"
    calls: list[RefineMode] = field(default_factory=list)

    def estimate(self, frame: FrameInput, refine: Any = None) -> list[ObjectEstimate]:
        mode = RefineMode.parse(refine if refine is not None else self.settings.refine)
        self.calls.append(mode)
        k = frame.intrinsics
        results = []
        for instance in frame.instances:
            if instance.score == FAIL_SCORE:
                raise RuntimeError("stub estimator failure requested by the test")
            rows, cols = np.nonzero(instance.mask & np.isfinite(frame.depth) & (frame.depth > 0))
            z = frame.depth[rows, cols].astype(np.float64)
            points = np.stack([(cols - k.cx) * z / k.fx, (rows - k.cy) * z / k.fy, z], axis=-1)
            common = dict(instance_id=instance.instance_id, class_id=instance.class_id, score=instance.score,
                          num_points=len(points))
            if len(points) <= self.settings.min_points:
                centre = points.mean(0) if len(points) else np.zeros(3)
                results.append(ObjectEstimate(rotation=np.eye(3), translation=centre, size=np.ones(3),
                                              consistency_residual=float("nan"), status=EstimateStatus.TOO_FEW_POINTS,
                                              **common))
                continue
            low, high = points.min(0), points.max(0)
            results.append(ObjectEstimate(rotation=np.eye(3), translation=(low + high) / 2,
                                          size=np.maximum(high - low, 0.01), consistency_residual=0.01,
                                          refined=mode is not RefineMode.NONE, **common))
        return results


# -- messages -----------------------------------------------------------------------------------


@dataclass
class ObjectSpec:
    """A rectangle of the label image at constant depth."""

    class_id: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    depth: float = 0.5  # metres
    score: float = 0.9


DEFAULT_OBJECTS = (ObjectSpec(6, (10, 30), (8, 28), 0.6, 0.9), ObjectSpec(2, (20, 40), (36, 60), 0.8, 0.8))


def image_msg(array: np.ndarray, encoding: str, stamp: Any = None, frame_id: str = FRAME_ID) -> Any:
    from sensor_msgs.msg import Image

    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    data = np.ascontiguousarray(array).tobytes()
    msg.step = len(data) // max(array.shape[0], 1)
    msg.data = data
    return msg


def stamp_msg(seconds: float) -> Any:
    from builtin_interfaces.msg import Time

    sec = int(seconds)
    return Time(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def camera_info_msg(stamp: Any, width: int = 64, height: int = 48, intrinsics: Intrinsics = INTRINSICS,
                    frame_id: str = FRAME_ID) -> Any:
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.width, msg.height = width, height
    msg.k = [intrinsics.fx, 0.0, intrinsics.cx, 0.0, intrinsics.fy, intrinsics.cy, 0.0, 0.0, 1.0]
    msg.p = [intrinsics.fx, 0.0, intrinsics.cx, 0.0, 0.0, intrinsics.fy, intrinsics.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    return msg


def make_frame(seconds: float = 1.0, *, width: int = 64, height: int = 48, objects=DEFAULT_OBJECTS,
               color_encoding: str = "rgb8", depth_encoding: str = "16UC1", label_encoding: str = "mono16",
               frame_id: str = FRAME_ID) -> tuple[Any, Any, Any, Any]:
    """(colour, depth, camera_info, segmentation) messages of one synthetic frame."""
    from dualposenet_ros.msg import InstanceSegmentation

    from dualposenet_ros.categories import category_name

    stamp = stamp_msg(seconds)
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 3
    rgb[..., 1] = 100
    depth_m = np.full((height, width), 1.5, np.float32)
    labels = np.zeros((height, width), np.int64)
    for index, spec in enumerate(objects):
        (r0, r1), (c0, c1) = spec.rows, spec.cols
        labels[r0:r1, c0:c1] = index + 1
        depth_m[r0:r1, c0:c1] = spec.depth
        rgb[r0:r1, c0:c1] = (200, 50 + 30 * index, 40)
    color = rgb[..., ::-1] if color_encoding == "bgr8" else rgb
    if depth_encoding in ("16UC1", "mono16"):
        depth = image_msg(np.round(depth_m * 1000).astype(np.uint16), depth_encoding, stamp, frame_id)
    else:
        depth = image_msg(depth_m, depth_encoding, stamp, frame_id)
    label_dtype = {"mono8": np.uint8, "8UC1": np.uint8, "mono16": np.uint16, "16UC1": np.uint16, "32SC1": np.int32}
    segmentation = InstanceSegmentation()
    segmentation.header.stamp, segmentation.header.frame_id = stamp, frame_id
    segmentation.labels = image_msg(labels.astype(label_dtype[label_encoding]), label_encoding, stamp, frame_id)
    segmentation.class_ids = [spec.class_id for spec in objects]
    segmentation.class_names = [category_name(spec.class_id) if 1 <= spec.class_id <= 6 else "" for spec in objects]
    segmentation.scores = [spec.score for spec in objects]
    return (image_msg(np.ascontiguousarray(color), color_encoding, stamp, frame_id), depth,
            camera_info_msg(stamp, width, height, frame_id=frame_id), segmentation)


def write_tiny_checkpoint(path: Path) -> Path:
    """A random-weight DualPoseNet small enough to load and run in a fraction of a second."""
    import torch

    from dualposenet_ros.checkpoint import save_checkpoint
    from dualposenet_ros.config import ModelConfig
    from dualposenet_ros.network import DualPoseNet

    torch.manual_seed(0)
    config = ModelConfig(resolution=16, filters=(4, 4, 4, 4, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                         implicit_hidden=(32, 16, 8), num_points=128, num_anchors=4)
    save_checkpoint(path, DualPoseNet(config), {"note": "random weights for tests"})
    return path


# -- the test side of a node test: publishes inputs, records outputs ------------------------------


class Probe:
    """A node in the test process that publishes the node's inputs and records all its outputs."""

    def __init__(self, context: Any, node_namespace: str = "/dualposenet", qos_reliable: bool = True,
                 input_topics: tuple[str, ...] = ("color/image", "depth/image", "color/camera_info", "segmentation"),
                 ) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image
        from visualization_msgs.msg import MarkerArray

        from dualposenet_ros.msg import InstanceSegmentation, ObjectPoseArray
        from dualposenet_ros.ros.compat.tf2_ros import FALLBACK_TOPIC, tf2_msgs_available

        self.node = rclpy.create_node("dualposenet_test_probe", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE) if qos_reliable else qos_profile_sensor_data
        self.publishers = [self.node.create_publisher(t, topic, qos) for t, topic in
                           zip((Image, Image, CameraInfo, InstanceSegmentation), input_topics)]
        self.objects: list[Any] = []
        self.markers: list[Any] = []
        self.debug_images: list[Any] = []
        self.diagnostics: list[Any] = []
        self.tf_frames: list[tuple[str, str]] = []
        ns = node_namespace
        self.node.create_subscription(ObjectPoseArray, f"{ns}/objects", self.objects.append, 50)
        self.node.create_subscription(MarkerArray, f"{ns}/markers", self.markers.append, 50)
        self.node.create_subscription(Image, f"{ns}/debug_image", self.debug_images.append, 5)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 50)
        if tf2_msgs_available():
            from tf2_msgs.msg import TFMessage

            self.tf_topic = "/tf"
            self.node.create_subscription(TFMessage, "/tf", lambda m: self.tf_frames.extend(
                (t.header.frame_id, t.child_frame_id) for t in m.transforms), 100)
        else:
            from geometry_msgs.msg import TransformStamped

            self.tf_topic = FALLBACK_TOPIC
            self.node.create_subscription(TransformStamped, FALLBACK_TOPIC, lambda t: self.tf_frames.append(
                (t.header.frame_id, t.child_frame_id)), 100)

    def publish(self, msgs: tuple[Any, ...], skip: tuple[int, ...] = ()) -> None:
        for index, (publisher, msg) in enumerate(zip(self.publishers, msgs)):
            if index not in skip:
                publisher.publish(msg)

    def spin_until(self, condition, timeout: float) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def objects_at(self, seconds: float) -> Any:
        """The ObjectPoseArray stamped ``seconds``, or None."""
        stamp = stamp_msg(seconds)
        for msg in self.objects:
            if (msg.header.stamp.sec, msg.header.stamp.nanosec) == (stamp.sec, stamp.nanosec):
                return msg
        return None

    def wait_for_objects(self, seconds: float, timeout: float = 15.0, republish: Any = None) -> Any:
        """Wait for the objects of the frame stamped ``seconds`` (re-publishing ``republish`` every
        0.5 s, for the first frame while discovery completes)."""
        import time

        last = 0.0

        def ready() -> bool:
            nonlocal last
            if republish is not None and time.monotonic() - last > 0.5:
                self.publish(republish)
                last = time.monotonic()
            return self.objects_at(seconds) is not None

        self.spin_until(ready, timeout)
        return self.objects_at(seconds)

    def latest_diagnostics(self) -> dict[str, str]:
        if not self.diagnostics:
            return {}
        status = self.diagnostics[-1].status[0]
        values = {kv.key: kv.value for kv in status.values}
        values["__level__"] = int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else status.level
        values["__message__"] = status.message
        return values

    def set_parameter(self, node_name: str, name: str, value: Any, timeout: float = 10.0) -> Any:
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, node_name)
        assert self.spin_until(lambda: client.services_are_ready(), timeout), "parameter services not ready"
        future = client.set_parameters([Parameter(name, value=value)])
        assert self.spin_until(future.done, timeout), "set_parameters timed out"
        return future.result().results[0]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
