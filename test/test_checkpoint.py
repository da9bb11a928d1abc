"""Checkpoint save/load: round trip, key and shape checks, corrupt files, no code execution."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from dualposenet_ros.model.checkpoint import (
    CheckpointError,
    checkpoint_files,
    load_checkpoint,
    load_state_into,
    save_checkpoint,
)
from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.model.network import DualPoseNet

TINY = ModelConfig(resolution=8, filters=(2, 3, 3, 4), pool_after=(0,), fusion_layers=(1, 3), feature_dim=16,
                   head_hidden=(8,), implicit_hidden=(8, 4))


def tiny_model(seed: int = 0) -> DualPoseNet:
    torch.manual_seed(seed)
    return DualPoseNet(TINY)


def tiny_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(2, 1, 8, 8, generator=generator), torch.randn(2, 3, 8, 8, generator=generator),
            torch.randn(2, 10, 3, generator=generator))


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", ["ckpt_dir", "pair.safetensors", "pair.json"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    model = tiny_model()
    written = save_checkpoint(tmp_path / name, model, metadata={"epoch": 7, "dataset": "synthetic"})
    assert all(path.is_file() for path in written)
    restored, metadata = load_checkpoint(tmp_path / name)
    assert metadata == {"epoch": 7, "dataset": "synthetic"}
    assert restored.config == TINY
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    with torch.no_grad():
        for got, want in zip(restored(*tiny_inputs()), model.eval()(*tiny_inputs())):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_path_forms_resolve_to_the_same_pair(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "run.safetensors", tiny_model())
    expected = (tmp_path / "run.safetensors", tmp_path / "run.json")
    assert checkpoint_files(tmp_path / "run") == expected
    assert checkpoint_files(tmp_path / "run.json") == expected
    assert checkpoint_files(tmp_path / "fresh") == (tmp_path / "fresh" / "model.safetensors",
                                                    tmp_path / "fresh" / "model.json")


def test_shape_mismatch_names_key_and_both_shapes() -> None:
    model = tiny_model()
    state = dict(model.state_dict())
    key = "explicit_decoder.size.layers.0.weight"
    state[key] = torch.zeros(9, 16)
    with pytest.raises(CheckpointError) as error:
        load_state_into(model, state)
    message = str(error.value)
    assert key in message and "(9, 16)" in message and "(8, 16)" in message


def test_missing_and_unexpected_keys_are_named() -> None:
    model = tiny_model()
    state = dict(model.state_dict())
    removed = state.pop("encoder.fusion.conv3.act.weight")
    with pytest.raises(CheckpointError, match=r"lacks parameter 'encoder\.fusion\.conv3\.act\.weight'"):
        load_state_into(model, state)
    state["encoder.fusion.conv3.act.weight"] = removed
    state["encoder.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected parameter 'encoder\.extra'"):
        load_state_into(model, state)


def test_weights_from_another_config_are_rejected(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "a", tiny_model())
    config_path = tmp_path / "a" / "model.json"
    document = json.loads(config_path.read_text())
    document["model_config"]["feature_dim"] = 32
    config_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(tmp_path / "a")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_weights_raise_checkpoint_error(tmp_path: Path, damage: str) -> None:
    weights, _ = save_checkpoint(tmp_path / "c", tiny_model())
    data = weights.read_bytes()
    weights.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00\xff" * 64, "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "c")


def test_bad_json_raises_checkpoint_error(tmp_path: Path) -> None:
    _, config_path = save_checkpoint(tmp_path / "j", tiny_model())
    text = config_path.read_text()
    config_path.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "j")
    document = json.loads(text)
    document["model_config"]["bogus"] = 1
    config_path.write_text(json.dumps(document))
    with pytest.raises(CheckpointError, match="bogus"):
        load_checkpoint(tmp_path / "j")


def test_missing_files_raise_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing")


@pytest.mark.parametrize("writer", ["pickle", "torch_save"])
def test_loading_never_executes_code(tmp_path: Path, writer: str) -> None:
    weights, _ = save_checkpoint(tmp_path / "evil", tiny_model())
    marker = tmp_path / "code_ran"
    if writer == "pickle":
        weights.write_bytes(pickle.dumps({"weight": _Payload(marker)}))
    else:
        torch.save({"weight": _Payload(marker)}, weights)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil")
    assert not marker.exists()


def test_metadata_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "m", tiny_model(), metadata={"bad": object()})


def test_save_state_writes_a_loadable_checkpoint_without_a_model(tmp_path: Path) -> None:
    """Importers save a converted state dict and its config; loading rebuilds the same network."""
    from dualposenet_ros.model.checkpoint import save_state

    model = tiny_model(seed=3)
    written = save_state(tmp_path / "imported.safetensors", TINY, model.state_dict(), {"source": {"variables": 75}})
    assert written == (tmp_path / "imported.safetensors", tmp_path / "imported.json")
    restored, metadata = load_checkpoint(tmp_path / "imported")
    assert restored.config == TINY and metadata == {"source": {"variables": 75}}
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match="shape mismatch"):
        save_state(tmp_path / "wrong.safetensors", ModelConfig(**{**TINY.to_dict(), "feature_dim": 32}),
                   model.state_dict())
        load_checkpoint(tmp_path / "wrong")


def test_saved_files_follow_the_umask_not_owner_only(tmp_path):
    """Another user (the robot's service account) can read a checkpoint written with a usual umask."""
    import os
    import stat

    from dualposenet_ros.model.checkpoint import save_checkpoint
    from dualposenet_ros.core.config import ModelConfig
    from dualposenet_ros.model.network import DualPoseNet

    previous = os.umask(0o022)
    try:
        weights, config = save_checkpoint(tmp_path / "model", DualPoseNet(ModelConfig.compact()))
    finally:
        os.umask(previous)
    for path in (weights, config):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
