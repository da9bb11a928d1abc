"""The ``synthetic_camera`` node: moving procedural scenes as RGB-D + instance masks + ground truth.

Publishes, on the topics the ``dualposenet`` node subscribes to by default (relative names,
remappable), one set of messages per frame, all with the SAME header (stamp = publication time,
``frame_id`` parameter, default ``camera_color_optical_frame``):

* ``color/image`` (``sensor_msgs/Image``, rgb8), ``depth/image`` (16UC1, millimetres, 0 = none),
  ``color/camera_info`` (the NOCS CAMERA intrinsics scaled to ``width`` x ``height``, no distortion);
* ``segmentation``: a perfect segmentation (score 1.0) in the format the ``segmentation_format``
  parameter chooses, as :mod:`.segmentation_outputs` writes it: ``instance_segmentation``
  (``dualposenet_ros/InstanceSegmentation``, mono16 labels, value k = the k-th annotated object),
  ``detections_masks`` (``vision_msgs/Detection2DArray``, and on ``segmentation/masks`` one mono8
  mask per detection or, with ``detection_masks: label_image``, one label image) or ``yolo_ros``
  (``yolo_msgs/DetectionArray`` with outline polygons); the last two name a mug ``cup``, as COCO does;
* ``~/ground_truth`` (``dualposenet_ros/ObjectPoseArray``): the true pose and size of each
  labelled object, ``instance_id`` = its label value k, ``track_id`` = its identity (1000 x the
  scene number + the object's id in the scene). Ground-truth convention: ``score`` 1.0,
  ``consistency_residual`` 0, ``num_points`` = mask pixels with depth, and ``rotation_symmetric``
  set for bottles, bowls, cans and mugs whose handle is hidden.

Scenes come from :mod:`dualposenet_ros.data.synth`: a new random scene every ``new_scene_every``
frames (0 = never), moved by ``1 / rate`` seconds per frame in between (objects spin, the camera
orbits). Rendering takes about 0.2 s per 640x480 frame on a CPU, so a background thread renders
ahead into a bounded queue (``queue_size``) and the timer only publishes: frames go out on time
as long as the renderer keeps up on average, and a warning says so when it does not.

Parameters: ``seed`` (0), ``rate`` (5.0 Hz), ``width`` (640), ``height`` (480), ``frames``
(0 = forever, else exit after publishing that many), ``new_scene_every`` (100 frames),
``min_objects`` / ``max_objects`` (3 / 6), ``sensor_noise`` (true), ``frame_id``, ``exit_timeout``
(10 s: after the last frame, how long to wait for reliable subscribers to acknowledge everything
before exiting), ``exit_linger`` (1 s more, for best-effort messages still in transit),
``queue_size`` (8), ``preroll`` (2 frames rendered before the first is published),
``segmentation_format`` and ``detection_masks`` (see above), ``segmentation_rate`` and
``segmentation_latency`` (0 and 0 s: a segmenter slower than the camera, as a real one often is:
only the first frame of every ``1 / segmentation_rate`` seconds is segmented, and its segmentation
is published ``segmentation_latency`` seconds after its images, with their stamp) and ``wait_for_subscribers``
(0; when N > 0, publishing starts only once each of the five topics has N subscribers, so a test
or demo that knows who listens loses no frame to discovery) with ``match_settle`` (0.5 s: the
subscribers match the camera's publishers a moment after the camera matches them, and a
best-effort frame sent in between would be dropped).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from dualposenet_ros.msg import ObjectPoseArray

from ..core.camera import Intrinsics
from ..core.categories import category_name
from ..core.estimates import EstimateStatus, ObjectEstimate
from ..ros import conversions
from ..ros.parameters import INT_MAX, ParameterTable, Spec
from ..ros.rate_limited_log import RateLimitedLog
from ..ros.segmentation_inputs import FORMATS, MASKS_TOPIC, segmentation_type
from . import segmentation_outputs

__all__ = [
    "FRAME_ID",
    "NODE_NAME",
    "FrameMessages",
    "FrameRenderer",
    "RenderedFrame",
    "SyntheticCamera",
    "camera_intrinsics",
    "frame_messages",
    "ground_truth_estimates",
    "label_image",
    "main",
    "pose_records",
]

NODE_NAME = "synthetic_camera"
FRAME_ID = "camera_color_optical_frame"
TOPICS = {"color": "color/image", "depth": "depth/image", "camera_info": "color/camera_info",
          "segmentation": "segmentation", "ground_truth": "~/ground_truth"}
"""Role -> topic published by the synthetic camera (inputs of the dualposenet node + ground truth)."""


SCENE_TRACKS = 1000
"""Ground-truth track id = SCENE_TRACKS * scene number + the object's id in its scene, so an object
of a new scene never shares a track id with one of an earlier scene."""


def camera_intrinsics(width: int, height: int) -> Intrinsics:
    """The NOCS CAMERA intrinsics (640x480) scaled to ``width`` x ``height``."""
    return Intrinsics.CAMERA.resized(width / 640.0, height / 480.0)


# -- rendering (no ROS) -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """A rendered frame, its index in the stream and how long rendering took."""

    index: int
    frame: Any  # dualposenet_ros.data.synth.Frame
    render_seconds: float
    new_scene: bool
    scene: int = 0  # how many scenes came before this frame's


class FrameRenderer:
    """Renders the frame stream in a background thread into a bounded queue.

    Frame ``i`` is fully determined by ``seed`` and ``i`` (the scene's own noise seed and frame
    index drive the sensor noise), so two cameras with the same parameters publish the same images.
    """

    def __init__(self, *, seed: int = 0, width: int = 640, height: int = 480, dt: float = 0.2,
                 new_scene_every: int = 100, objects: tuple[int, int] = (3, 6), sensor_noise: bool = True,
                 queue_size: int = 8, frames: int = 0) -> None:
        from ..data.synth import SceneConfig, SceneSampler

        self.size = (int(width), int(height))
        self.intrinsics = camera_intrinsics(*self.size)
        self.sampler = SceneSampler(SceneConfig(objects=objects), self.intrinsics, self.size)
        self.seed, self.dt, self.new_scene_every = int(seed), float(dt), int(new_scene_every)
        self.sensor_noise, self.frames = bool(sensor_noise), int(frames)
        self.queue: queue.Queue[RenderedFrame] = queue.Queue(maxsize=max(1, int(queue_size)))
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.rendered = 0
        self.render_seconds_total = 0.0
        self._thread = threading.Thread(target=self._run, name="synthetic-camera-render", daemon=True)

    def start(self) -> "FrameRenderer":
        self._thread.start()
        return self

    def frames_iter(self):
        """The frame stream, rendered in this thread (no queue): ``(index, Frame, new_scene)``."""
        from ..data.synth import render_scene

        rng = np.random.default_rng(self.seed)
        scene = None
        index = 0
        while self.frames <= 0 or index < self.frames:
            new_scene = scene is None or (self.new_scene_every > 0 and index % self.new_scene_every == 0)
            scene = self.sampler.sample(rng) if new_scene else scene.advanced(self.dt)
            yield index, render_scene(scene, self.intrinsics, self.size, sensor_noise=self.sensor_noise), new_scene
            index += 1

    def scene_number(self, index: int) -> int:
        """How many scenes came before the scene of frame ``index``."""
        return index // self.new_scene_every if self.new_scene_every > 0 else 0

    def _run(self) -> None:
        try:
            iterator = self.frames_iter()
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    index, frame, new_scene = next(iterator)
                except StopIteration:
                    return
                seconds = time.monotonic() - started
                self.rendered += 1
                self.render_seconds_total += seconds
                item = RenderedFrame(index, frame, seconds, new_scene, self.scene_number(index))
                while not self._stop.is_set():
                    try:
                        self.queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as error:  # reported by the node, never silently lost
            self.error = error

    @property
    def mean_render_seconds(self) -> float:
        return self.render_seconds_total / self.rendered if self.rendered else float("nan")

    @property
    def finished(self) -> bool:
        """The thread ended (all frames rendered, stopped or failed)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def get(self) -> RenderedFrame | None:
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)


# -- messages -----------------------------------------------------------------------------------


def label_image(frame: Any) -> np.ndarray:
    """(H, W) uint16 labels: the k-th instance of ``frame.instances`` has value k, 0 elsewhere."""
    mask = np.asarray(frame.instance_mask)
    lookup = np.zeros(int(mask.max(initial=0)) + 1, dtype=np.uint16)
    for label, truth in enumerate(frame.instances, start=1):
        if truth.instance_id < len(lookup):
            lookup[truth.instance_id] = label
    return lookup[np.clip(mask, 0, None)]


def ground_truth_estimates(frame: Any, labels: np.ndarray | None = None, scene: int = 0) -> list[ObjectEstimate]:
    """The ground truth of ``frame`` as estimates (instance id = label value)."""
    labels = label_image(frame) if labels is None else labels
    has_depth = np.asarray(frame.depth_mm) > 0
    result = []
    for label, truth in enumerate(frame.instances, start=1):
        result.append(ObjectEstimate(
            instance_id=label, class_id=int(truth.class_id), score=1.0, rotation=np.asarray(truth.rotation),
            translation=np.asarray(truth.translation), size=np.asarray(truth.size), consistency_residual=0.0,
            num_points=int(np.count_nonzero((labels == label) & has_depth)),
            handle_visible=bool(truth.handle_visible), status=EstimateStatus.OK,
            track_id=SCENE_TRACKS * scene + int(truth.instance_id)))
    return result


def pose_records(msg: Any) -> list[Any]:
    """:class:`~dualposenet_ros.evaluation.scoring.PoseRecord` of each object of an ``ObjectPoseArray`` (a mug flagged
    ``rotation_symmetric`` has its handle hidden)."""
    from ..evaluation.scoring import PoseRecord

    records = []
    for obj in msg.objects:
        p, q, s = obj.pose.position, obj.pose.orientation, obj.size
        handle_visible = not (obj.rotation_symmetric and category_name(obj.class_id) == "mug")
        records.append(PoseRecord.from_pose(obj.instance_id, obj.class_id, (p.x, p.y, p.z), (q.x, q.y, q.z, q.w),
                                            (s.x, s.y, s.z), obj.score, obj.status, handle_visible, obj.track_id))
    return records


class FrameMessages(NamedTuple):
    color: Any
    depth: Any
    camera_info: Any
    segmentation: Any
    ground_truth: Any
    masks: tuple[Any, ...] = ()  # detections_masks: the images for segmentation/masks


def camera_info_message(header: Any, intrinsics: Intrinsics, width: int, height: int) -> Any:
    msg = CameraInfo(header=header, width=int(width), height=int(height), distortion_model="plumb_bob")
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.d = [0.0] * 5
    return msg


def frame_messages(frame: Any, stamp: Any, frame_id: str = FRAME_ID,
                   segmentation_format: str = "instance_segmentation", label_masks: bool = False,
                   scene: int = 0) -> FrameMessages:
    """The messages of a rendered frame, all with the header (``stamp``, ``frame_id``); the
    segmentation in ``segmentation_format`` (``label_masks``: one label image instead of one mask
    per detection)."""
    header = Header(stamp=stamp, frame_id=frame_id)
    height, width = frame.depth_mm.shape
    labels = label_image(frame)
    class_ids = [int(truth.class_id) for truth in frame.instances]
    masks: tuple[Any, ...] = ()
    if segmentation_format == "instance_segmentation":
        segmentation = segmentation_outputs.instance_segmentation(header, labels, class_ids)
    elif segmentation_format == "detections_masks":
        segmentation, mask_list = segmentation_outputs.detections_masks(header, labels, class_ids, label_masks)
        masks = tuple(mask_list)
    elif segmentation_format == "yolo_ros":
        segmentation = segmentation_outputs.yolo_detections(header, labels, class_ids)
    else:
        raise ValueError(f"unknown segmentation_format {segmentation_format!r}: expected one of {', '.join(FORMATS)}")
    return FrameMessages(
        color=conversions.image_from_rgb(frame.rgb, header=header),
        depth=segmentation_outputs.image_msg(frame.depth_mm.astype(np.uint16, copy=False), "16UC1", header),
        camera_info=camera_info_message(header, frame.intrinsics, width, height),
        segmentation=segmentation,
        ground_truth=conversions.object_pose_array(stamp, frame_id, ground_truth_estimates(frame, labels, scene)),
        masks=masks,
    )


def _cross_check(values: Any) -> list[str]:
    if values["min_objects"] > values["max_objects"]:
        return [f"min_objects ({values['min_objects']}) must not exceed max_objects ({values['max_objects']})"]
    return []


# -- the node -----------------------------------------------------------------------------------


class SyntheticCamera(Node):
    """Publishes rendered frames at ``rate``; see the module documentation."""

    PARAMETERS = (
        Spec("seed", 0, "Seed of the scene stream (same seed, same frames).", low=0, high=INT_MAX),
        Spec("rate", 5.0, "Frames per second.", low=0.01, high=1000.0),
        Spec("width", 640, "Image width in pixels.", low=16, high=8192),
        Spec("height", 480, "Image height in pixels.", low=16, high=8192),
        Spec("frames", 0, "Frames to publish before exiting; 0 = forever.", low=0, high=INT_MAX),
        Spec("new_scene_every", 100, "A new random scene every this many frames; 0 = never.", low=0, high=INT_MAX),
        Spec("min_objects", 3, "Fewest objects in a scene.", low=1, high=100),
        Spec("max_objects", 6, "Most objects in a scene.", low=1, high=100),
        Spec("sensor_noise", True, "Depth and colour noise of a real sensor."),
        Spec("frame_id", FRAME_ID, "Camera optical frame of every header.", pattern=r"[A-Za-z0-9_.-][A-Za-z0-9_./-]*",
             pattern_hint="must be a frame name (letters, digits and _ . / -, not starting with '/')"),
        Spec("queue_size", 8, "Frames rendered ahead of the timer.", low=1, high=1000),
        Spec("preroll", 2, "Frames rendered before the first is published.", low=0, high=1000),
        Spec("exit_timeout", 10.0, "After the last of `frames`, wait up to this many seconds for reliable "
             "subscribers to acknowledge every message.", low=0.0, high=3600.0),
        Spec("exit_linger", 1.0, "After the last of `frames`, stay this many seconds more: a best-effort message is "
             "never acknowledged, and one still being read from this process's shared memory or socket buffers is "
             "lost if the process exits at once.", low=0.0, high=60.0),
        Spec("wait_for_subscribers", 0, "Start publishing only once every topic (inputs and ground truth) has at "
             "least this many subscribers; 0 = at once.", low=0, high=1000),
        Spec("match_settle", 0.5, "With wait_for_subscribers: seconds to wait after every topic has its subscribers "
             "before the first frame. A subscriber learns of this camera's publishers a moment after the camera "
             "learns of the subscriber, and a best-effort message sent in between is dropped by the subscriber.",
             low=0.0, high=60.0),
        Spec("segmentation_format", "instance_segmentation", "Format of the segmentation: " + ", ".join(FORMATS) + ".",
             choices=tuple(FORMATS)),
        Spec("detection_masks", "per_detection", "detections_masks format: per_detection (one mono8 mask each) or "
             "label_image (one image, value k = detection k).", choices=("per_detection", "label_image")),
        Spec("segmentation_rate", 0.0, "Segment only the first frame of every 1 / this many seconds (a segmenter "
             "slower than the camera); 0 = every frame.", low=0.0, high=1000.0),
        Spec("segmentation_latency", 0.0, "Seconds after its images that a frame's segmentation is published (a "
             "segmenter's processing time), with the frame's stamp.", low=0.0, high=60.0),
    )
    """Parameters (read-only): the package's one parameter system (:mod:`.parameters`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        values = ParameterTable(self.PARAMETERS, _cross_check).declare(self)  # ParameterError lists every problem
        self.values = values
        self.segmentation_format = str(values["segmentation_format"])
        self.label_masks = values["detection_masks"] == "label_image"
        self.period = 1.0 / float(values["rate"])
        self.frame_id = str(values["frame_id"])
        self.frames = int(values["frames"])
        rate = float(values["segmentation_rate"])
        self.segmentation_period_ns = int(1e9 / rate) if rate > 0 else 0
        self.segmentation_latency = float(values["segmentation_latency"])
        self._next_segmented_ns: int | None = None
        self._delayed: deque[tuple[float, FrameMessages]] = deque()  # (due, messages) of late segmentations
        self.segmented = 0
        self.renderer = FrameRenderer(
            seed=values["seed"], width=values["width"], height=values["height"], dt=self.period,
            new_scene_every=values["new_scene_every"], objects=(values["min_objects"], values["max_objects"]),
            sensor_noise=values["sensor_noise"], queue_size=values["queue_size"], frames=self.frames)
        qos = QoSProfile(depth=5)  # reliable: matches best-effort (sensor data) and reliable readers
        self.publishers_ = {
            "color": self.create_publisher(Image, TOPICS["color"], qos),
            "depth": self.create_publisher(Image, TOPICS["depth"], qos),
            "camera_info": self.create_publisher(CameraInfo, TOPICS["camera_info"], qos),
            "segmentation": self.create_publisher(segmentation_type(self.segmentation_format),
                                                  TOPICS["segmentation"], qos),
            "ground_truth": self.create_publisher(ObjectPoseArray, TOPICS["ground_truth"], QoSProfile(depth=50)),
        }
        if self.segmentation_format == "detections_masks":
            # One message per detection per frame: room for every mask of a few frames.
            self.publishers_["masks"] = self.create_publisher(Image, MASKS_TOPIC, QoSProfile(depth=100))
        self._log = RateLimitedLog(self.get_logger(), 5.0)
        self.published = 0
        self.late_ticks = 0
        self.done = False
        self._finished_frames = False
        self.started = False
        self._matched_at: float | None = None
        self._preroll = max(0, min(int(values["preroll"]), int(values["queue_size"])))
        if self.frames:
            self._preroll = min(self._preroll, self.frames)
        self.renderer.start()
        self.timer = self.create_timer(self.period, self._on_timer)
        self._delay_timer = self.create_timer(0.005, self._publish_due) if self.segmentation_latency > 0 else None
        w, h = self.renderer.size
        self.get_logger().info(
            f"publishing {w}x{h} frames at {values['rate']:g} Hz "
            f"({'forever' if not self.frames else f'{self.frames} frames'}; seed {values['seed']}, new scene every "
            f"{values['new_scene_every'] or 'never'} frames) on {self.publishers_['color'].topic_name}, "
            f"{self.publishers_['depth'].topic_name}, {self.publishers_['camera_info'].topic_name}, "
            f"{self.publishers_['segmentation'].topic_name}; ground truth on "
            f"{self.publishers_['ground_truth'].topic_name}")

    def _ready(self) -> bool:
        if self.renderer.queue.qsize() < self._preroll and not self.renderer.finished:
            return False
        needed = int(self.values["wait_for_subscribers"])
        if needed > 0:
            waiting = [pub.topic_name for pub in self.publishers_.values() if pub.get_subscription_count() < needed]
            if waiting:
                self._log.info("waiting", f"waiting for subscribers on {', '.join(waiting)}")
                self._matched_at = None
                return False
            # Discovery is not symmetric: give the subscribers time to match this camera's publishers.
            if self._matched_at is None:
                self._matched_at = time.monotonic()
            if time.monotonic() - self._matched_at < float(self.values["match_settle"]):
                return False
        return True

    def _on_timer(self) -> None:
        if self._finished_frames:
            return
        if self.renderer.error is not None:
            self.get_logger().fatal(f"rendering failed: {self.renderer.error!r}")
            self._finish()
            return
        if not self.started:
            if not self._ready():
                return
            self.started = True
            self.get_logger().info("started publishing")
        item = self.renderer.get()
        if item is None:
            if self.renderer.finished:
                self._finish()
                return
            self.late_ticks += 1
            self._log.warning(
                "late", f"the renderer cannot keep up: {self.renderer.mean_render_seconds:.2f} s per frame "
                f"against a period of {self.period:.2f} s; {self.late_ticks} frame slots missed so far "
                "(lower rate, width/height or max_objects)")
            return
        if item.new_scene and item.index > 0:
            self.get_logger().info(f"frame {item.index}: new scene")
        stamp = self.get_clock().now().to_msg()
        messages = frame_messages(item.frame, stamp, self.frame_id, self.segmentation_format,
                                  self.label_masks, item.scene)
        for role in ("color", "depth", "camera_info", "ground_truth"):
            self.publishers_[role].publish(getattr(messages, role))
        stamp_ns = conversions.stamp_ns(stamp)
        if self._next_segmented_ns is None or stamp_ns >= self._next_segmented_ns:
            self._next_segmented_ns = stamp_ns + self.segmentation_period_ns
            if self.segmentation_latency > 0:
                self._delayed.append((time.monotonic() + self.segmentation_latency, messages))
            else:
                self._publish_segmentation(messages)
        self.published += 1
        if self.frames and self.published >= self.frames:
            self._finish()

    def _publish_segmentation(self, messages: FrameMessages) -> None:
        for mask in messages.masks:
            self.publishers_["masks"].publish(mask)
        self.publishers_["segmentation"].publish(messages.segmentation)
        self.segmented += 1

    def _publish_due(self) -> None:
        """Publish the late segmentations whose time has come."""
        while self._delayed and self._delayed[0][0] <= time.monotonic():
            self._publish_segmentation(self._delayed.popleft()[1])
        if self._finished_frames and not self._delayed:
            self.done = True

    def _finish(self) -> None:
        if self._finished_frames:
            return
        self._finished_frames = True
        self.done = not self._delayed  # else once the late segmentations are out
        self.timer.cancel()
        self.get_logger().info(
            f"published {self.published} frames ({self.segmented + len(self._delayed)} segmented); mean render time "
            f"{self.renderer.mean_render_seconds:.3f} s, "
            f"{self.late_ticks} frame slots missed because the renderer was late")

    def wait_until_acknowledged(self, executor: Any, timeout: float) -> bool:
        """Spin until reliable subscribers acknowledged every message (at most ``timeout`` s)."""
        from rclpy.duration import Duration

        deadline = time.monotonic() + max(0.0, timeout)
        pending = list(self.publishers_.values())
        while pending and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
            pending = [pub for pub in pending if not pub.wait_for_all_acked(Duration(nanoseconds=1_000_000))]
        if pending:
            self.get_logger().warning(f"exiting with messages not acknowledged on "
                                      f"{', '.join(pub.topic_name for pub in pending)} after {timeout:g} s")
        return not pending

    def destroy_node(self) -> None:
        # A camera whose constructor raised (a bad parameter) has no renderer, and its context still
        # destroys it at shutdown.
        renderer = getattr(self, "renderer", None)
        if renderer is not None:
            renderer.stop()
        super().destroy_node()


def _spin_until_done(node: Any) -> None:
    """Spin until the configured number of frames is published, then let every reliable reader
    acknowledge what was sent: a reader that matched late (slow discovery on a busy machine) gets
    the frames resent before the process goes away."""
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while rclpy.ok() and not node.done:
        executor.spin_once(timeout_sec=0.1)
    node.wait_until_acknowledged(executor, timeout=float(node.values["exit_timeout"]))
    linger_until = time.monotonic() + float(node.values["exit_linger"])
    while rclpy.ok() and time.monotonic() < linger_until:
        executor.spin_once(timeout_sec=0.05)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``synthetic_camera`` executable."""
    from ..ros.entry_point import run_node

    return run_node(NODE_NAME, SyntheticCamera, _spin_until_done, (ValueError,), args)

if __name__ == "__main__":
    import sys

    sys.exit(main())
