"""Parameters of the package's nodes: one declaration, one set of rules, at start and at run time.

Every parameter is a :class:`Spec` (name, default, description, whether it may change while the
node runs, and its rule: an inclusive range, a list of choices or a pattern). A
:class:`ParameterTable` declares the specs on a node with descriptors that carry the description
and the range (``FloatingPointRange`` / ``IntegerRange``, so ``ros2 param describe`` shows them),
checks every value at start (raising :class:`ParameterError` that lists each problem by name) and
applies the same rules to ``ros2 param set``: an integer given for a floating-point parameter is
accepted as that number at start and at run time alike.

The dualposenet node's parameters are :func:`specs`; ``config/dualposenet.yaml`` documents the
same list with the same defaults. Estimator settings (``min_points``, ``passes``, ``inlier_radius``,
``seed``, ``amp`` and ``refine.*``) may change at run time and the next frame uses them; the rest
shape subscriptions, publishers and the model and are read-only. The input QoS is set with ROS's
standard ``qos_overrides.<topic>.subscription.<policy>`` parameters (:func:`reliable_input_overrides`).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.categories import DEFAULT_CLASS_MAP
from ..core.estimates import RefineMode

__all__ = [
    "ESTIMATOR_PARAMETERS",
    "OUTPUT_PARAMETERS",
    "NodeConfig",
    "ParameterError",
    "ParameterTable",
    "Spec",
    "estimator_settings",
    "reliable_input_overrides",
    "resolved_frame_prefix",
    "specs",
    "OutputSettings",
    "output_settings",
    "validate",
    "validate_estimator",
]

INT_MAX = 2**31 - 1
QOS_OVERRIDES_PREFIX = "qos_overrides."
"""Parameters ROS itself reads when a subscription or publisher is created (``QoSOverridingOptions``)."""


class ParameterError(ValueError):
    """One or more parameters are invalid; the message lists each problem."""


@dataclass(frozen=True)
class Spec:
    """One parameter: its default (which fixes its type), what it means and the values it accepts."""

    name: str
    default: Any
    description: str
    dynamic: bool = False
    """May change while the node runs."""
    low: float | None = None
    """Smallest accepted value (inclusive; numbers only)."""
    high: float | None = None
    """Largest accepted value (inclusive; numbers only)."""
    choices: tuple[str, ...] = ()
    """Accepted values of a string parameter (compared stripped and in lower case)."""
    pattern: str | None = None
    """Regular expression a string parameter must match in full; ``pattern_hint`` says it in words."""
    pattern_hint: str = ""

    @property
    def kind(self) -> type:
        return type(self.default)

    def descriptor(self) -> Any:
        """``ParameterDescriptor`` with the description, read-only flag and range of this spec."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        descriptor = ParameterDescriptor(description=self.description, read_only=not self.dynamic)
        if self.kind is float and (self.low is not None or self.high is not None):
            low = -math.inf if self.low is None else float(self.low)
            high = math.inf if self.high is None else float(self.high)
            descriptor.floating_point_range = [FloatingPointRange(from_value=low, to_value=high, step=0.0)]
        elif self.kind is int and (self.low is not None or self.high is not None):
            low = -(2**63) if self.low is None else int(self.low)
            high = 2**63 - 1 if self.high is None else int(self.high)
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=0)]
        if self.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(self.choices)
        elif self.pattern_hint:
            descriptor.additional_constraints = self.pattern_hint
        return descriptor

    def coerce(self, value: Any) -> Any:
        """An integer for a floating-point parameter becomes that float; everything else is unchanged."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not accepted, or None."""
        value = self.coerce(value)
        if type(value) is not self.kind:
            return f"{self.name} must be {_type_name(self.kind)}, got {value!r}"
        if self.kind in (int, float):
            if not math.isfinite(value):
                return f"{self.name} must be a finite number, got {value!r}"
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                return f"{self.name} must be {self.range_text()}, got {value!r}"
        if self.kind is str:
            text = value.strip().lower()
            if self.choices and text not in self.choices:
                return f"{self.name} must be {' or '.join(self.choices)}, got {value!r}"
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                return f"{self.name} {self.pattern_hint or 'has an invalid form'}, got {value!r}"
        return None

    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in [{self.low:g}, {self.high:g}]"
        return f">= {self.low:g}" if self.low is not None else f"<= {self.high:g}"


def _type_name(kind: type) -> str:
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}[kind]


CrossCheck = Callable[[Mapping[str, Any]], list[str]]
"""Rules between parameters: receives every value by name, returns the problems found."""


class ParameterTable:
    """Declares ``specs`` on a node and enforces their rules at start and at run time.

    ``cross_check`` adds rules between parameters; ``on_change`` runs after accepted run-time
    changes with the changed names."""

    def __init__(self, specs: Iterable[Spec], cross_check: CrossCheck | None = None) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self._cross_check = cross_check

    def problems(self, values: Mapping[str, Any]) -> list[str]:
        """Every problem of ``values`` (all parameters by name): each spec's rule, then the cross rules."""
        found = [problem for name, spec in self.specs.items() if (problem := spec.problem(values[name]))]
        if not found and self._cross_check is not None:
            found = self._cross_check(values)
        return found

    def declare(self, node: Any) -> dict[str, Any]:
        """Declare every parameter (command-line and YAML overrides apply, integers for floats
        accepted) and return the values; raise :class:`ParameterError` listing every problem."""
        overrides = getattr(node, "_parameter_overrides", {})  # rclpy keeps --ros-args/-p/YAML values here
        errors = []
        for spec in self.specs.values():
            override = overrides.get(spec.name)
            requested = spec.coerce(override.value) if override is not None else spec.default
            problem = spec.problem(requested)
            if problem is None:
                node.declare_parameter(spec.name, requested, spec.descriptor(), ignore_override=True)
            else:
                errors.append(problem)
                node.declare_parameter(spec.name, spec.default, spec.descriptor(), ignore_override=True)
        for warning in self.unknown_overrides(node):
            node.get_logger().warning(warning)
        values = self.values(node)
        if not errors and self._cross_check is not None:
            errors = self._cross_check(values)
        if errors:
            raise ParameterError("invalid parameter(s):\n  " + "\n  ".join(errors))
        return values

    def unknown_overrides(self, node: Any) -> list[str]:
        """A warning for each parameter given at start (command line or YAML) that the node does not
        have, with the closest known name: a misspelt name would otherwise be ignored without a word.
        The input QoS overrides (``qos_overrides.*``) and rclpy's own parameters are known."""
        overrides = getattr(node, "_parameter_overrides", {})
        known = [*self.specs, *(name for name in overrides if node.has_parameter(name))]
        warnings = []
        for name in sorted(overrides):
            if name in self.specs or name.startswith(QOS_OVERRIDES_PREFIX) or node.has_parameter(name):
                continue
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "the node has no parameter of that name"
            warnings.append(f"unknown parameter {name!r} ignored: {hint}")
        return warnings

    def values(self, node: Any) -> dict[str, Any]:
        """Current values of every parameter of the table on ``node``."""
        return {name: node.get_parameter(name).value for name in self.specs}

    def attach(self, node: Any, on_change: Callable[[list[str]], None]) -> None:
        """Apply the rules to run-time changes and call ``on_change(names)`` after accepted ones."""
        from rcl_interfaces.msg import SetParametersResult
        from rclpy.parameter import Parameter

        from .compat.rclpy_api import add_set_parameters_callbacks

        def coerce(parameters: list[Any]) -> list[Any]:
            result = []
            for parameter in parameters:
                spec = self.specs.get(parameter.name)
                if spec is not None and spec.kind is float and parameter.type_ == Parameter.Type.INTEGER:
                    parameter = Parameter(parameter.name, Parameter.Type.DOUBLE, float(parameter.value))
                result.append(parameter)
            return result

        def check(parameters: list[Any]) -> Any:
            changed = {p.name: p.value for p in parameters if p.name in self.specs}
            if not changed:
                return SetParametersResult(successful=True)
            values = self.values(node)
            values.update(changed)
            problems = self.problems(values)
            return SetParametersResult(successful=not problems, reason="; ".join(problems))

        def changed(parameters: list[Any]) -> None:
            names = [p.name for p in parameters if p.name in self.specs]
            if names:
                on_change(names)

        add_set_parameters_callbacks(node, pre_set=coerce, validate=check, post_set=changed)


# -- the dualposenet node -------------------------------------------------------------------------

NODE_REFINE_TIME_BUDGET = 2.0
"""The node's default refinement time budget per frame (s); the pipeline's default is no limit."""


def _estimator_specs() -> tuple[Spec, ...]:
    """Estimator parameters; defaults from the pipeline itself (one source of truth)."""
    from ..inference.pipeline import EstimatorSettings

    defaults = EstimatorSettings()
    encoder, feature = defaults.refine_encoder, defaults.refine_feature
    return (
        Spec("min_points", defaults.min_points, "Instances with at most this many valid depth points get status "
             "TOO_FEW_POINTS.", True, 0, 1_000_000),
        Spec("passes", defaults.passes, "Centring passes per instance at most; each takes all of the instance's "
             "points the previous pass's pose puts inside inlier_radius, while more than min_points do.", True, 1, 10),
        Spec("inlier_radius", float(defaults.inlier_radius), "Canonical-frame radius (in object diagonals) of the "
             "points kept for the next pass.", True, 0.01, 10.0),
        Spec("seed", defaults.seed, "Seed of the per-instance point sampling (estimates are reproducible).", True,
             0, INT_MAX),
        Spec("amp", bool(defaults.amp), "bfloat16 autocast of the un-refined network passes on CUDA (ignored on the "
             "CPU).", True),
        Spec("residual_points", int(defaults.residual_points), "Points per object of the consistency residual of "
             "an un-refined estimate (0 = all sampled points); fewer is faster, the pose does not change.", True,
             0, 1_000_000),
        Spec("refine.mode", RefineMode.parse(defaults.refine).value, "Test-time refinement of pose consistency: none, "
             "encoder or feature.", True, choices=tuple(mode.value for mode in RefineMode)),
        Spec("refine.time_budget", NODE_REFINE_TIME_BUDGET, "Seconds refinement may take per frame; when spent, "
             "refinement stops and keeps the best pose so far (0 = no limit).", True, 0.0, 3600.0),
        Spec("refine.memory_budget_mb", float(defaults.refine_memory_budget_mb), "Memory encoder refinement may "
             "hold (MB): objects are refined in chunks that fit (about 5 encoders each); running out of memory "
             "halves the chunk (0 = all at once).", True, 0.0, 1e7),
        *(spec for mode, settings in (("encoder", encoder), ("feature", feature)) for spec in (
            Spec(f"refine.{mode}.learning_rate", float(settings.learning_rate),
                 f"Adam learning rate of {mode} refinement.", True, 1e-9, 1.0),
            Spec(f"refine.{mode}.iterations", int(settings.iterations), f"Maximum iterations of {mode} refinement.",
                 True, 0, 1000),
            Spec(f"refine.{mode}.threshold", float(settings.threshold), f"{mode.capitalize()} refinement of an "
                 "instance stops once its consistency loss is below this.", True, 0.0, 1.0))),
    )


_FRAME_PATTERN = r"/?([A-Za-z0-9_.-][A-Za-z0-9_./-]*)?"


def resolved_frame_prefix(prefix: str, namespace: str) -> str:
    """The TF frame prefix of a node in ``namespace``. Like a topic name, a relative prefix is
    resolved in the namespace (``dualposenet/`` in ``/left``: ``left/dualposenet/``), so namespaced
    nodes publish distinct frames; a prefix starting with ``/`` is taken as it is, without the
    ``/`` (TF frame ids have none)."""
    if prefix.startswith("/"):
        return prefix[1:]
    base = namespace.strip("/")
    return f"{base}/{prefix}" if base else prefix


_STATIC_SPECS: tuple[Spec, ...] = (
    Spec("checkpoint", "", "Model checkpoint (path stem, .safetensors or directory); empty = the shipped model."),
    Spec("device", "auto", "Inference device: auto (CUDA when available), cpu, cuda or cuda:N. Without CUDA, "
         "cuda falls back to the CPU with a warning.", pattern=r"\s*(auto|cpu|cuda(:\d+)?)\s*",
         pattern_hint="must be auto, cpu, cuda or cuda:N"),
    Spec("precision", "fp32", "Precision of the large fully connected layers in the un-refined passes: fp32, "
         "bf16 or int8 (CPU only); faster, within the tolerances of docs/benchmarks.md.",
         choices=("fp32", "bf16", "int8")),
    Spec("backend", "torch", "Runtime of the un-refined network passes: torch or onnxruntime (float32; needs the "
         "onnxruntime package). Refinement always runs on torch.", choices=("torch", "onnxruntime")),
    Spec("threads", 0, "CPU threads of the network passes (torch's OpenMP pool, ONNX Runtime); 0 = OMP_NUM_THREADS "
         "when set, else the cores this process may run on (its CPU affinity). Set before torch loads, with "
         "OMP_WAIT_POLICY=PASSIVE unless the environment chose a policy.", low=0, high=1024),
    Spec("sync.mode", "exact", "Matching of a segmentation with the images: exact (identical stamps) or "
         "approximate (the nearest image within sync.slop).", choices=("exact", "approximate")),
    Spec("sync.window", 2.0, "Seconds of colour, depth and camera_info images kept (by stamp) for a segmentation "
         "that comes late; one that comes later is counted as too late.", low=0.01, high=60.0),
    Spec("sync.queue_size", 60, "Images kept per input at most (colour, depth, camera_info): a memory cap "
         "besides sync.window (60: about 2 s at 30 Hz).", low=1, high=1000),
    Spec("sync.slop", 0.05, "Approximate matching: largest difference, seconds, between the segmentation's stamp "
         "and each image's.", low=1e-6, high=10.0),
    Spec("depth.min", 0.1, "Depth below this (metres) is treated as no depth (too close for an RGB-D camera).",
         low=0.0, high=1000.0),
    Spec("depth.max", 10.0, "Depth above this (metres) is treated as no depth (beyond the camera's range).",
         low=0.0, high=1000.0),
    Spec("max_instances", 32, "Instances estimated per frame: the largest masks are kept, the rest counted and "
         "skipped.", low=1, high=1000),
    Spec("frame_prefix", "dualposenet/", "Prefix of the TF frame of each object: <prefix><category>_<track id>. "
         "Resolved in the node's namespace like a relative topic name (in /left: left/dualposenet/); a leading '/' "
         "ignores the namespace.", pattern=_FRAME_PATTERN,
         pattern_hint="may only contain letters, digits and _ . / - (and not start with '//')"),
    Spec("publish.objects", True, "Publish ~/objects (ObjectPoseArray)."),
    Spec("publish.tf", True, "Broadcast a TF frame per object under the camera optical frame."),
    Spec("publish.markers", True, "Publish ~/markers (MarkerArray: boxes, axes, labels) while it has subscribers."),
    Spec("publish.debug_image", True, "Publish ~/debug_image (colour image with projected boxes and axes) "
         "while it has subscribers."),
    Spec("publish.diagnostics", True, "Publish a status on /diagnostics every diagnostics_period."),
    Spec("publish.detections", True, "Publish ~/detections (vision_msgs/Detection3DArray) when vision_msgs is "
         "installed."),
    Spec("segmentation_format", "instance_segmentation", "What the segmentation topic carries: "
         "instance_segmentation (dualposenet_ros/InstanceSegmentation), detections_masks "
         "(vision_msgs/Detection2DArray + segmentation/masks images) or yolo_ros (yolo_msgs/DetectionArray).",
         choices=("instance_segmentation", "detections_masks", "yolo_ros")),
    Spec("class_map", DEFAULT_CLASS_MAP,
         "Segmenter class name or id -> category, comma-separated 'class: category' entries (category names map "
         "to themselves); detections of other classes are skipped and counted."),
    Spec("segmentation.mask_timeout", 0.5, "detections_masks: seconds to wait for a frame's mask images after its "
         "detections.", low=0.0, high=10.0),
    Spec("min_score", 0.0, "Objects whose segmentation score is below this get status LOW_SCORE: kept in "
         "~/objects, left out of TF, markers and ~/detections.", True, low=0.0, high=1.0),
    Spec("max_consistency_residual", 0.0, "Objects whose consistency residual is above this get status "
         "HIGH_RESIDUAL (kept in ~/objects only); 0 = no limit.", True, low=0.0, high=1000.0),
    Spec("tracking.max_missed", 5, "Frames an object keeps its track id while not seen.", True, low=0, high=100_000),
    Spec("tracking.gate", 0.5, "Largest centre distance, in object diagonals, between an object and its track "
         "in the next frame.", True, low=0.01, high=100.0),
    Spec("tracking.smoothing", 0.0, "Pose smoothing strength: 0 = raw estimates; towards 1 steadier and slower "
         "to follow rotation.", True, low=0.0, high=0.99),
    Spec("marker_lifetime", 0.5, "Lifetime of the markers, seconds (0 = until replaced); stale objects vanish.",
         low=0.0, high=3600.0),
    Spec("max_image_pixels", 4_194_304, "Frames with more pixels (width x height) are rejected; the default "
         "4 Mpixel accepts up to 2048x2048.", low=1, high=INT_MAX),
    Spec("diagnostics_period", 1.0, "Seconds between two /diagnostics statuses.", low=0.01, high=3600.0),
    Spec("input_timeout", 3.0, "Seconds without any input, or without one input while the others arrive, before "
         "a warning.", low=0.01, high=3600.0),
    Spec("warning_period", 5.0, "Repeated warnings of the same kind are logged at most once per this many seconds.",
         low=0.001, high=3600.0),
)

OUTPUT_PARAMETERS: tuple[str, ...] = tuple(spec.name for spec in _STATIC_SPECS if spec.dynamic)
"""Gating and tracking parameters (the node's dynamic parameters other than the estimator's); they
may change at run time (the next frame uses them)."""

ESTIMATOR_PARAMETERS: tuple[str, ...] = ("min_points", "passes", "inlier_radius", "seed", "amp", "residual_points",
                                         "refine.mode",
                                         "refine.time_budget", "refine.memory_budget_mb",
                                         "refine.encoder.learning_rate",
                                         "refine.encoder.iterations", "refine.encoder.threshold",
                                         "refine.feature.learning_rate", "refine.feature.iterations",
                                         "refine.feature.threshold")
"""Parameters that configure the estimator; they may change at run time."""

_specs_cache: tuple[Spec, ...] | None = None


def specs() -> tuple[Spec, ...]:
    """Every parameter of the dualposenet node, in declaration order (built on first use: the
    estimator defaults come from the pipeline, which imports torch)."""
    global _specs_cache
    if _specs_cache is None:
        _specs_cache = _STATIC_SPECS[:2] + _estimator_specs() + _STATIC_SPECS[2:]
    return _specs_cache


def node_cross_check(values: Mapping[str, Any]) -> list[str]:
    """Rules between the node's parameters."""
    if values["depth.min"] >= values["depth.max"]:
        return [f"depth.min ({values['depth.min']:g}) must be smaller than depth.max ({values['depth.max']:g})"]
    return []


def node_parameter_table() -> ParameterTable:
    return ParameterTable(specs(), node_cross_check)


INPUT_TOPICS = ("color/image", "depth/image", "color/camera_info", "segmentation", "segmentation/masks")
"""The node's input topics (relative names), as ``qos_overrides`` name them once resolved; the last
one only with ``segmentation_format: detections_masks`` (an override of a topic the node does not
subscribe to is not used)."""


def reliable_input_overrides(namespace: str = "/") -> dict[str, str]:
    """``qos_overrides`` parameters that make the node's inputs (resolved in ``namespace``, not
    remapped) reliable, e.g. for a recorded bag or a publisher that needs it."""
    base = namespace.rstrip("/")
    return {f"qos_overrides.{base}/{topic}.subscription.reliability": "reliable" for topic in INPUT_TOPICS}


@dataclass(frozen=True)
class NodeConfig:
    """The validated read-only configuration of the node."""

    checkpoint: str | None
    device: str
    sync_mode: str
    sync_queue_size: int
    sync_slop: float
    sync_window: float
    depth_min: float
    depth_max: float
    max_instances: int
    frame_prefix: str
    publish_objects: bool
    publish_tf: bool
    publish_markers: bool
    publish_debug_image: bool
    publish_diagnostics: bool
    marker_lifetime: float
    max_image_pixels: int
    diagnostics_period: float
    input_timeout: float
    warning_period: float
    publish_detections: bool = True
    segmentation_format: str = "instance_segmentation"
    class_map: Mapping[str, int] | None = None  # segmenter class (lower case) -> class id
    mask_timeout: float = 0.5
    precision: str = "fp32"
    backend: str = "torch"


def validate_estimator(values: Mapping[str, Any]) -> None:
    """Raise :class:`ParameterError` if an estimator parameter breaks its rule."""
    table = {spec.name: spec for spec in specs()}
    errors = [problem for name in ESTIMATOR_PARAMETERS if (problem := table[name].problem(values[name]))]
    if errors:
        raise ParameterError("; ".join(errors))


def validate(values: Mapping[str, Any]) -> NodeConfig:
    """Check every value; return the read-only configuration or raise :class:`ParameterError`."""
    errors = node_parameter_table().problems(values)
    checkpoint = str(values["checkpoint"]).strip() or None
    from ..core.categories import NOCS_CATEGORIES, categories_from_metadata

    categories = NOCS_CATEGORIES  # the shipped model's
    if checkpoint is not None:
        from ..model.checkpoint import CheckpointError, checkpoint_files, read_checkpoint_config

        weights, config = checkpoint_files(Path(checkpoint).expanduser())
        missing = [str(path) for path in (weights, config) if not path.is_file()]
        if missing:
            errors.append(f"checkpoint {checkpoint!r} not found: missing {' and '.join(missing)}")
        else:
            checkpoint = str(Path(checkpoint).expanduser())
            try:  # the class_map maps to the categories the checkpoint was trained on
                categories = categories_from_metadata(read_checkpoint_config(checkpoint)[1])
            except (CheckpointError, ValueError) as error:
                errors.append(f"checkpoint {checkpoint!r}: {error}")
    from .segmentation_inputs import parse_class_map

    class_map = None
    text = str(values["class_map"])
    try:
        class_map = parse_class_map(text, categories, skip_unknown_categories=text.strip() == DEFAULT_CLASS_MAP)
    except ValueError as error:
        errors.append(str(error))
    if errors:
        raise ParameterError("invalid parameter(s):\n  " + "\n  ".join(errors))
    return NodeConfig(
        checkpoint=checkpoint, device=str(values["device"]).strip().lower(),
        sync_mode=str(values["sync.mode"]).strip().lower(), sync_queue_size=int(values["sync.queue_size"]),
        sync_slop=float(values["sync.slop"]), sync_window=float(values["sync.window"]),
        depth_min=float(values["depth.min"]),
        depth_max=float(values["depth.max"]), max_instances=int(values["max_instances"]),
        frame_prefix=str(values["frame_prefix"]), publish_objects=bool(values["publish.objects"]),
        publish_tf=bool(values["publish.tf"]), publish_markers=bool(values["publish.markers"]),
        publish_debug_image=bool(values["publish.debug_image"]),
        publish_diagnostics=bool(values["publish.diagnostics"]), marker_lifetime=float(values["marker_lifetime"]),
        max_image_pixels=int(values["max_image_pixels"]), diagnostics_period=float(values["diagnostics_period"]),
        input_timeout=float(values["input_timeout"]), warning_period=float(values["warning_period"]),
        publish_detections=bool(values["publish.detections"]),
        segmentation_format=str(values["segmentation_format"]).strip().lower(), class_map=class_map,
        mask_timeout=float(values["segmentation.mask_timeout"]),
        precision=str(values["precision"]).strip().lower(), backend=str(values["backend"]).strip().lower(),
    )


@dataclass(frozen=True)
class OutputSettings:
    """The gating thresholds and tracker settings (:data:`OUTPUT_PARAMETERS`), replaced whole when
    one changes at run time."""

    min_score: float
    max_consistency_residual: float
    tracking: Any  # dualposenet_ros.inference.tracking.TrackerSettings


def output_settings(values: Mapping[str, Any]) -> OutputSettings:
    """:class:`OutputSettings` of the gating and ``tracking.*`` parameters."""
    from ..inference.tracking import TrackerSettings

    tracking = TrackerSettings(max_missed=int(values["tracking.max_missed"]), gate=float(values["tracking.gate"]),
                               smoothing=float(values["tracking.smoothing"]))
    return OutputSettings(float(values["min_score"]), float(values["max_consistency_residual"]), tracking)


def estimator_settings(values: Mapping[str, Any]) -> Any:
    """``EstimatorSettings`` of the estimator parameters in ``values`` (ParameterError if invalid)."""
    from ..inference.pipeline import EstimatorSettings
    from ..inference.refine import RefineSettings

    validate_estimator(values)
    try:
        return EstimatorSettings(
            min_points=int(values["min_points"]), passes=int(values["passes"]),
            inlier_radius=float(values["inlier_radius"]), seed=int(values["seed"]), amp=bool(values["amp"]),
            refine=RefineMode.parse(str(values["refine.mode"]).strip().lower()),
            refine_time_budget=float(values["refine.time_budget"]),
            refine_memory_budget_mb=float(values["refine.memory_budget_mb"]),
            residual_points=int(values["residual_points"]),
            refine_encoder=RefineSettings(float(values["refine.encoder.learning_rate"]),
                                          int(values["refine.encoder.iterations"]),
                                          float(values["refine.encoder.threshold"])),
            refine_feature=RefineSettings(float(values["refine.feature.learning_rate"]),
                                          int(values["refine.feature.iterations"]),
                                          float(values["refine.feature.threshold"])),
        )
    except (TypeError, ValueError) as error:
        raise ParameterError(str(error)) from None
