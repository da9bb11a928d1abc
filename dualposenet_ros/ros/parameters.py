"""Parameters of the dualposenet node: declaration, validation and the settings they make.

Every parameter is listed once in :data:`SPECS` (name, default, description, whether it can change
while the node runs). ``config/dualposenet.yaml`` documents the same list with the same defaults.

* Estimator settings (``min_points``, ``passes``, ``inlier_radius``, ``seed``, ``amp`` and
  ``refine.*``) can be changed at run time (``ros2 param set /dualposenet refine.mode feature``);
  the next frame uses them. Their defaults are the pipeline's own (``EstimatorSettings()``).
* Everything else is read-only after start (it shapes subscriptions, publishers and the model).

:func:`validate` checks all values at once and raises :class:`ParameterError` listing every
problem, so a wrong configuration fails at start with a message that names the parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..estimates import RefineMode

__all__ = [
    "ESTIMATOR_PARAMETERS",
    "SPECS",
    "NodeConfig",
    "ParameterError",
    "Spec",
    "declare_parameters",
    "specs",
    "estimator_settings",
    "parameter_values",
    "validate",
    "validate_estimator",
]


class ParameterError(ValueError):
    """One or more parameters are invalid; the message lists each problem."""


@dataclass(frozen=True)
class Spec:
    name: str
    default: Any
    description: str
    dynamic: bool = False  # may change while the node runs


def _estimator_defaults() -> dict[str, Any]:
    """Defaults of the estimator parameters, from the pipeline itself (one source of truth)."""
    from ..pipeline import EstimatorSettings

    settings = EstimatorSettings()
    return {
        "min_points": settings.min_points,
        "passes": settings.passes,
        "inlier_radius": float(settings.inlier_radius),
        "seed": settings.seed,
        "amp": bool(settings.amp),
        "refine.mode": RefineMode.parse(settings.refine).value,
        "refine.encoder.learning_rate": float(settings.refine_encoder.learning_rate),
        "refine.encoder.iterations": int(settings.refine_encoder.iterations),
        "refine.encoder.threshold": float(settings.refine_encoder.threshold),
        "refine.feature.learning_rate": float(settings.refine_feature.learning_rate),
        "refine.feature.iterations": int(settings.refine_feature.iterations),
        "refine.feature.threshold": float(settings.refine_feature.threshold),
    }


_ESTIMATOR_DESCRIPTIONS = {
    "min_points": "Instances with at most this many valid depth points get status TOO_FEW_POINTS (>= 0).",
    "passes": "Centring passes per instance; each keeps the points the previous one put inside inlier_radius (>= 1).",
    "inlier_radius": "Canonical-frame radius (in object diagonals) of the points kept for the next pass (> 0).",
    "seed": "Seed of the per-instance point sampling (estimates are reproducible).",
    "amp": "bfloat16 autocast of the un-refined network passes on CUDA (ignored on the CPU).",
    "refine.mode": "Test-time refinement of pose consistency: none, encoder or feature.",
    "refine.encoder.learning_rate": "Adam learning rate of encoder refinement (> 0).",
    "refine.encoder.iterations": "Maximum iterations of encoder refinement (>= 0).",
    "refine.encoder.threshold": "Encoder refinement stops once the consistency loss is below this (>= 0).",
    "refine.feature.learning_rate": "Adam learning rate of feature refinement (> 0).",
    "refine.feature.iterations": "Maximum iterations of feature refinement (>= 0).",
    "refine.feature.threshold": "Feature refinement stops once the consistency loss is below this (>= 0).",
}

ESTIMATOR_PARAMETERS: tuple[str, ...] = tuple(_ESTIMATOR_DESCRIPTIONS)
"""Parameters that configure the estimator; they may change at run time."""

_STATIC_SPECS: tuple[Spec, ...] = (
    Spec("checkpoint", "", "Model checkpoint (path stem, .safetensors or directory); empty = the shipped model."),
    Spec("device", "auto", "Inference device: auto (CUDA when available), cpu, cuda or cuda:N. Without CUDA, "
         "cuda falls back to the CPU with a warning."),
    Spec("sync.mode", "exact", "Input synchronisation: exact (identical stamps) or approximate (within sync.slop)."),
    Spec("sync.queue_size", 10, "Messages kept per input while waiting for a match (>= 1)."),
    Spec("sync.slop", 0.05, "Approximate synchronisation: largest stamp spread of a matched set, seconds (> 0)."),
    Spec("qos.reliability", "best_effort", "Input QoS reliability: best_effort (sensor data QoS) or reliable."),
    Spec("qos.depth", 5, "Input QoS history depth (>= 1)."),
    Spec("frame_prefix", "dualposenet/", "Prefix of the TF frame of each object: <prefix><category>_<instance>."),
    Spec("publish.objects", True, "Publish ~/objects (ObjectPoseArray)."),
    Spec("publish.tf", True, "Broadcast a TF frame per object under the camera optical frame."),
    Spec("publish.markers", True, "Publish ~/markers (MarkerArray: boxes, axes, labels)."),
    Spec("publish.debug_image", True, "Publish ~/debug_image (colour image with projected boxes and axes) "
         "while it has subscribers."),
    Spec("publish.diagnostics", True, "Publish a status on /diagnostics every diagnostics_period."),
    Spec("marker_lifetime", 0.5, "Lifetime of the markers, seconds (0 = until replaced); stale objects vanish."),
    Spec("max_image_pixels", 4_194_304, "Frames with more pixels (width x height) are rejected (>= 1); the default "
         "4 Mpixel accepts up to 2048x2048."),
    Spec("diagnostics_period", 1.0, "Seconds between two /diagnostics statuses (> 0)."),
    Spec("input_timeout", 3.0, "Seconds an input may be silent, while the others arrive, before a warning (> 0)."),
    Spec("warning_period", 5.0, "Repeated warnings of the same kind are logged at most once per this many seconds (> 0)."),
)

_STATIC_NAMES = {spec.name for spec in _STATIC_SPECS}


def _specs() -> tuple[Spec, ...]:
    defaults = _estimator_defaults()
    estimator = tuple(Spec(name, defaults[name], _ESTIMATOR_DESCRIPTIONS[name], dynamic=True)
                      for name in ESTIMATOR_PARAMETERS)
    return _STATIC_SPECS[:2] + estimator + _STATIC_SPECS[2:]


_specs_cache: tuple[Spec, ...] | None = None


def specs() -> tuple[Spec, ...]:
    """Every parameter of the node, in declaration order (built on first use: the estimator
    defaults come from the pipeline, which imports torch)."""
    global _specs_cache
    if _specs_cache is None:
        _specs_cache = _specs()
    return _specs_cache


def __getattr__(name: str) -> Any:  # module attribute SPECS, computed on first use
    if name == "SPECS":
        return specs()
    raise AttributeError(name)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean (true/false)"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a floating-point number (write 1.0, not 1)"
    return "a string"


def declare_parameters(node: Any) -> dict[str, Any]:
    """Declare every parameter on ``node`` (overrides from the command line or a YAML file apply)
    and return their values by name. Values of the wrong type are collected into one
    :class:`ParameterError`."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.exceptions import ParameterException

    errors = []
    for spec in specs():
        descriptor = ParameterDescriptor(description=spec.description, read_only=not spec.dynamic)
        try:
            node.declare_parameter(spec.name, spec.default, descriptor)
        except ParameterException as error:
            errors.append(f"{spec.name} must be {_type_name(spec.default)}: {error}")
            node.declare_parameter(spec.name, spec.default, descriptor, ignore_override=True)
    if errors:
        raise ParameterError("invalid parameter(s):\n  " + "\n  ".join(errors))
    return parameter_values(node)


def parameter_values(node: Any) -> dict[str, Any]:
    """Current values of every parameter of :data:`SPECS` on ``node``."""
    return {spec.name: node.get_parameter(spec.name).value for spec in specs()}


@dataclass(frozen=True)
class NodeConfig:
    """The validated read-only configuration of the node."""

    checkpoint: str | None
    device: str
    sync_mode: str
    sync_queue_size: int
    sync_slop: float
    qos_reliability: str
    qos_depth: int
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


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_FRAME = re.compile(r"^[A-Za-z0-9_./-]*$")


def _check_estimator(values: dict[str, Any], errors: list[str]) -> None:
    def number(name: str, low: float, inclusive: bool) -> None:
        value = values[name]
        ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            errors.append(f"{name} must be {'>=' if inclusive else '>'} {low:g}, got {value!r}")

    number("min_points", 0, True)
    number("passes", 1, True)
    number("inlier_radius", 0, False)
    for mode in ("encoder", "feature"):
        number(f"refine.{mode}.learning_rate", 0, False)
        number(f"refine.{mode}.iterations", 0, True)
        number(f"refine.{mode}.threshold", 0, True)
    try:
        RefineMode.parse(values["refine.mode"])
    except ValueError as error:
        errors.append(f"refine.mode: {error}")


def validate_estimator(values: dict[str, Any]) -> None:
    """Raise :class:`ParameterError` if an estimator parameter is out of range."""
    errors: list[str] = []
    _check_estimator(values, errors)
    if errors:
        raise ParameterError("; ".join(errors))


def _choice(values: dict[str, Any], name: str, options: tuple[str, ...], errors: list[str]) -> str:
    """``values[name]`` normalised (stripped, lower case); an error is recorded if not in ``options``."""
    value = str(values[name]).strip().lower()
    if value not in options:
        errors.append(f"{name} must be {' or '.join(options)}, got {values[name]!r}")
    return value


def validate(values: dict[str, Any]) -> NodeConfig:
    """Check every value; return the read-only configuration or raise :class:`ParameterError`."""
    errors: list[str] = []
    _check_estimator(values, errors)

    checkpoint = str(values["checkpoint"]).strip() or None
    if checkpoint is not None:
        from ..checkpoint import checkpoint_files

        weights, config = checkpoint_files(Path(checkpoint).expanduser())
        missing = [str(path) for path in (weights, config) if not path.is_file()]
        if missing:
            errors.append(f"checkpoint {checkpoint!r} not found: missing {' and '.join(missing)}")
        else:
            checkpoint = str(Path(checkpoint).expanduser())
    device = str(values["device"]).strip().lower()
    if not _DEVICE.match(device):
        errors.append(f"device must be auto, cpu, cuda or cuda:N, got {values['device']!r}")
    sync_mode = _choice(values, "sync.mode", ("exact", "approximate"), errors)
    if values["sync.queue_size"] < 1:
        errors.append(f"sync.queue_size must be >= 1, got {values['sync.queue_size']}")
    if not (math.isfinite(values["sync.slop"]) and values["sync.slop"] > 0):
        errors.append(f"sync.slop must be > 0 seconds, got {values['sync.slop']}")
    reliability = _choice(values, "qos.reliability", ("best_effort", "reliable"), errors)
    if values["qos.depth"] < 1:
        errors.append(f"qos.depth must be >= 1, got {values['qos.depth']}")
    prefix = str(values["frame_prefix"])
    if prefix.startswith("/") or not _FRAME.match(prefix):
        errors.append(f"frame_prefix {prefix!r} must not start with '/' and may only contain letters, digits and _ . / -")
    if not (math.isfinite(values["marker_lifetime"]) and values["marker_lifetime"] >= 0):
        errors.append(f"marker_lifetime must be >= 0 seconds, got {values['marker_lifetime']}")
    if values["max_image_pixels"] < 1:
        errors.append(f"max_image_pixels must be >= 1, got {values['max_image_pixels']}")
    for name in ("diagnostics_period", "input_timeout", "warning_period"):
        if not (math.isfinite(values[name]) and values[name] > 0):
            errors.append(f"{name} must be > 0 seconds, got {values[name]}")
    if errors:
        raise ParameterError("invalid parameter(s):\n  " + "\n  ".join(errors))
    return NodeConfig(
        checkpoint=checkpoint, device=device, sync_mode=sync_mode, sync_queue_size=int(values["sync.queue_size"]),
        sync_slop=float(values["sync.slop"]), qos_reliability=reliability, qos_depth=int(values["qos.depth"]),
        frame_prefix=prefix, publish_objects=bool(values["publish.objects"]), publish_tf=bool(values["publish.tf"]),
        publish_markers=bool(values["publish.markers"]), publish_debug_image=bool(values["publish.debug_image"]),
        publish_diagnostics=bool(values["publish.diagnostics"]), marker_lifetime=float(values["marker_lifetime"]),
        max_image_pixels=int(values["max_image_pixels"]), diagnostics_period=float(values["diagnostics_period"]),
        input_timeout=float(values["input_timeout"]), warning_period=float(values["warning_period"]),
    )


def estimator_settings(values: dict[str, Any]) -> Any:
    """``EstimatorSettings`` of the estimator parameters in ``values`` (ParameterError if invalid)."""
    from ..pipeline import EstimatorSettings
    from ..refine import RefineSettings

    validate_estimator(values)
    try:
        return EstimatorSettings(
            min_points=int(values["min_points"]), passes=int(values["passes"]),
            inlier_radius=float(values["inlier_radius"]), seed=int(values["seed"]), amp=bool(values["amp"]),
            refine=RefineMode.parse(values["refine.mode"]),
            refine_encoder=RefineSettings(float(values["refine.encoder.learning_rate"]),
                                          int(values["refine.encoder.iterations"]),
                                          float(values["refine.encoder.threshold"])),
            refine_feature=RefineSettings(float(values["refine.feature.learning_rate"]),
                                          int(values["refine.feature.iterations"]),
                                          float(values["refine.feature.threshold"])),
        )
    except (TypeError, ValueError) as error:
        raise ParameterError(str(error)) from None
