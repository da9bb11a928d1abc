"""The ``dualposenet`` node: synchronised RGB-D + instance masks in, object poses and sizes out.

Subscribes (relative names, remappable): ``color/image`` (rgb8/bgr8), ``depth/image`` (16UC1 in
millimetres or 32FC1 in metres, registered to the colour camera), ``color/camera_info`` and
``segmentation`` (``dualposenet_ros/InstanceSegmentation``), sensor-data QoS by default, matched by
exact stamps (or approximately, ``sync.mode: approximate``).

Publishes, stamped with the input's stamp and frame: ``~/objects`` (``ObjectPoseArray``), a TF
frame ``<frame_prefix><category>_<instance>`` per object under the camera optical frame,
``~/markers`` (``MarkerArray``), ``~/debug_image`` (only while subscribed) and ``/diagnostics``.
TF needs tf2_ros or tf2_msgs: without either the node logs an error and runs with TF disabled.

Threading: the subscription callbacks only hand each matched set of messages to a one-frame slot
(:class:`~.frame_queue.LatestFrameSlot`); an inference thread takes the newest frame, converts,
estimates with the shared :class:`~dualposenet_ros.pipeline.PoseEstimator` and publishes. A frame
that arrives while another waits replaces it and is counted as dropped, so latency stays bounded
when frames come faster than the network runs. Nothing a message contains can stop the node: a bad
frame is rejected with a rate-limited warning that says why and is counted in diagnostics.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from ..estimates import EstimateStatus
from . import conversions
from .compat import is_fallback, load_message_filters, load_tf2_ros
from .diagnostics import NodeStatistics, RateLimitedLog, diagnostic_array
from .entry_point import run_node
from .frame_queue import LatestFrameSlot
from .parameters import (
    ESTIMATOR_PARAMETERS,
    NodeConfig,
    ParameterError,
    declare_parameters,
    estimator_settings,
    parameter_values,
    specs,
    validate,
)

if TYPE_CHECKING:
    from ..pipeline import PoseEstimator

__all__ = ["INPUTS", "TF_DISABLED", "DualPoseNetNode", "StartupError", "main"]

NODE_NAME = "dualposenet"
TF_DISABLED = "TF output disabled: install tf2_ros or build tf2_msgs (tools/setup.sh does)"

INPUTS: tuple[tuple[str, str], ...] = (
    ("color", "color/image"),
    ("depth", "depth/image"),
    ("camera_info", "color/camera_info"),
    ("segmentation", "segmentation"),
)
"""(role, default topic) of each input, in the order the synchroniser delivers them."""


class StartupError(RuntimeError):
    """The node cannot start (the model cannot be loaded...)."""


def _input_types() -> tuple[Any, ...]:
    from dualposenet_ros.msg import InstanceSegmentation

    return Image, Image, CameraInfo, InstanceSegmentation


class DualPoseNetNode(Node):
    """ROS 2 adapter around :class:`~dualposenet_ros.pipeline.PoseEstimator`.

    ``estimator`` (a ``PoseEstimator`` built by the caller) replaces the model loaded from the
    ``checkpoint`` parameter; other keyword arguments go to ``Node``.
    Raises :class:`~.parameters.ParameterError` or :class:`StartupError` with a clear message when
    the configuration or the model is unusable."""

    def __init__(self, *, estimator: PoseEstimator | None = None, node_name: str = NODE_NAME,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        values = declare_parameters(self)
        self.config: NodeConfig = validate(values)
        self._settings_lock = threading.Lock()
        self._settings = estimator_settings(values)
        self._rate_limited = RateLimitedLog(self.get_logger(), self.config.warning_period)
        self.stats = NodeStatistics(role for role, _ in INPUTS)
        self._closing = threading.Event()

        self._model_source = "injected estimator" if estimator is not None else (
            self.config.checkpoint or "shipped default")
        self.estimator = estimator if estimator is not None else self._load_estimator()
        self.estimator.settings = self._settings

        self.add_pre_set_parameters_callback(self._coerce_parameters)
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

        config = self.config
        self._objects_pub = self.create_publisher(_object_array_type(), "~/objects", 10) if config.publish_objects else None
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

        self._slot: LatestFrameSlot[tuple[Any, ...]] = LatestFrameSlot()
        self._worker = threading.Thread(target=self._work, name="dualposenet-inference", daemon=True)
        self._worker.start()

        self._message_filters = load_message_filters()
        qos = self._input_qos()
        self._subscribers = []
        for (role, topic), msg_type in zip(INPUTS, _input_types()):
            subscriber = self._message_filters.Subscriber(self, msg_type, topic, qos_profile=qos)
            subscriber.registerCallback(self._on_input, role)
            self._subscribers.append(subscriber)
        if config.sync_mode == "approximate":
            self._sync = self._message_filters.ApproximateTimeSynchronizer(
                self._subscribers, config.sync_queue_size, config.sync_slop)
        else:
            self._sync = self._message_filters.TimeSynchronizer(self._subscribers, config.sync_queue_size)
        self._sync.registerCallback(self._on_frame)

        self._diagnostics_timer = self.create_timer(config.diagnostics_period, self._on_diagnostics_timer)
        self.get_logger().info(self._startup_summary())

    # -- start-up -------------------------------------------------------------------------------

    def _load_estimator(self) -> Any:
        import torch

        from ..pipeline import PoseEstimator

        device = self.config.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            self.get_logger().warning(f"device {device!r} requested but CUDA is not available: using the CPU")
            device = "cpu"
        source = self.config.checkpoint or "the shipped default model"
        try:
            return PoseEstimator.from_checkpoint(self.config.checkpoint, device=device, settings=self._settings)
        except Exception as error:  # CheckpointError, OSError, RuntimeError (CUDA), ...
            raise StartupError(f"cannot load the model from {source}: {error}") from error

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

    def _input_qos(self) -> QoSProfile:
        """Sensor-data QoS (best effort, volatile, keep last ``qos.depth``) or its reliable twin."""
        reliability = (ReliabilityPolicy.BEST_EFFORT if self.config.qos_reliability == "best_effort"
                       else ReliabilityPolicy.RELIABLE)
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.config.qos_depth, reliability=reliability,
                          durability=DurabilityPolicy.VOLATILE)

    def _startup_summary(self) -> str:
        config = self.config
        topics = ", ".join(f"{role} {sub.sub.topic_name}" for (role, _), sub in zip(INPUTS, self._subscribers))
        sync = "exact" if config.sync_mode == "exact" else f"approximate (slop {config.sync_slop:g} s)"
        fallbacks = [name for name, module in (("message_filters", self._message_filters), ("tf2_ros", self._tf_module))
                     if module is not None and is_fallback(module)]
        return (f"ready: model {self._model_source} on {getattr(self.estimator, 'device', '?')}, "
                f"refine {self.settings.refine.value}; inputs {topics} ({config.qos_reliability}, depth "
                f"{config.qos_depth}), sync {sync}, queue {config.sync_queue_size}; TF {self._tf_state}"
                + (f"; built-in stand-ins for {', '.join(fallbacks)}" if fallbacks else ""))

    # -- parameters -----------------------------------------------------------------------------

    @property
    def settings(self) -> Any:
        """The estimator settings the next frame uses."""
        with self._settings_lock:
            return self._settings

    def _coerce_parameters(self, parameters: list[Parameter]) -> list[Parameter]:
        """``ros2 param set ... 1`` for a floating-point parameter: accept the integer as 1.0."""
        kinds = {spec.name: type(spec.default) for spec in specs()}
        coerced = []
        for parameter in parameters:
            if kinds.get(parameter.name) is float and parameter.type_ == Parameter.Type.INTEGER:
                parameter = Parameter(parameter.name, Parameter.Type.DOUBLE, float(parameter.value))
            coerced.append(parameter)
        return coerced

    def _check_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        changed = {parameter.name: parameter.value for parameter in parameters}
        if not any(name in ESTIMATOR_PARAMETERS for name in changed):
            return SetParametersResult(successful=True)
        values = parameter_values(self)
        values.update(changed)
        try:
            estimator_settings(values)
        except ParameterError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: list[Parameter]) -> None:
        if not any(parameter.name in ESTIMATOR_PARAMETERS for parameter in parameters):
            return
        settings = estimator_settings(parameter_values(self))
        with self._settings_lock:
            previous, self._settings = self._settings, settings
        changes = ", ".join(f"{p.name} = {p.value}" for p in parameters if p.name in ESTIMATOR_PARAMETERS)
        self.get_logger().info(f"estimator settings changed ({changes}); refine mode {previous.refine.value} -> "
                               f"{settings.refine.value}, applied from the next frame")

    # -- input ----------------------------------------------------------------------------------

    def _on_input(self, msg: Any, role: str) -> None:
        self.stats.input_received(role)

    def _on_frame(self, color: Any, depth: Any, camera_info: Any, segmentation: Any) -> None:
        replaced = self._slot.put((color, depth, camera_info, segmentation))
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

    def _process(self, color: Any, depth: Any, camera_info: Any, segmentation: Any) -> None:
        started = time.monotonic()
        try:
            converted = conversions.frame_from_messages(color, depth, camera_info, segmentation,
                                                        max_pixels=self.config.max_image_pixels)
        except conversions.InputError as error:
            self.stats.frame_rejected(error.reason)
            self._rate_limited.warning(f"rejected:{error.reason}", f"frame rejected: {error}")
            return
        for issue in converted.issues:
            self.stats.issue(issue.reason)
            self._rate_limited(issue.level, f"issue:{issue.reason}", issue.message)

        settings = self.settings
        if self.estimator.settings is not settings:
            self.estimator.settings = settings
        try:
            estimates = self.estimator.estimate(converted.frame, refine=settings.refine)
        except Exception as error:
            self.stats.error("estimation_failed")
            self._rate_limited.error("estimation_failed", f"estimation failed: {error!r}\n{traceback.format_exc()}")
            return

        published, too_few = [], 0
        for estimate in estimates:
            if not conversions.estimate_is_finite(estimate):
                self.stats.issue("non_finite_estimate")
                self._rate_limited.error("issue:non_finite_estimate", f"{estimate.category} {estimate.instance_id}: the "
                                         "estimate is not finite; not published")
                continue
            if estimate.status != EstimateStatus.OK:
                too_few += 1
                self.stats.issue("too_few_points")
                self._rate_limited.warning(
                    "issue:too_few_points", f"{estimate.category} {estimate.instance_id}: only {estimate.num_points} "
                    f"valid depth points in its mask (min_points {settings.min_points}); published with status "
                    "TOO_FEW_POINTS")
            published.append(estimate)
        if self._closing.is_set() or not self.context.ok():
            return
        self._publish(converted, published)
        self.stats.frame_processed(self._latency(converted.stamp), time.monotonic() - started, len(published), too_few)

    def _latency(self, stamp: Any) -> float | None:
        stamp_time = Time.from_msg(stamp, clock_type=self.get_clock().clock_type)
        if stamp_time.nanoseconds == 0:
            return None
        return (self.get_clock().now() - stamp_time).nanoseconds * 1e-9

    def _publish(self, converted: conversions.ConvertedFrame, estimates: list[Any]) -> None:
        stamp, frame_id = converted.stamp, converted.frame_id
        if self._objects_pub is not None:
            self._objects_pub.publish(conversions.object_pose_array(stamp, frame_id, estimates))
        if self._tf is not None:
            transforms = conversions.transforms(stamp, frame_id, estimates, self.config.frame_prefix)
            if transforms:
                self._tf.sendTransform(transforms)
        if self._markers_pub is not None:
            self._markers_pub.publish(conversions.marker_array(stamp, frame_id, estimates, self.config.marker_lifetime))
        if self._debug_pub is not None and self._debug_pub.get_subscription_count() > 0:
            from ..visualize import draw_estimates

            picture = draw_estimates(converted.frame.rgb, estimates, converted.frame.intrinsics)
            self._debug_pub.publish(conversions.image_from_rgb(picture, header=_header(stamp, frame_id)))

    # -- diagnostics ----------------------------------------------------------------------------

    def _on_diagnostics_timer(self) -> None:
        timeout = self.config.input_timeout
        topics = {role: sub.sub.topic_name for (role, _), sub in zip(INPUTS, self._subscribers)}
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
        report = self.stats.report(extra={
            "device": getattr(self.estimator, "device", "?"),
            "refine mode": settings.refine.value,
            "sync": self.config.sync_mode,
            "TF": self._tf_state,
            "pending frame": self._slot.pending,
        })
        if self._diagnostics_pub is not None:
            self._diagnostics_pub.publish(diagnostic_array(report, f"{self.get_name()}: pose estimation",
                                                           self.get_fully_qualified_name(),
                                                           self.get_clock().now().to_msg()))

    # -- shutdown -------------------------------------------------------------------------------

    def destroy_node(self) -> None:
        """Stop the inference thread (waiting for the frame in progress), then destroy the node."""
        self._closing.set()
        slot = getattr(self, "_slot", None)
        if slot is not None:
            slot.close()
        worker = getattr(self, "_worker", None)
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=30.0)
        super().destroy_node()


def _object_array_type() -> Any:
    from dualposenet_ros.msg import ObjectPoseArray

    return ObjectPoseArray


def _header(stamp: Any, frame_id: str) -> Any:
    from std_msgs.msg import Header

    return Header(stamp=stamp, frame_id=frame_id)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``dualposenet_node`` executable."""
    return run_node(NODE_NAME, DualPoseNetNode, rclpy.spin, (ParameterError, StartupError), args)

if __name__ == "__main__":
    sys.exit(main())
