"""``dualposenet import-tf``: official TensorFlow DualPoseNet weights -> a project checkpoint.

The mapping of each of the 75 TensorFlow variables to a network parameter and the layout change
it needs is documented in ``docs/network_weights.md``; :func:`weight_map` is that table in code,
generated from the model's own state dict so the two cannot drift apart. Conversions:

* ``A`` spherical anchors ``[C_in, anchors, C_out]`` -> ``[anchors, C_in, C_out]``;
* ``B`` spherical bias ``[1, 1, 1, C]`` -> ``[C]``;
* ``T`` dense kernel ``[in, out]`` -> ``nn.Linear`` weight ``[out, in]``;
* ``K`` 1x1 conv1d kernel ``[1, in, out]`` -> ``[out, in]``;
* ``=`` as is (PReLU slopes ``<scope>/Variable``, dense and conv1d biases).

The model sizes are inferred from the variable shapes (paper, compact or any other widths), so
nothing has to be told about the checkpoint. A training-graph checkpoint also holds optimizer
slots (``<var>/Adam``, ``<var>/Adam_1``) and counters (``global_step``, ``beta1_power``...): they
are counted, reported and never read. Anything else that does not fit is refused with a message
naming the variable and the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..core.config import ModelConfig
from ..model.checkpoint import CheckpointError, save_state
from ..model.network import DualPoseNet
from .tf_checkpoint import TFCheckpoint, TFCheckpointError

SOURCE_FORMAT = "tensorflow-v2-checkpoint"
OPTIMIZER_SLOTS = re.compile(r"^(Adam|Momentum|RMSProp|Adagrad|AdagradDA|Adadelta|Ftrl|ProximalAdagrad)(_\d+)?$")
"""Last name component of the slot variables TensorFlow 1.x optimizers create next to each variable."""
COUNTERS = re.compile(r"^(global_step|beta1_power|beta2_power)(_\d+)?$")
"""Training-state scalars of the training graph (step counter, Adam's bias-correction powers)."""

_STREAMS = {"distance_stream": "dis", "rgb_stream": "rgb", "fusion": "fusion"}
_HEADS = {"rotation": "rot", "translation": "trans", "size": "scale"}


class TFImportError(CheckpointError):
    """A TensorFlow checkpoint that cannot be converted (wrong variables, shapes or files)."""


@dataclass(frozen=True)
class WeightSpec:
    """One network parameter: its TensorFlow variable and the layout conversion code."""

    torch_key: str
    tf_name: str
    conversion: str
    torch_shape: tuple[int, ...]

    @property
    def tf_shape(self) -> tuple[int, ...]:
        """The shape the TensorFlow variable must have."""
        shape = self.torch_shape
        if self.conversion == "A":
            return (shape[1], shape[0], shape[2])
        if self.conversion == "B":
            return (1, 1, 1, shape[0])
        if self.conversion == "T":
            return (shape[1], shape[0])
        if self.conversion == "K":
            return (1, shape[1], shape[0])
        return shape


CONVERSIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "A": lambda v: v.transpose(1, 0, 2),
    "B": lambda v: v.reshape(-1),
    "T": lambda v: v.T,
    "K": lambda v: v[0].T,
    "=": lambda v: v,
}


def _tf_name(key: str, config: ModelConfig) -> tuple[str, str]:
    """(TensorFlow variable, conversion code) of one state-dict key of ``DualPoseNet(config)``."""
    parts = key.split(".")
    if parts[0] == "encoder" and parts[1] in _STREAMS:  # encoder.<stream>.conv{i}.(conv.weight|conv.bias|act.weight)
        scope = f"encoder/{_STREAMS[parts[1]]}_{parts[2]}"
        return {("conv", "weight"): (f"{scope}/sphconv/W", "A"), ("conv", "bias"): (f"{scope}/sphconv/b", "B"),
                ("act", "weight"): (f"{scope}/Variable", "=")}[(parts[3], parts[4])]
    kind = {"weight": ("kernel", "T"), "bias": ("bias", "=")}[parts[-1]]
    if parts[:3] == ["encoder", "aggregation", "projections"]:
        return f"encoder/flatten_conv{config.fusion_layers[int(parts[3])]}/dense/{kind[0]}", kind[1]
    if parts[:4] == ["encoder", "aggregation", "mlp", "layers"]:
        return f"encoder/fc{int(parts[4]) + 1}/dense/{kind[0]}", kind[1]
    if parts[0] == "explicit_decoder":
        index = int(parts[3])
        inner = "" if index == len(config.head_hidden) else "dense/"  # the last layer is a bare tf.layers.dense
        return f"explicit_decoder/{_HEADS[parts[1]]}_fc{index + 1}/{inner}{kind[0]}", kind[1]
    if parts[0] == "implicit_decoder":
        return f"implicit_decoder/conv{int(parts[2]) + 1}/conv1d/{kind[0]}", "K" if kind[1] == "T" else "="
    raise KeyError(f"no TensorFlow variable known for parameter {key!r}")


def _parameter_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of ``DualPoseNet(config)``, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = DualPoseNet(config)
    return {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}


def weight_map(config: ModelConfig) -> list[WeightSpec]:
    """Every parameter of ``DualPoseNet(config)`` with its TensorFlow variable and conversion."""
    return [WeightSpec(key, *_tf_name(key, config), shape) for key, shape in _parameter_shapes(config).items()]


# ----------------------------------------------------------------------------- variable classes

@dataclass
class VariableClasses:
    """A checkpoint's entries split into model variables, optimizer slots and counters."""

    model: dict[str, tuple[int, ...]] = field(default_factory=dict)
    slots: Counter = field(default_factory=Counter)  # slot kind (Adam, Adam_1, ...) -> count
    counters: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(self.slots.values()) + len(self.counters)

    def skipped_summary(self) -> str:
        parts = [f"{count} optimizer slots '{kind}'" for kind, count in sorted(self.slots.items())]
        if self.counters:
            parts.append(f"{len(self.counters)} counters ({', '.join(sorted(self.counters))})")
        return ", ".join(parts) if parts else "nothing"


def classify(shapes: Mapping[str, tuple[int, ...]]) -> VariableClasses:
    """Split entries: ``<var>/<slot>`` of a known optimizer and the counters are training state."""
    classes = VariableClasses()
    for name, shape in shapes.items():
        parent, _, last = name.rpartition("/")
        if parent in shapes and OPTIMIZER_SLOTS.match(last):
            classes.slots[last] += 1
        elif COUNTERS.match(name):
            classes.counters.append(name)
        else:
            classes.model[name] = tuple(shape)
    return classes


# ----------------------------------------------------------------------------- size inference

def _indices(shapes: Mapping[str, tuple[int, ...]], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted(int(m.group(1)) for name in shapes if (m := regex.fullmatch(name)))


def infer_config(shapes: Mapping[str, tuple[int, ...]], source: str) -> ModelConfig:
    """The ``ModelConfig`` whose parameters have these TensorFlow shapes (layout of the original code:
    stream layers, fusion layers ``fusion_conv{i}``, pooling just before each fusion layer)."""

    def shape(name: str, rank: int) -> tuple[int, ...]:
        if name not in shapes:
            raise TFImportError(f"checkpoint {source} lacks variable {name!r}")
        value = shapes[name]
        if len(value) != rank:
            raise TFImportError(f"variable {name!r} in {source} has shape {value}, expected rank {rank}")
        return value

    fusion = _indices(shapes, r"encoder/fusion_conv(\d+)/sphconv/W")
    stream = _indices(shapes, r"encoder/dis_conv(\d+)/sphconv/W")
    layers = sorted(set(fusion) | set(stream))
    if not fusion:
        raise TFImportError(f"checkpoint {source} lacks variable 'encoder/fusion_conv*/sphconv/W': "
                            "not a DualPoseNet checkpoint")
    for layer in range(max(layers) + 1):
        if layer not in layers:
            raise TFImportError(f"checkpoint {source} lacks variable 'encoder/dis_conv{layer}/sphconv/W'")
    spherical = [shape(f"encoder/{'fusion' if i in fusion else 'dis'}_conv{i}/sphconv/W", 3) for i in layers]
    filters = [w[2] for w in spherical]
    fusion_resolutions = []
    for layer in fusion:
        flat_in, _ = shape(f"encoder/flatten_conv{layer}/dense/kernel", 2)
        channels = filters[layer]
        side = math.isqrt(flat_in // channels) if channels > 0 and flat_in % channels == 0 else 0
        if side == 0 or side * side * channels != flat_in:
            raise TFImportError(f"variable 'encoder/flatten_conv{layer}/dense/kernel' in {source} has {flat_in} "
                                f"inputs, not a square map of {channels} channels")
        fusion_resolutions.append(side)
    feature_dim = shape(f"encoder/flatten_conv{fusion[0]}/dense/kernel", 2)[1]
    aggregation = _indices(shapes, r"encoder/fc(\d+)/dense/kernel")
    heads = _indices(shapes, r"explicit_decoder/rot_fc(\d+)/dense/kernel")
    implicit = _indices(shapes, r"implicit_decoder/conv(\d+)/conv1d/kernel")
    first_layers = ((heads, "explicit_decoder/rot_fc1/dense/kernel"),
                    (implicit, "implicit_decoder/conv1/conv1d/kernel"))
    for found, name in first_layers:
        if not found:
            raise TFImportError(f"checkpoint {source} lacks variable {name!r}")
    try:
        config = ModelConfig(
            resolution=fusion_resolutions[0] * (2 if fusion[0] > 0 else 1),
            filters=tuple(filters),
            pool_after=tuple(layer - 1 for layer in fusion if layer > 0),
            fusion_layers=tuple(fusion),
            num_anchors=max(w[1] for w in spherical),
            feature_dim=feature_dim,
            aggregation_layers=len(aggregation),
            head_hidden=tuple(shape(f"explicit_decoder/rot_fc{k}/dense/kernel", 2)[1] for k in heads),
            implicit_hidden=tuple(shape(f"implicit_decoder/conv{k}/conv1d/kernel", 3)[2] for k in implicit[:-1]),
        )
    except ValueError as error:
        raise TFImportError(f"the variable shapes of {source} give no valid network: {error}") from None
    resolutions = config.layer_resolutions()
    # Anchors are capped at n / 2, which can hide the setting: keep the default when it explains every layer.
    default = ModelConfig().num_anchors
    if all(w[1] == min(default, n // 2) for w, n in zip(spherical, resolutions)):
        config = dataclasses.replace(config, num_anchors=default)
    for layer, side in zip(fusion, fusion_resolutions):
        if resolutions[layer] != side:
            raise TFImportError(f"variable 'encoder/flatten_conv{layer}/dense/kernel' in {source} implies a "
                                f"{side}x{side} map at layer {layer}, but the layer layout gives {resolutions[layer]}")
    return config


def check_variables(specs: list[WeightSpec], model_shapes: Mapping[str, tuple[int, ...]], source: str) -> None:
    """Refuse a missing, extra or mis-shaped variable, naming it and the file."""
    expected = {spec.tf_name: spec for spec in specs}
    for name, spec in expected.items():
        if name not in model_shapes:
            raise TFImportError(f"checkpoint {source} lacks variable {name!r} (parameter {spec.torch_key})")
    for name in model_shapes:
        if name not in expected:
            raise TFImportError(f"checkpoint {source} has unexpected variable {name!r} (not a weight of the "
                                "inferred network, an optimizer slot or a counter)")
    for name, spec in expected.items():
        if tuple(model_shapes[name]) != spec.tf_shape:
            raise TFImportError(f"variable {name!r} in {source} has shape {tuple(model_shapes[name])}, expected "
                                f"{spec.tf_shape} for parameter {spec.torch_key}")


# ----------------------------------------------------------------------------- conversion

@dataclass
class ImportReport:
    """What an import read, skipped and wrote."""

    config: ModelConfig
    variables: int
    parameters: int
    classes: VariableClasses
    written: tuple[Path, Path]
    metadata: dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(checkpoint: TFCheckpoint, specs: list[WeightSpec], progress: bool = False) -> dict[str, torch.Tensor]:
    """Read every mapped variable (CRC-checked) and convert it to its parameter's layout."""
    state = {}
    for spec in tqdm(specs, desc="import", unit="var", disable=not progress):
        array = checkpoint.read(spec.tf_name)
        if array.dtype != np.float32:
            raise TFImportError(f"variable {spec.tf_name!r} in {checkpoint.index_path.name} is {array.dtype}, "
                                "expected float32")
        # One copy: the array read is read-only, and the converted layout must be contiguous anyway.
        state[spec.torch_key] = torch.from_numpy(np.array(CONVERSIONS[spec.conversion](array), order="C"))
        del array
    return state


def output_stem(path: str | Path) -> Path:
    """``--out`` without a checkpoint suffix: the stem both files are named after."""
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".safetensors", ".json") else path


def import_tf_checkpoint(source: str | Path, out: str | Path, trained_on: str | None = None,
                         progress: bool = False) -> ImportReport:
    """Convert the checkpoint at ``source`` into ``OUT.safetensors`` + ``OUT.json``."""
    checkpoint = TFCheckpoint(source)
    index_name = checkpoint.index_path.name
    classes = classify(checkpoint.shapes())
    config = infer_config(classes.model, index_name)
    specs = weight_map(config)
    check_variables(specs, classes.model, index_name)
    state = convert(checkpoint, specs, progress)
    files = [checkpoint.index_path, *checkpoint.data_paths]
    metadata: dict[str, Any] = {
        "source": {
            "format": SOURCE_FORMAT,
            "prefix": checkpoint.prefix.name,
            "files": [{"name": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path)} for path in files],
            "variables": len(specs),
            "skipped": {"optimizer_slots": dict(sorted(classes.slots.items())), "counters": sorted(classes.counters)},
        },
        "trained_on": trained_on,
        "parameters": int(sum(t.numel() for t in state.values())),
    }
    stem = output_stem(out)
    written = save_state(stem.with_name(stem.name + ".safetensors"), config, state, metadata)
    return ImportReport(config, len(specs), metadata["parameters"], classes, written, metadata)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="TensorFlow V2 checkpoint: a prefix such as .../model-30, or the "
                                           "directory holding its 'checkpoint' file")
    parser.add_argument("--out", required=True, help="output stem: writes OUT.safetensors and OUT.json")
    parser.add_argument("--trained-on", help="provenance note stored in OUT.json, e.g. REAL275 or CAMERA25")


def run(args: argparse.Namespace) -> int:
    try:
        report = import_tf_checkpoint(args.checkpoint, args.out, args.trained_on, progress=sys.stderr.isatty())
    except (TFCheckpointError, CheckpointError) as error:
        print(f"dualposenet import-tf: error: {error}", file=sys.stderr)
        return 2
    config = report.config
    print(f"imported {report.variables} variables ({report.parameters:,} parameters) from "
          f"{report.metadata['source']['prefix']}")
    print(f"model: resolution {config.resolution}, filters {list(config.filters)}, feature {config.feature_dim}, "
          f"heads {list(config.head_hidden)}, implicit {list(config.implicit_hidden)}")
    print(f"skipped {report.classes.skipped} training-state entries: {report.classes.skipped_summary()}")
    print(f"wrote {report.written[0]} and {report.written[1]}")
    return 0
