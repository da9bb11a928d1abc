"""Checkpoints: ``<name>.safetensors`` (weights) + ``<name>.json`` (model config and metadata).

Weights never go through pickle: safetensors holds only tensors, so loading a checkpoint cannot
run code, which matters for a robot that loads models it was sent. The JSON side rebuilds the
network with the sizes it was trained with and carries free-form training metadata.

A checkpoint path is either the pair's stem or either file of the pair (``model``,
``model.safetensors``, ``model.json``), or a directory holding ``model.safetensors`` +
``model.json``. Saving to a path without suffix creates such a directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..core.config import ModelConfig
from .network import DualPoseNet

FORMAT_NAME = "dualposenet_ros.checkpoint"
FORMAT_VERSION = 1
DIRECTORY_STEM = "model"
_SUFFIXES = (".safetensors", ".json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, corrupt, or does not fit the model."""


def checkpoint_files(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Resolve a checkpoint path to its (weights, config) file pair, following the module rules."""
    path = Path(path)
    if path.suffix in _SUFFIXES:
        stem = path.with_suffix("")
    elif path.is_dir() or not path.with_name(path.name + ".safetensors").exists():
        stem = path / DIRECTORY_STEM
    else:
        stem = path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _write_atomically(target: Path, write: Any) -> None:
    """Write through a temporary file so a reader never sees a half-written checkpoint."""
    temporary = target.with_name(target.name + ".tmp")
    write(temporary)
    # The safetensors writer creates its file owner-only; give it the usual permissions (umask), so a
    # node running as another user (a robot's service account) can read a checkpoint trained here.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, target)


def save_checkpoint(path: str | os.PathLike[str], model: DualPoseNet,
                    metadata: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Save ``model`` (weights + config) and JSON-able ``metadata``; returns the two files written."""
    return save_state(path, model.config, model.state_dict(), metadata)


def save_state(path: str | os.PathLike[str], config: ModelConfig, state: Mapping[str, torch.Tensor],
               metadata: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Save a state dict of ``DualPoseNet(config)`` without building the network (importers use this)."""
    weights_path, config_path = checkpoint_files(path)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": config.to_dict(),
        "metadata": dict(metadata or {}),
    }
    try:
        text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint metadata must be JSON-serialisable: {error}") from None
    state = {key: tensor.detach().cpu().contiguous() for key, tensor in state.items()}
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(weights_path, lambda p: save_file(state, str(p), metadata={"format": FORMAT_NAME}))
    _write_atomically(config_path, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return weights_path, config_path


def read_checkpoint_config(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict[str, Any]]:
    """Read only the JSON side: (model config, metadata)."""
    _, config_path = checkpoint_files(path)
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint config not found: {config_path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint config {config_path} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{config_path} is not a {FORMAT_NAME} file")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{config_path} has format version {version!r}; this code reads up to {FORMAT_VERSION}")
    try:
        config = ModelConfig.from_dict(document.get("model_config", {}))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{config_path}: {error}") from None
    metadata = document.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{config_path}: 'metadata' must be a JSON object")
    return config, metadata


def read_weights(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read the safetensors side as a state dict, with corrupt files reported as ``CheckpointError``."""
    weights_path, _ = checkpoint_files(path)
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint weights not found: {weights_path}")
    try:
        return load_file(str(weights_path), device=str(torch.device(map_location)))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint weights {weights_path} are corrupt or not safetensors: {error}") from None


def load_state_into(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` into ``model`` after checking every key and shape (first problem is named)."""
    expected = model.state_dict()
    for key in expected:
        if key not in state:
            raise CheckpointError(f"checkpoint lacks parameter {key!r}")
    for key in state:
        if key not in expected:
            raise CheckpointError(f"checkpoint has unexpected parameter {key!r}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"shape mismatch for {key!r}: checkpoint {tuple(state[key].shape)}, "
                                  f"model {tuple(tensor.shape)}")
    model.load_state_dict(state, strict=True)


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                    ) -> tuple[DualPoseNet, dict[str, Any]]:
    """Rebuild the network from its JSON config, load its weights; returns (model in eval mode, metadata)."""
    config, metadata = read_checkpoint_config(path)
    model = DualPoseNet(config)
    load_state_into(model, read_weights(path, map_location))
    return model.to(torch.device(map_location)).eval(), metadata
