"""The ``dualposenet`` node: synchronised RGB-D + instance masks in, object poses and sizes out.

Subscribes (relative names, remappable): ``color/image`` (rgb8/bgr8), ``depth/image`` (16UC1 in
millimetres or 32FC1 in metres, registered to the colour camera), ``color/camera_info`` and
``segmentation`` (``dualposenet_ros/InstanceSegmentation``, or what ``segmentation_format`` names:
``vision_msgs/Detection2DArray`` with mask images on ``segmentation/masks``, or yolo_ros's
``yolo_msgs/DetectionArray``; :mod:`.segmentation_inputs`), sensor-data QoS (best effort) unless
changed with the standard ``qos_overrides.<topic>.subscription.*`` parameters. The images are kept
for ``sync.window`` seconds and each segmentation, however late, is matched with the images of its
stamp (exact, or ``sync.mode: approximate``; :mod:`.segmentation_sync`). Segmentations that come
too late, inputs that arrive incomplete (a lost image: README, "Large images over DDS") or silent,
and stamps that repeat or go backwards, are warned about (rate-limited), counted and shown in
diagnostics.

Estimates are gated (``min_score``, ``max_consistency_residual``: the status says why) and given
track ids by :class:`~dualposenet_ros.inference.tracking.Tracker` (optionally smoothed). Publishes, stamped
with the input's stamp and frame: ``~/objects`` (``ObjectPoseArray``, every estimate),
``~/detections`` (``vision_msgs/Detection3DArray``, OK objects), a TF frame
``<frame_prefix><category>_<track id>`` per OK object under the camera optical frame (the prefix
resolved in the node's namespace, so namespaced nodes publish distinct frames),
``~/markers`` (``MarkerArray``) and ``~/debug_image`` (both only while subscribed) and ``/diagnostics``.
TF needs tf2_ros or tf2_msgs: without either the node logs an error and runs with TF disabled.

Threading: the subscription callbacks only hand each matched set of messages to a one-frame slot
(:class:`~.latest_frame_slot.LatestFrameSlot`); an inference thread takes the newest frame, converts,
estimates with the shared :class:`~dualposenet_ros.inference.pipeline.PoseEstimator` and publishes. A frame
that arrives while another waits replaces it and is counted as dropped, so latency stays bounded
when frames come faster than the network runs. Nothing a message contains can stop the node: a bad
frame is rejected with a rate-limited warning that says why and is counted in diagnostics.
On shutdown (Ctrl-C) a frame in progress is abandoned: refinement stops between two iterations.

CPU threads: before the model loads (the node's first import of torch), the ``threads`` parameter
and ``OMP_WAIT_POLICY=PASSIVE`` are put in the environment (:mod:`.cpu_threads`), however the node
was started.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from ..core.categories import NOCS_CATEGORIES
from ..core.estimates import EstimateStatus
from ..inference.tracking import Tracker, gate
from ..inference.visualize import draw_estimates
from . import conversions
from .compat import is_fallback, load_message_filters, load_tf2_ros
from .cpu_threads import apply_to_torch, configure_process, requested_threads
from .detections import detection3d_array
from .diagnostics import OBJECTS_SUBSCRIBERS, diagnostic_array
from .entry_point import run_node
from .latest_frame_slot import LatestFrameSlot
from .node_statistics import STALE_AFTER, NodeStatistics
from .parameters import (ESTIMATOR_PARAMETERS, OUTPUT_PARAMETERS, NodeConfig, OutputSettings, ParameterError,
                         estimator_settings, node_parameter_table, output_settings, resolved_frame_prefix, validate)
from .rate_limited_log import RateLimitedLog
from .stage_times import StageTimes, Stopwatch
from .stamp_order import StampOrder
from .segmentation_inputs import (DEFAULT_CLASS_MAP, MASKS_TOPIC, InstanceReader, parse_class_map,
                                  segmentation_type)
from .segmentation_sync import SegmentationMatcher, SyncEvents

if TYPE_CHECKING:
    from ..inference.pipeline import PoseEstimator

__all__ = ["INPUTS", "TF_DISABLED", "DualPoseNetNode", "StartupError", "main"]

NODE_NAME = "dualposenet"
DDS_HINT = 'README, "Large images over DDS"'
SHUTDOWN_WAIT = 1.5
"""Seconds shutdown waits for the frame in progress before saying so (refinement stops within one
iteration; a network pass cannot be interrupted)."""
TF_DISABLED = "TF output disabled: install tf2_ros or build tf2_msgs (tools/setup.sh does)"

INPUTS: tuple[tuple[str, str], ...] = (
    ("color", "color/image"),
    ("depth", "depth/image"),
    ("camera_info", "color/camera_info"),
    ("segmentation", "segmentation"),
)
"""(role, default topic) of each input, in the order the matcher delivers them."""


class StartupError(RuntimeError):
    """The node cannot start (the model cannot be loaded...)."""


def _input_types(segmentation_format: str) -> tuple[Any, ...]:
    try:
        segmentation = segmentation_type(segmentation_format)
    except ImportError as error:
        package = "vision_msgs" if segmentation_format == "detections_masks" else "yolo_msgs"
        raise StartupError(f"segmentation_format {segmentation_format} needs the {package} messages ({error}): "
                           f"install {package} (tools/setup.sh builds it where no ROS provides it)") from None
    return Image, Image, CameraInfo, segmentation


class DualPoseNetNode(Node):
    """ROS 2 adapter around :class:`~dualposenet_ros.inference.pipeline.PoseEstimator`.

    ``estimator`` (a ``PoseEstimator`` built by the caller) replaces the model loaded from the
    ``checkpoint`` parameter; other keyword arguments go to ``Node``.
    Raises :class:`~.parameters.ParameterError` or :class:`StartupError` with a clear message when
    the configuration or the model is unusable."""

    def __init__(self, *, estimator: PoseEstimator | None = None, node_name: str = NODE_NAME,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # rcl has parsed the command line and parameter files; torch is not loaded yet (the
        # parameter table imports it): the OpenMP settings must be in the environment now.
        self.cpu_threads = configure_process(requested_threads(getattr(self, "_parameter_overrides", {})))
        self._parameter_table = node_parameter_table()
        values = self._parameter_table.declare(self)
        self.config: NodeConfig = validate(values)
        self._settings_lock = threading.Lock()
        self._settings = estimator_settings(values)
        self._outputs = output_settings(values)  # replaced whole at run time, under _settings_lock
        self._rate_limited = RateLimitedLog(self.get_logger(), self.config.warning_period)
        self.stats = NodeStatistics(role for role, _ in INPUTS)
        self.stage_times = StageTimes()  # per-stage time of each frame, on /diagnostics
        self._stamp_order = StampOrder()
        self._closing = threading.Event()

        self.frame_prefix = resolved_frame_prefix(self.config.frame_prefix, self.get_namespace())
        self._model_source = "injected estimator" if estimator is not None else (
            self.config.checkpoint or "shipped default")
        apply_to_torch(self.cpu_threads)
        self.estimator = estimator if estimator is not None else self._load_estimator()
        self.estimator.settings = self._settings

        self._parameter_table.attach(self, self._apply_parameters)

        config = self.config
        self._objects_pub = (self.create_publisher(_object_array_type(), "~/objects", 10) if config.publish_objects
                             else None)
        if config.publish_markers:
            from visualization_msgs.msg import MarkerArray

            self._markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        else:
            self._markers_pub = None
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 5) if config.publish_debug_image else None
        if config.publish_diagnostics:
            from diagnostic_msgs.msg import DiagnosticArray

            self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        else:
            self._diagnostics_pub = None
        self._tf_module: ModuleType | None = None
        self._tf: Any = None
        self._tf_state = "off (publish.tf false)"
        if config.publish_tf:
            self._start_tf()

        self._detections_pub = self._detections_publisher() if config.publish_detections else None
        self._tracker = Tracker(self._outputs.tracking)  # used by the inference thread only
        categories = getattr(self.estimator, "categories", NOCS_CATEGORIES)
        self._instance_reader = InstanceReader(config.segmentation_format,
                                               self._class_map(str(values["class_map"]), categories),
                                               mask_timeout=config.mask_timeout, categories=categories)
        input_types = _input_types(config.segmentation_format)

        self._slot: LatestFrameSlot[tuple[Any, ...]] = LatestFrameSlot()
        self._worker = threading.Thread(target=self._work, name="dualposenet-inference", daemon=True)
        self._worker.start()

        self._message_filters = load_message_filters()
        self._subscribers = []
        for (role, topic), msg_type in zip(INPUTS, input_types):
            subscriber = self._message_filters.Subscriber(
                self, msg_type, topic, qos_profile=self._input_qos(),
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            subscriber.registerCallback(self._on_input, role)
            self._subscribers.append(subscriber)
        self._matcher = SegmentationMatcher(
            self._message_filters, self._subscribers[:3], self._subscribers[3], self._on_frame,
            window=config.sync_window, cache_size=config.sync_queue_size,
            slop=config.sync_slop if config.sync_mode == "approximate" else None,
            now_ns=lambda: self.get_clock().now().nanoseconds)
        self._masks_sub = None
        if self._instance_reader.masks is not None:  # detections_masks: any number of mask images per stamp
            qos = self._input_qos()
            qos.depth = 100
            self._masks_sub = self.create_subscription(
                Image, MASKS_TOPIC, self._instance_reader.masks.add, qos,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())

        self._diagnostics_timer = self.create_timer(config.diagnostics_period, self._on_diagnostics_timer)
        self.get_logger().info(self._startup_summary())

    # -- start-up -------------------------------------------------------------------------------

    @staticmethod
    def _class_map(text: str, categories: Any) -> dict[str, int]:
        """``class_map`` for the estimator's categories (validate() checked it against the checkpoint's;
        an injected estimator may know others): the default's entries for categories it lacks are left out."""
        try:
            return parse_class_map(text, categories, skip_unknown_categories=text.strip() == DEFAULT_CLASS_MAP)
        except ValueError as error:
            raise ParameterError(str(error)) from None

    def _load_estimator(self) -> Any:
        from ..inference.pipeline import PoseEstimator, resolve_device

        device = resolve_device(self.config.device, warn=self.get_logger().warning)
        if self.config.precision == "int8" and device.type != "cpu":
            raise StartupError(f"precision int8 runs on the CPU only (dynamic quantisation of the fully connected "
                               f"layers), but device {self.config.device} is {device}: set precision bf16 for the "
                               "GPU, or device cpu")
        source = self.config.checkpoint or "the shipped default model"
        try:
            return PoseEstimator.from_checkpoint(self.config.checkpoint, device=device, settings=self._settings,
                                                 precision=self.config.precision, backend=self.config.backend)
        except Exception as error:  # CheckpointError, OSError, RuntimeError (CUDA), ...
            raise StartupError(f"cannot load the model from {source}: {error}") from error

    def _detections_publisher(self) -> Any:
        """``~/detections`` publisher; without vision_msgs, log an error and run without it."""
        try:
            from vision_msgs.msg import Detection3DArray
        except ImportError as error:
            self.get_logger().error(f"~/detections disabled: vision_msgs is not installed ({error}); install it or "
                                    "run tools/setup.sh, which builds it")
            return None
        return self.create_publisher(Detection3DArray, "~/detections", 10)

    def _start_tf(self) -> None:
        """Create the TF broadcaster; without tf2_ros and tf2_msgs, log an error and run without TF."""
        try:
            self._tf_module = load_tf2_ros()
        except ImportError as error:
            self._tf_state = "disabled: neither tf2_ros nor tf2_msgs can be imported"
            self.get_logger().error(f"{TF_DISABLED} ({error})")
            return
        self._tf = self._tf_module.TransformBroadcaster(self)
        self._tf_state = "/tf"

    @staticmethod
    def _input_qos() -> QoSProfile:
        """Sensor-data QoS (best effort, volatile, keep last 5), what camera drivers publish; the
        ``qos_overrides.<topic>.subscription.*`` parameters change it per input."""
        profile = qos_profile_sensor_data
        return QoSProfile(history=profile.history, depth=profile.depth, reliability=profile.reliability,
                          durability=profile.durability)

    def _startup_summary(self) -> str:
        config = self.config
        topics = ", ".join(f"{role} {sub.sub.topic_name} ({_reliability(sub.sub)})"
                           for (role, _), sub in zip(INPUTS, self._subscribers))
        sync = "exact" if config.sync_mode == "exact" else f"approximate (slop {config.sync_slop:g} s)"
        fallbacks = [name for name, module in (("message_filters", self._message_filters), ("tf2_ros", self._tf_module))
                     if module is not None and is_fallback(module)]
        return (f"ready: model {self._model_source} on {getattr(self.estimator, 'device', '?')}, "
                f"refine {self.settings.refine.value}; inputs {topics}, sync {sync}, window {config.sync_window:g} s, "
                f"queue {config.sync_queue_size}; "
                f"TF {self._tf_state} (frames {self.frame_prefix}<category>_<id>); "
                f"threads {self.cpu_threads.summary()}"
                + (f"; built-in stand-ins for {', '.join(fallbacks)}" if fallbacks else ""))

    # -- parameters -----------------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """The estimator settings the next frame uses."""
        with self._settings_lock:
            return self._settings

    @property
    def output_settings(self) -> OutputSettings:
        """The gating and tracker settings the next frame uses."""
        with self._settings_lock:
            return self._outputs

    def _apply_parameters(self, names: list[str]) -> None:
        """Accepted run-time changes (the parameter table checked them), handed to the inference
        thread, which picks them up at its next frame."""
        outputs = [name for name in names if name in OUTPUT_PARAMETERS]
        estimator = [name for name in names if name in ESTIMATOR_PARAMETERS]
        if not (outputs or estimator):
            return
        values = self._parameter_table.values(self)
        changes = {name: self.get_parameter(name).value for name in names}
        if outputs:
            with self._settings_lock:
                self._outputs = output_settings(values)
            self.get_logger().info(f"gating and tracking changed ({_listed(changes, outputs)}), applied from the "
                                   "next frame")
        if estimator:
            settings = estimator_settings(values)
            with self._settings_lock:
                previous, self._settings = self._settings, settings
            self.get_logger().info(f"estimator settings changed ({_listed(changes, estimator)}); refine mode "
                                   f"{previous.refine.value} -> {settings.refine.value}, applied from the next frame")

    # -- input ----------------------------------------------------------------------------------

    def _on_input(self, msg: Any, role: str) -> None:
        self.stats.input_received(role)

    def _on_frame(self, color: Any, depth: Any, camera_info: Any, segmentation: Any) -> None:
        order = self._stamp_order.check(conversions.stamp_ns(color.header.stamp))
        if order is not None:
            self.stats.issue(f"stamp_{order}")
            stamp = f"{color.header.stamp.sec}.{color.header.stamp.nanosec:09d}"
            if order == "repeated":  # a second frame with the same stamp: outputs and TF would be ambiguous
                self._rate_limited.warning("stamp:repeated", f"frame stamped {stamp} repeats the previous frame's "
                                           "stamp: skipped (each frame needs its own stamp)")
                return
            self._rate_limited.warning("stamp:backwards", f"frame stamped {stamp} is older than an earlier frame "
                                       "(time went backwards: a bag restarted or the camera clock jumped); estimated")
        age = self._latency(color.header.stamp)
        if age is not None and 0 <= age < STALE_AFTER:  # same clock as the sender: transport, deserialisation, sync
            self.stage_times.add("stamp to synchronised", age)
        replaced = self._slot.put((color, depth, camera_info, segmentation, time.perf_counter()))
        self.stats.frame_synchronised(replaced)

    # -- inference thread -----------------------------------------------------------------------

    def _work(self) -> None:
        while not self._closing.is_set():
            frame = self._slot.get()
            if frame is None:
                return
            try:
                self._process(*frame)
            except Exception as error:  # never let one frame end the thread
                if self._closing.is_set() or not self.context.ok():
                    return  # shutting down: publishers and logging are gone
                try:
                    self.stats.error("internal_error")
                    self._rate_limited.error("internal_error", f"frame failed unexpectedly: {error!r}\n"
                                             f"{traceback.format_exc()}")
                except Exception:  # even reporting failed: keep the thread alive for the next frame
                    traceback.print_exc()

    def _process(self, color: Any, depth: Any, camera_info: Any, segmentation: Any, synchronised_at: float) -> None:
        started = time.monotonic()
        watch = self.stage_times.stopwatch()
        self.stage_times.add("waiting for the worker", time.perf_counter() - synchronised_at)
        try:
            converted = conversions.frame_from_messages(
                color, depth, camera_info, segmentation, max_pixels=self.config.max_image_pixels,
                depth_range=(self.config.depth_min, self.config.depth_max), max_instances=self.config.max_instances,
                read_instances=self._instance_reader.read)
        except conversions.InputError as error:
            self.stats.frame_rejected(error.reason)
            self._rate_limited.warning(f"rejected:{error.reason}", f"frame rejected: {error}")
            return
        for issue in converted.issues:
            self.stats.issue(issue.reason, issue.count, warn=issue.level != "info")
            self._rate_limited(issue.level, f"issue:{issue.reason}", issue.message)
        watch.lap("conversion")

        settings = self.settings
        if self.estimator.settings is not settings:
            self.estimator.settings = settings
        try:
            estimates = self.estimator.estimate(converted.frame, refine=settings.refine,
                                                should_stop=self._closing.is_set)
        except Exception as error:
            self.stats.error("estimation_failed")
            self._rate_limited.error("estimation_failed", f"estimation failed: {error!r}\n{traceback.format_exc()}")
            return
        watch.lap("inference")

        if self._closing.is_set():
            self.get_logger().info("shutting down: the frame in progress was abandoned")
            return
        if getattr(self.estimator, "last_refine_stopped", None) == "time budget":
            self.stats.issue("refine_time_budget", warn=False)
            self._rate_limited.info("refine_time_budget", f"refinement stopped after refine.time_budget = "
                                    f"{settings.refine_time_budget:g} s; the best pose so far is published")
        published, too_few = [], 0
        for estimate in estimates:
            if not conversions.estimate_is_finite(estimate):
                self.stats.issue("non_finite_estimate")
                self._rate_limited.error("issue:non_finite_estimate", f"{estimate.category} {estimate.instance_id}: "
                                         "the estimate is not finite; not published")
                continue
            if estimate.status != EstimateStatus.OK:
                too_few += 1
                self.stats.issue("too_few_points")
                self._rate_limited.warning(
                    "issue:too_few_points", f"{estimate.category} {estimate.instance_id}: only {estimate.num_points} "
                    f"valid depth points in its mask (min_points {settings.min_points}); published with status "
                    "TOO_FEW_POINTS")
            published.append(estimate)
        published = self._gate_and_track(published, converted.stamp)
        watch.lap("gating and tracking")
        if self._closing.is_set() or not self.context.ok():
            return
        self._publish(converted, published, watch)
        self.stats.frame_processed(self._latency(converted.stamp), time.monotonic() - started, len(published), too_few)

    def _gate_and_track(self, estimates: list[Any], stamp: Any) -> list[Any]:
        """Gated estimates get a status saying why (counted); the others a track id (and smoothing)."""
        outputs = self.output_settings
        self._tracker.settings = outputs.tracking  # tracks and their ids are kept
        estimates = gate(estimates, outputs.min_score, outputs.max_consistency_residual)
        for estimate in estimates:
            if estimate.status == EstimateStatus.LOW_SCORE:
                self.stats.issue("gated_low_score", warn=False)
            elif estimate.status == EstimateStatus.HIGH_RESIDUAL:
                self.stats.issue("gated_high_residual", warn=False)
        return self._tracker.update(estimates, int(stamp.sec) + int(stamp.nanosec) * 1e-9)

    def _latency(self, stamp: Any) -> float | None:
        stamp_time = Time.from_msg(stamp, clock_type=self.get_clock().clock_type)
        if stamp_time.nanoseconds == 0:
            return None
        return (self.get_clock().now() - stamp_time).nanoseconds * 1e-9

    def _publish(self, converted: conversions.ConvertedFrame, estimates: list[Any], watch: Stopwatch) -> None:
        """Publish every enabled output; markers and the debug image (drawn for people, costly) only
        while someone subscribes. Each output is a stage of ``watch``."""
        stamp, frame_id = converted.stamp, converted.frame_id
        if self._objects_pub is not None:
            self._objects_pub.publish(conversions.object_pose_array(stamp, frame_id, estimates))
            watch.lap("objects")
        if self._tf is not None:
            transforms = conversions.transforms(stamp, frame_id, estimates, self.frame_prefix)
            if transforms:
                self._tf.sendTransform(transforms)
            watch.lap("tf")
        if self._detections_pub is not None:
            self._detections_pub.publish(detection3d_array(stamp, frame_id, estimates))
            watch.lap("detections")
        if self._markers_pub is not None and self._markers_pub.get_subscription_count() > 0:
            self._markers_pub.publish(conversions.marker_array(stamp, frame_id, estimates, self.config.marker_lifetime))
            watch.lap("markers")
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            picture = draw_estimates(converted.frame.rgb, estimates, converted.frame.intrinsics)
            self._debug_pub.publish(conversions.image_from_rgb(picture, header=conversions.header(stamp, frame_id)))
            watch.lap("debug image")

    # -- diagnostics ----------------------------------------------------------------------------

    def _on_diagnostics_timer(self) -> None:
        timeout = self.config.input_timeout
        topics = {role: sub.sub.topic_name for (role, _), sub in zip(INPUTS, self._subscribers)}
        silent = self.stats.all_silent(timeout)
        if silent is not None:
            self.stats.note_problem("inputs silent")
            self._rate_limited.warning("silent", f"no input message for {silent:.1f} s: is the camera running, and are "
                                       f"the topics right ({', '.join(topics.values())})?")
        sync = self._matcher.collect()
        self._warn_sync(sync, topics)
        for role, age in self.stats.silent_inputs(timeout):
            self.stats.issue(f"missing_{role}")
            others = ", ".join(name for name, _ in INPUTS if name != role)
            since = "never received" if age is None else f"nothing for {age:.1f} s"
            self._rate_limited.warning(f"missing:{role}", f"no {role} message on {topics[role]} ({since}) while other "
                                       f"inputs arrive ({others}): frames cannot be synchronised")
        if self.stats.unsynchronised(timeout):
            self.stats.issue("unsynchronised")
            hint = ("every input must carry the colour image's stamp, or set sync.mode: approximate"
                    if self.config.sync_mode == "exact" else
                    f"stamps differ by more than sync.slop = {self.config.sync_slop:g} s")
            self._rate_limited.warning("unsynchronised", f"all inputs arrive but no set of them matched for "
                                       f"{timeout:g} s: {hint}")
        settings = self.settings
        watch = self.stage_times.stopwatch()
        report = self.stats.report(extra={
            "device": getattr(self.estimator, "device", "?"),
            "refine mode": settings.refine.value,
            "sync": self.config.sync_mode,
            "TF": self._tf_state,
            "pending frame": self._slot.pending,
            "input sets complete": self._matcher.complete,
            "input sets incomplete": self._matcher.incomplete,
            "segmentations too late": self._matcher.too_late,
            "segmentations waiting": self._matcher.waiting,
            "image sets not segmented": self._matcher.not_segmented,
            **_latency_values("segmentation latency", sync.latencies),
            "backend": f"{self.estimator.backend_name.value} {self.estimator.precision.value}",
            "threads": _torch_threads(),
            "OpenMP wait policy": self.cpu_threads.wait_policy,
            OBJECTS_SUBSCRIBERS: "off" if self._objects_pub is None else self._objects_pub.get_subscription_count(),
            **self.stage_times.report(),
        })
        if self._diagnostics_pub is not None:
            self._diagnostics_pub.publish(diagnostic_array(report, f"{self.get_name()}: pose estimation",
                                                           self.get_fully_qualified_name(),
                                                           self.get_clock().now().to_msg()))
        watch.lap("diagnostics")  # reported with the next status

    def _warn_sync(self, sync: SyncEvents, topics: dict[str, str]) -> None:
        """Count and warn about segmentations that came too late or whose images never came."""
        latency = (f"segmentation latency median {statistics.median(sync.latencies):.2f} s, max "
                   f"{max(sync.latencies):.2f} s" if sync.latencies else "no segmentation latency measured")
        if sync.too_late:
            self.stats.issue("segmentation_too_late", sync.too_late)
            self._rate_limited.warning(
                "segmentation_too_late", f"{sync.too_late} segmentations came too late: their images were older than "
                f"sync.window = {self.config.sync_window:g} s (or sync.queue_size = {self.config.sync_queue_size} "
                f"images) when they arrived ({latency}); raise sync.window, or make the segmenter faster")
        if sync.incomplete:
            for role, count in sync.incomplete.items():
                self.stats.issue(f"incomplete_{role}", count)
            names = ", ".join(f"{role} on {topics[role]} ({count} sets)" for role, count in sync.incomplete.items())
            self._rate_limited.warning(
                f"incomplete:{','.join(sorted(sync.incomplete))}", f"inputs arrive incomplete: frame sets without "
                f"{names}, so they cannot be matched; large best-effort images are lost with DDS defaults: see "
                f"{DDS_HINT}; a segmentation that comes later than sync.window = {self.config.sync_window:g} s after "
                f"its images is counted as too late ({latency})")

    # -- shutdown -------------------------------------------------------------------------------

    def destroy_node(self) -> None:
        """Stop the inference thread (waiting for the frame in progress), then destroy the node."""
        self._closing.set()
        slot = getattr(self, "_slot", None)
        if slot is not None:
            slot.close()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=SHUTDOWN_WAIT)  # refinement stops within one iteration
            if worker.is_alive():  # a slow network pass: exiting while it runs would abort the process
                self.get_logger().warning("shutting down: waiting for the network pass in progress")
                worker.join(timeout=30.0)
        super().destroy_node()


def _reliability(subscription: Any) -> str:
    """The reliability a subscription got (after qos_overrides), for the start-up line."""
    return str(subscription.qos_profile.reliability.name).lower()


def _torch_threads() -> int:
    """torch's intra-op thread count (what the network passes use)."""
    import torch

    return torch.get_num_threads()


def _object_array_type() -> Any:
    from dualposenet_ros.msg import ObjectPoseArray

    return ObjectPoseArray


def _latency_values(name: str, latencies: list[float]) -> dict[str, str]:
    """Median and maximum of one period's latencies (seconds) as diagnostics values in ms."""
    if not latencies:
        return {f"{name} median (ms)": "n/a", f"{name} max (ms)": "n/a"}
    return {f"{name} median (ms)": f"{1e3 * statistics.median(latencies):.1f}",
            f"{name} max (ms)": f"{1e3 * max(latencies):.1f}"}


def _listed(values: dict[str, Any], names: list[str]) -> str:
    return ", ".join(f"{name} = {values[name]}" for name in names)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``dualposenet_node`` executable."""
    return run_node(NODE_NAME, DualPoseNetNode, rclpy.spin, (ParameterError, StartupError), args)

if __name__ == "__main__":
    sys.exit(main())
