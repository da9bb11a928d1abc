"""Network hyper-parameters (:class:`ModelConfig`) and the named presets.

A checkpoint stores its ``ModelConfig`` as JSON next to the weights, so a model is always rebuilt
with the sizes it was trained with; :meth:`ModelConfig.to_dict` / :meth:`ModelConfig.from_dict`
are that JSON (and YAML) form.

Encoder layers are numbered from 0, as in the reference implementation (its variable scopes are
``dis_conv0`` ... ``fusion_conv7``): with the default 8 filters, layers 0-2 run at 64x64 and pool
after layer 2, layer 3 fuses at 32x32, and so on; the last layer is the fusion layer 7 at 8x8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

_INT_TUPLES = ("filters", "pool_after", "fusion_layers", "head_hidden", "implicit_hidden")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`~dualposenet_ros.network.DualPoseNet`; the defaults are the paper's."""

    resolution: int = 64
    """Side n of the n x n spherical input maps (Driscoll-Healy grid)."""
    filters: tuple[int, ...] = (16, 16, 32, 32, 64, 64, 128, 128)
    """Output channels of each encoder layer (layer i has ``filters[i]``)."""
    pool_after: tuple[int, ...] = (2, 4, 6)
    """0-based layers after which both streams are pooled to half resolution."""
    fusion_layers: tuple[int, ...] = (3, 5, 7)
    """0-based layers that convolve concat(distance, rgb); their outputs feed the aggregation."""
    num_anchors: int = 8
    """Learned anchors of each zonal filter (capped at n/2 by the spherical convolution)."""
    feature_dim: int = 1024
    """Size of the pose-sensitive feature."""
    aggregation_layers: int = 2
    """Fully connected ``feature_dim`` layers after the max over scales."""
    head_hidden: tuple[int, ...] = (1024, 512)
    """Hidden widths of each explicit head (rotation, translation, size)."""
    implicit_hidden: tuple[int, ...] = (1024, 512, 256)
    """Hidden widths of the per-point implicit decoder."""
    leaky_slope: float = 0.2
    """Negative slope of every leaky ReLU of the fully connected parts."""
    prelu_init: float = 0.1
    """Initial slope of the per-channel PReLU after each spherical convolution."""
    num_points: int = 1024
    """Observed points fed to the implicit decoder (the network itself accepts any number)."""

    def __post_init__(self) -> None:
        for name in _INT_TUPLES:
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        _validate(self)

    @classmethod
    def paper(cls) -> "ModelConfig":
        """The published network (about 67 M parameters)."""
        return cls()

    @classmethod
    def compact(cls) -> "ModelConfig":
        """A ~2.4 M-parameter variant for CPU robots and the shipped demo model."""
        return cls(
            resolution=32,
            filters=(8, 8, 16, 16, 32, 32, 64, 64),
            feature_dim=256,
            head_hidden=(256, 128),
            implicit_hidden=(256, 128, 64),
        )

    @property
    def num_layers(self) -> int:
        return len(self.filters)

    def layer_resolutions(self) -> tuple[int, ...]:
        """Resolution each encoder layer runs at (pooling happens after a layer)."""
        resolutions, n = [], self.resolution
        for layer in range(self.num_layers):
            resolutions.append(n)
            if layer in self.pool_after:
                n //= 2
        return tuple(resolutions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples become lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; missing keys take the paper defaults, unknown keys raise."""
        if not isinstance(data, Mapping):
            raise ValueError(f"model config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
        return cls(**dict(data))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"invalid model config: {message}")


def _validate(config: ModelConfig) -> None:
    """Reject configurations that would build a broken or partly dead network."""
    for name in ("resolution", "num_anchors", "feature_dim", "num_points"):
        value = getattr(config, name)
        _require(_is_int(value) and value >= 1, f"{name} must be a positive integer, got {value!r}")
    _require(_is_int(config.aggregation_layers) and config.aggregation_layers >= 0,
             f"aggregation_layers must be a non-negative integer, got {config.aggregation_layers!r}")
    for name in _INT_TUPLES:
        value = getattr(config, name)
        _require(isinstance(value, tuple) and all(_is_int(v) for v in value),
                 f"{name} must be a list of integers, got {value!r}")
    for name in ("filters", "head_hidden", "implicit_hidden"):
        values = getattr(config, name)
        _require(bool(values) and min(values) >= 1, f"{name} must be a non-empty list of positive integers, got {list(values)}")
    last = config.num_layers - 1
    for name in ("pool_after", "fusion_layers"):
        values = getattr(config, name)
        _require(list(values) == sorted(set(values)), f"{name} must be strictly increasing, got {list(values)}")
        _require(all(0 <= v <= last for v in values), f"{name} entries must be layer indices 0..{last}, got {list(values)}")
    _require(bool(config.fusion_layers), "fusion_layers must name at least one layer (the aggregation reads them)")
    _require(config.fusion_layers[-1] == last,
             f"the last layer ({last}) must be a fusion layer: layers after the last fusion would feed nothing")
    _require(config.resolution % (2 ** len(config.pool_after)) == 0 and config.resolution >> len(config.pool_after) >= 2,
             f"resolution {config.resolution} must stay an even size >= 2 through {len(config.pool_after)} poolings")
    for name in ("leaky_slope", "prelu_init"):
        value = getattr(config, name)
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), f"{name} must be a number, got {value!r}")
    _require(config.leaky_slope >= 0, f"leaky_slope must be >= 0, got {config.leaky_slope}")


PRESETS: dict[str, ModelConfig] = {"paper": ModelConfig.paper(), "compact": ModelConfig.compact()}


def get_preset(name: str) -> ModelConfig:
    """Return the preset called ``name`` or raise ``ValueError`` listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}: expected one of {', '.join(PRESETS)}") from None
