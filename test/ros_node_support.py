"""Helpers for the tests of the dualposenet node: synthetic input messages, a tiny real model and
a probe node that feeds the node and records its outputs.

The node under test always runs the real :class:`~dualposenet_ros.inference.pipeline.PoseEstimator`, on a
random-weight DualPoseNet small enough to estimate a frame in milliseconds on the CPU
(:func:`tiny_model`): in this process (:func:`in_process_node`) or as the real executable with
the checkpoint :func:`write_tiny_checkpoint` saves. Random weights make poses arbitrary, so tests
check what holds for any estimate (:func:`assert_valid_object`), never particular boxes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from dualposenet_ros.core.config import ModelConfig
from ros_support import require_modules, spin_until
from dualposenet_ros.model.preprocess import Intrinsics

if TYPE_CHECKING:
    from dualposenet_ros.model.network import DualPoseNet
    from dualposenet_ros.inference.pipeline import PoseEstimator
    from dualposenet_ros.ros.node import DualPoseNetNode

INTRINSICS = Intrinsics(fx=60.0, fy=60.0, cx=31.5, cy=23.5)
FRAME_ID = "camera_color_optical_frame"
TF_TYPE = "tf2_msgs/msg/TFMessage"

TINY_MODEL = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                         implicit_hidden=(32, 16, 8), num_points=64, num_anchors=4)
"""A DualPoseNet small enough to build, load and run in milliseconds."""


def tiny_model(seed: int = 0) -> DualPoseNet:
    """A random-weight :data:`TINY_MODEL` network (deterministic for a given ``seed``)."""
    import torch

    from dualposenet_ros.model.network import DualPoseNet

    torch.manual_seed(seed)
    return DualPoseNet(TINY_MODEL)


def write_tiny_checkpoint(path: Path) -> Path:
    """Save :func:`tiny_model` as a checkpoint at ``path`` (for the ``checkpoint`` parameter)."""
    from dualposenet_ros.model.checkpoint import save_checkpoint

    save_checkpoint(path, tiny_model(), {"note": "random weights for tests"})
    return path


def tiny_estimator(estimator_type: type[PoseEstimator] | None = None) -> PoseEstimator:
    """The real ``PoseEstimator`` (or the subclass ``estimator_type``) on :func:`tiny_model`, CPU."""
    from dualposenet_ros.inference.pipeline import PoseEstimator

    return (estimator_type or PoseEstimator)(tiny_model(), device="cpu")


def in_process_node(context: Any, parameters: Mapping[str, Any] | None = None,
                    estimator: PoseEstimator | None = None) -> DualPoseNetNode:
    """The dualposenet node in this process with ``parameters`` and :func:`tiny_estimator` (or ``estimator``)."""
    from rclpy.parameter import Parameter

    from dualposenet_ros.ros.node import DualPoseNetNode

    overrides = [Parameter(name, value=value) for name, value in (parameters or {}).items()]
    return DualPoseNetNode(estimator=estimator if estimator is not None else tiny_estimator(), context=context,
                           parameter_overrides=overrides)


def require_tf_message() -> type:
    """``tf2_msgs/msg/TFMessage``, or skip (fail where ROS is required: tools/setup.sh builds it)."""
    return require_modules("tf2_msgs.msg")[0].TFMessage


def assert_tf_publisher(observer: Any, node_name: str) -> None:
    """``node_name`` publishes ``/tf`` as tf2_ros does: ``TFMessage``, reliable, volatile (seen by ``observer``)."""
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    publishers = [info for info in observer.get_publishers_info_by_topic("/tf") if info.node_name == node_name]
    assert [info.topic_type for info in publishers] == [TF_TYPE], publishers
    qos = publishers[0].qos_profile
    assert (qos.reliability, qos.durability) == (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE), qos


def assert_valid_object(pose: Any, mask_pixels: int) -> None:
    """What holds for any estimate the node publishes, whatever the weights: finite values, a unit
    quaternion, a positive box, the points of the mask; TOO_FEW_POINTS: identity, unit box."""
    q = pose.pose.orientation
    values = [pose.pose.position.x, pose.pose.position.y, pose.pose.position.z, q.x, q.y, q.z, q.w,
              pose.size.x, pose.size.y, pose.size.z, pose.scale]
    assert np.all(np.isfinite(values)), pose
    assert math.hypot(q.x, q.y, q.z, q.w) == pytest.approx(1.0, abs=1e-5), pose
    assert min(pose.size.x, pose.size.y, pose.size.z) > 0, pose
    assert pose.scale == pytest.approx(math.hypot(pose.size.x, pose.size.y, pose.size.z), rel=1e-4), pose
    assert 0 <= pose.num_points <= mask_pixels, pose
    if pose.status == pose.STATUS_TOO_FEW_POINTS:
        assert [q.x, q.y, q.z, q.w] == pytest.approx([0, 0, 0, 1], abs=1e-9) and not pose.refined, pose
        assert (pose.size.x, pose.size.y, pose.size.z) == (1.0, 1.0, 1.0), pose
    else:
        assert pose.status == pose.STATUS_OK and pose.num_points > 0, pose


# -- messages -----------------------------------------------------------------------------------


@dataclass
class ObjectSpec:
    """A rectangle of the label image at constant depth."""

    class_id: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    depth: float = 0.5  # metres
    score: float = 0.9

    @property
    def pixels(self) -> int:
        return (self.rows[1] - self.rows[0]) * (self.cols[1] - self.cols[0])


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

    from dualposenet_ros.core.categories import category_name

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


# -- the test side of a node test: publishes inputs, records outputs ------------------------------


def small_synthetic_frame(seed: int = 3, size: tuple[int, int] = (160, 120)) -> Any:
    """A rendered synthetic scene (``dualposenet_ros.data.synth.Frame``) in the synthetic camera's intrinsics."""
    from dualposenet_ros.data.synth import SceneSampler, render_scene
    from dualposenet_ros.ros_tools.synthetic_camera import camera_intrinsics

    intrinsics = camera_intrinsics(*size)
    scene = SceneSampler(intrinsics=intrinsics, image_size=size).sample(np.random.default_rng(seed))
    return render_scene(scene, intrinsics, size)


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

        tf_message = require_tf_message()
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
        self.transforms: list[Any] = []
        """Every ``TransformStamped`` received on /tf (as ``TFMessage``)."""
        ns = node_namespace
        self.node.create_subscription(ObjectPoseArray, f"{ns}/objects", self.objects.append, 50)
        self.node.create_subscription(MarkerArray, f"{ns}/markers", self.markers.append, 50)
        self.node.create_subscription(Image, f"{ns}/debug_image", self.debug_images.append, 5)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 50)
        self.node.create_subscription(tf_message, "/tf", lambda msg: self.transforms.extend(msg.transforms), 100)

    def publish(self, msgs: tuple[Any, ...], skip: tuple[int, ...] = ()) -> None:
        for index, (publisher, msg) in enumerate(zip(self.publishers, msgs)):
            if index not in skip:
                publisher.publish(msg)

    def spin_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        return spin_until(self.node, self.executor, condition, timeout)

    def objects_at(self, seconds: float) -> Any:
        """The ObjectPoseArray stamped ``seconds``, or None."""
        return next((msg for msg in self.objects if _same_stamp(msg.header.stamp, seconds)), None)

    def transforms_at(self, seconds: float) -> dict[tuple[str, str], Any]:
        """(parent frame, child frame) -> transform of the /tf transforms stamped ``seconds``."""
        return {(t.header.frame_id, t.child_frame_id): t.transform for t in self.transforms
                if _same_stamp(t.header.stamp, seconds)}

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

    def counter(self, key: str) -> int:
        """A counter of the latest diagnostics status (0 while absent)."""
        return int(self.latest_diagnostics().get(key, 0))

    def latest_diagnostics(self) -> dict[str, Any]:
        if not self.diagnostics:
            return {}
        status = self.diagnostics[-1].status[0]
        values: dict[str, Any] = {kv.key: kv.value for kv in status.values}
        level = status.level
        values["__level__"] = int.from_bytes(level, "little") if isinstance(level, bytes) else level
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


def _same_stamp(stamp: Any, seconds: float) -> bool:
    expected = stamp_msg(seconds)
    return (stamp.sec, stamp.nanosec) == (expected.sec, expected.nanosec)
