"""Network hyper-parameters (:class:`ModelConfig`), the named presets and the YAML run configs.

A checkpoint stores its ``ModelConfig`` as JSON next to the weights, so a model is always rebuilt
with the sizes it was trained with; :meth:`ModelConfig.to_dict` / :meth:`ModelConfig.from_dict`
are that JSON (and YAML) form.

Encoder layers are numbered from 0, as in the reference implementation (its variable scopes are
``dis_conv0`` ... ``fusion_conv7``): with the default 8 filters, layers 0-2 run at 64x64 and pool
after layer 2, layer 3 fuses at 32x32, and so on; the last layer is the fusion layer 7 at 8x8.

A run config (``configs/paper.yaml``, ``configs/compact.yaml`` or a user's YAML file) has a ``model:``
section (a preset name or overrides), ``train:`` (overrides of :data:`DEFAULT_TRAIN`) and
``augment:``. It is read here rather than in ``train`` so that ``prepare``, which needs only the
model's map resolution, does not import the training code.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
"""Packaged run configs, one YAML file per preset name."""

_INT_TUPLES = ("filters", "pool_after", "fusion_layers", "head_hidden", "implicit_hidden")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`~dualposenet_ros.model.network.DualPoseNet`; the defaults are the paper's."""

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
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; missing keys take the paper defaults, unknown keys raise."""
        if not isinstance(data, Mapping):
            raise ValueError(f"model config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
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
        _require(bool(values) and min(values) >= 1,
                 f"{name} must be a non-empty list of positive integers, got {list(values)}")
    last = config.num_layers - 1
    for name in ("pool_after", "fusion_layers"):
        values = getattr(config, name)
        _require(list(values) == sorted(set(values)), f"{name} must be strictly increasing, got {list(values)}")
        _require(all(0 <= v <= last for v in values),
                 f"{name} entries must be layer indices 0..{last}, got {list(values)}")
    _require(bool(config.fusion_layers), "fusion_layers must name at least one layer (the aggregation reads them)")
    _require(config.fusion_layers[-1] == last,
             f"the last layer ({last}) must be a fusion layer: layers after the last fusion would feed nothing")
    pools = len(config.pool_after)
    _require(config.resolution % (2 ** pools) == 0 and config.resolution >> pools >= 2,
             f"resolution {config.resolution} must stay an even size >= 2 through {len(config.pool_after)} poolings")
    for name in ("leaky_slope", "prelu_init"):
        value = getattr(config, name)
        _require(isinstance(value, (int, float)) and not isinstance(value, bool),
                 f"{name} must be a number, got {value!r}")
    _require(config.leaky_slope >= 0, f"leaky_slope must be >= 0, got {config.leaky_slope}")


PRESETS: dict[str, ModelConfig] = {"paper": ModelConfig.paper(), "compact": ModelConfig.compact()}


def get_preset(name: str) -> ModelConfig:
    """Return the preset called ``name`` or raise ``ValueError`` listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}: expected one of {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------- YAML run configs


DEFAULT_TRAIN: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 64,
    "lr": 1.0e-4,
    "lr_decay_steps": 40000,
    "lr_decay_rate": 0.5,
    "lr_min": 1.0e-6,
    "betas": [0.9, 0.999],
    "weight_decay": 0.0,
    "grad_clip": None,
    "loss_weights": {"rotation": 1.0, "translation": 1.0, "size": 1.0, "implicit": 10.0},
    "workers": 2,
    "log_every": 50,
    "checkpoint_every_steps": 0,
    "amp": False,
    "amp_dtype": "float16",
    "val_max_batches": None,
    "max_steps": None,
    "seed": 0,
}
"""Training settings and their defaults (the paper's recipe); YAML ``train:`` overrides them."""

DEFAULT_AUGMENT: dict[str, Any] = {"color_jitter": None}


def read_yaml(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (safe loader: no code runs)."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return document


def config_path(spec: str) -> Path:
    """'paper' / 'compact' -> the packaged YAML; anything else is a file path."""
    if (CONFIG_DIR / f"{spec}.yaml").is_file() and not Path(spec).suffix:
        return CONFIG_DIR / f"{spec}.yaml"
    path = Path(spec)
    if not path.is_file():
        presets = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"config {spec!r} is neither a preset ({presets}) nor a YAML file")
    return path


def model_config_from(value: Any) -> ModelConfig:
    """``model:`` entry of a config: a preset name, or a mapping with optional ``preset`` + overrides."""
    if value is None:
        return ModelConfig.paper()
    if isinstance(value, str):
        return get_preset(value)
    if isinstance(value, Mapping):
        data = dict(value)
        preset = data.pop("preset", None)
        base = get_preset(preset).to_dict() if preset else {}
        base.update(data)
        return ModelConfig.from_dict(base)
    raise ValueError(f"model config must be a preset name or a mapping, got {type(value).__name__}")


def load_config(spec: str) -> tuple[ModelConfig, dict[str, Any], dict[str, Any]]:
    """(model config, training settings, augmentation settings) of a preset name or YAML file."""
    document = read_yaml(config_path(spec))
    unknown = sorted(set(document) - {"model", "train", "augment", "description"})
    if unknown:
        raise ValueError(f"config {spec}: unknown top-level key(s) {', '.join(unknown)}")
    model = model_config_from(document.get("model"))
    train = copy.deepcopy(DEFAULT_TRAIN)
    overrides = document.get("train") or {}
    bad = sorted(set(overrides) - set(DEFAULT_TRAIN))
    if bad:
        raise ValueError(f"config {spec}: unknown train key(s) {', '.join(bad)}; "
                         f"known: {', '.join(sorted(DEFAULT_TRAIN))}")
    for key, value in overrides.items():
        if key == "loss_weights" and isinstance(value, Mapping):
            train[key].update(value)
        else:
            train[key] = value
    augment = copy.deepcopy(DEFAULT_AUGMENT)
    augment.update(document.get("augment") or {})
    return model, train, augment


def load_model_config(spec: str) -> ModelConfig:
    """Just the model part of :func:`load_config` (used by ``prepare`` for the map resolution)."""
    return load_config(spec)[0]
