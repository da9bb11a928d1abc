"""``import-tf`` and the TensorFlow checkpoint reader: locating, converting, inferring sizes, refusing.

Checkpoints of any size or defect are written with ``tf_checkpoint.write_checkpoint`` (the layout
TensorFlow's writer produces; the reader is checked against a real TensorFlow-written checkpoint
in ``test/fixtures/tf_reference_compact`` too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dualposenet_ros.research import tf_checkpoint
from dualposenet_ros.model.checkpoint import load_checkpoint
from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.research.import_tf import (
    TFImportError,
    classify,
    import_tf_checkpoint,
    infer_config,
    output_stem,
    weight_map,
)
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.inference.pipeline import PoseEstimator
from dualposenet_ros.research.tf_checkpoint import TFCheckpoint, TFCheckpointError, write_checkpoint

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "test" / "fixtures" / "tf_reference_compact"
# A small network with the original layout (pooling just before each fusion layer); 8x8 maps cap the anchors at 4.
SMALL = ModelConfig(resolution=8, filters=(3, 4, 4, 5), pool_after=(0, 2), fusion_layers=(1, 3), feature_dim=12,
                    head_hidden=(10, 6), implicit_hidden=(9, 7, 5))


def to_tensorflow(model: DualPoseNet) -> dict[str, np.ndarray]:
    """The inverse of the documented conversions, written out independently of import_tf."""
    arrays = {}
    for spec in weight_map(model.config):
        value = model.state_dict()[spec.torch_key].numpy()
        arrays[spec.tf_name] = {"A": lambda v: v.transpose(1, 0, 2), "B": lambda v: v.reshape(1, 1, 1, -1),
                                "T": lambda v: v.T, "K": lambda v: v.T[None], "=": lambda v: v}[spec.conversion](value)
    return arrays


def random_model(config: ModelConfig = SMALL, seed: int = 0) -> DualPoseNet:
    """Every parameter random (biases and PReLU slopes too), so a mix-up changes the outputs."""
    torch.manual_seed(seed)
    model = DualPoseNet(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.1)
    return model.eval()


def fixture_arrays() -> dict[str, np.ndarray]:
    checkpoint = TFCheckpoint(FIXTURE / "model-30")
    return {name: np.array(checkpoint.read(name)) for name in checkpoint.entries}


def training_state(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What a training graph saves besides the variables: Adam slots and counters."""
    state = {f"{name}/{slot}": np.full_like(value, 1e-3) for name, value in arrays.items()
             for slot in ("Adam", "Adam_1")}
    return {**arrays, **state, "global_step": np.array(1000, np.int32), "beta1_power": np.array(0.5, np.float32),
            "beta2_power": np.array(0.9, np.float32)}


# ----------------------------------------------------------------------------- the reader

def test_reader_reads_a_tensorflow_written_checkpoint() -> None:
    checkpoint = TFCheckpoint(FIXTURE)
    assert checkpoint.prefix == FIXTURE / "model-30"
    assert len(checkpoint.entries) == 75
    assert checkpoint.shapes()["encoder/fusion_conv7/sphconv/W"] == (128, 2, 64)
    assert checkpoint.shapes()["encoder/dis_conv0/sphconv/b"] == (1, 1, 1, 8)
    total = sum(checkpoint.read(name).size for name in checkpoint.entries)
    assert total == 2_454_509
    assert checkpoint.read("explicit_decoder/rot_fc3/bias").dtype == np.float32


def test_writer_reproduces_tensorflow_data_bytes(tmp_path: Path) -> None:
    arrays = fixture_arrays()
    write_checkpoint(tmp_path / "copy", arrays)
    data_name = "data-00000-of-00001"
    assert (tmp_path / f"copy.{data_name}").read_bytes() == (FIXTURE / f"model-30.{data_name}").read_bytes()
    copy = TFCheckpoint(tmp_path / "copy")
    assert copy.shapes() == TFCheckpoint(FIXTURE).shapes()


def test_multi_block_index_and_dtypes_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf_checkpoint, "BLOCK_SIZE", 200)  # many data blocks and restart points
    arrays = {f"scope/var_{i:03d}": np.arange(i + 1, dtype=np.float32) for i in range(100)}
    arrays.update({"step": np.array(7, np.int32), "big": np.arange(6, dtype=np.int64).reshape(2, 3),
                   "half": np.ones(3, np.float16), "scalar": np.array(2.5, np.float64)})
    write_checkpoint(tmp_path / "m", arrays)
    checkpoint = TFCheckpoint(tmp_path / "m")
    assert set(checkpoint.entries) == set(arrays)
    for name, value in arrays.items():
        read = checkpoint.read(name)
        assert read.dtype == value.dtype and read.shape == value.shape and np.array_equal(read, value), name


@pytest.mark.parametrize("form", ["prefix", "index", "data", "directory", "state_file"])
def test_checkpoint_path_forms(tmp_path: Path, form: str) -> None:
    write_checkpoint(tmp_path / "model-30", {"a": np.zeros(2, np.float32)})
    # The state file of a checkpoint copied from elsewhere names a path of the machine that wrote it.
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/home/someone/runs/REAL275/model-30"\n'
                                         'all_model_checkpoint_paths: "/home/someone/runs/REAL275/model-30"\n')
    path = {"prefix": tmp_path / "model-30", "index": tmp_path / "model-30.index",
            "data": tmp_path / "model-30.data-00000-of-00001", "directory": tmp_path,
            "state_file": tmp_path / "checkpoint"}[form]
    assert TFCheckpoint(path).prefix == tmp_path / "model-30"


def test_state_file_written_on_windows_with_a_non_ascii_name(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "modèle-30", {"a": np.zeros(2, np.float32)})
    # Text-proto escaping: backslashes doubled, non-ASCII bytes as octal escapes.
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "C:\\\\runs\\\\mod\\303\\250le-30"\n')
    assert TFCheckpoint(tmp_path).prefix == tmp_path / "modèle-30"


# ----------------------------------------------------------------------------- conversion and sizes

def test_conversion_round_trip_gives_the_same_network(tmp_path: Path) -> None:
    model = random_model()
    write_checkpoint(tmp_path / "tf" / "model-5", training_state(to_tensorflow(model)))
    report = import_tf_checkpoint(tmp_path / "tf" / "model-5", tmp_path / "small", trained_on="CAMERA25")
    assert report.config == SMALL
    imported, metadata = load_checkpoint(tmp_path / "small")
    for key, value in model.state_dict().items():
        assert torch.equal(imported.state_dict()[key], value), key
    generator = torch.Generator().manual_seed(1)
    inputs = (torch.rand(2, 1, 8, 8, generator=generator), torch.rand(2, 3, 8, 8, generator=generator),
              torch.randn(2, 20, 3, generator=generator))
    with torch.no_grad():
        for got, want in zip(imported(*inputs), model(*inputs)):
            assert torch.equal(got, want)
    assert metadata["trained_on"] == "CAMERA25"


def test_provenance_in_the_json(tmp_path: Path) -> None:
    import hashlib

    write_checkpoint(tmp_path / "tf" / "model-5", training_state(to_tensorflow(random_model())))
    import_tf_checkpoint(tmp_path / "tf" / "model-5.index", tmp_path / "out.safetensors", trained_on="REAL275")
    document = json.loads((tmp_path / "out.json").read_text())
    source = document["metadata"]["source"]
    assert source["format"] == "tensorflow-v2-checkpoint" and source["prefix"] == "model-5"
    assert [f["name"] for f in source["files"]] == ["model-5.index", "model-5.data-00000-of-00001"]
    for entry in source["files"]:
        data = (tmp_path / "tf" / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert source["variables"] == len(weight_map(SMALL))
    assert source["skipped"] == {"optimizer_slots": {"Adam": len(weight_map(SMALL)), "Adam_1": len(weight_map(SMALL))},
                                 "counters": ["beta1_power", "beta2_power", "global_step"]}
    assert document["metadata"]["trained_on"] == "REAL275"
    assert document["metadata"]["parameters"] == DualPoseNet(SMALL).count_parameters()


@pytest.mark.parametrize("preset", ["paper", "compact", "wide"])
def test_sizes_are_inferred_from_shapes(preset: str) -> None:
    config = {"paper": ModelConfig.paper(), "compact": ModelConfig.compact(),
              "wide": ModelConfig(resolution=16, filters=(5, 6, 7, 9), pool_after=(0, 2), fusion_layers=(1, 3),
                                  num_anchors=3, feature_dim=40, aggregation_layers=3, head_hidden=(30,),
                                  implicit_hidden=(20, 10))}[preset]
    shapes = {spec.tf_name: spec.tf_shape for spec in weight_map(config)}
    assert infer_config(shapes, "model.index") == config


def test_paper_variables_are_the_documented_75() -> None:
    """docs/network_weights.md lists exactly the mapping the importer uses (key, shape, variable, conversion)."""
    rows = {}
    for line in (REPO / "docs" / "network_weights.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[3].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1], cells[3].strip("`"), cells[4].split()[0])
    specs = weight_map(ModelConfig.paper())
    assert len(specs) == 75
    assert rows == {spec.torch_key: (str(spec.torch_shape), spec.tf_name, spec.conversion) for spec in specs}


def test_classify_separates_training_state() -> None:
    classes = classify({"a/kernel": (2, 2), "a/kernel/Adam": (2, 2), "a/kernel/Adam_1": (2, 2),
                        "global_step": (), "beta1_power": (), "a/kernel/Unknown": (2, 2)})
    assert classes.slots == {"Adam": 1, "Adam_1": 1} and classes.counters == ["global_step", "beta1_power"]
    assert set(classes.model) == {"a/kernel", "a/kernel/Unknown"}  # unknown entries are not skipped silently


def test_output_stem() -> None:
    assert output_stem("models/real275") == Path("models/real275")
    assert output_stem("models/real275.safetensors") == Path("models/real275")
    assert output_stem("models/real275.json") == Path("models/real275")


def test_every_consumer_loads_the_import(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "model-30", to_tensorflow(random_model(ModelConfig.compact())))
    import_tf_checkpoint(tmp_path / "model-30", tmp_path / "official")
    estimator = PoseEstimator.from_checkpoint(tmp_path / "official", device="cpu")
    assert estimator.model.config == ModelConfig.compact()


# ----------------------------------------------------------------------------- refusals

def _write_small(directory: Path, change=None) -> Path:
    arrays = training_state(to_tensorflow(random_model()))
    if change:
        change(arrays)
    write_checkpoint(directory / "model-5", arrays)
    return directory / "model-5"


def _refusal(tmp_path: Path, source: Path, *fragments: str) -> None:
    with pytest.raises((TFImportError, TFCheckpointError)) as error:
        import_tf_checkpoint(source, tmp_path / "out")
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)
    assert not (tmp_path / "out.safetensors").exists() and not (tmp_path / "out.json").exists()


def test_missing_variable_is_named(tmp_path: Path) -> None:
    source = _write_small(tmp_path, lambda a: a.pop("explicit_decoder/trans_fc2/dense/bias"))
    _refusal(tmp_path, source, "'explicit_decoder/trans_fc2/dense/bias'", "model-5.index", "lacks")


def test_missing_layer_is_named(tmp_path: Path) -> None:
    source = _write_small(tmp_path, lambda a: [a.pop(k) for k in list(a) if k.startswith("encoder/flatten_conv3/")])
    _refusal(tmp_path, source, "'encoder/flatten_conv3/dense/kernel'", "model-5.index")


def test_extra_variable_is_named(tmp_path: Path) -> None:
    source = _write_small(tmp_path, lambda a: a.update({"encoder/extra_conv/kernel": np.zeros(3, np.float32)}))
    _refusal(tmp_path, source, "unexpected variable 'encoder/extra_conv/kernel'", "model-5.index")


def test_misshaped_variable_is_named(tmp_path: Path) -> None:
    wrong = {"explicit_decoder/scale_fc3/kernel": np.zeros((6, 4), np.float32)}
    source = _write_small(tmp_path, lambda a: a.update(wrong))
    _refusal(tmp_path, source, "'explicit_decoder/scale_fc3/kernel'", "(6, 4)", "(6, 3)", "model-5.index")


def test_misshaped_prelu_slope_is_named(tmp_path: Path) -> None:
    source = _write_small(tmp_path, lambda a: a.update({"encoder/rgb_conv0/Variable": np.zeros(4, np.float32)}))
    _refusal(tmp_path, source, "'encoder/rgb_conv0/Variable'", "(4,)", "(3,)")


def test_truncated_data_file_is_refused(tmp_path: Path) -> None:
    source = _write_small(tmp_path)
    last = max(TFCheckpoint(source).entries.values(), key=lambda entry: entry.offset).name
    data = tmp_path / "model-5.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-10])
    # Refused even though the truncated tail is an optimizer slot that would be skipped.
    _refusal(tmp_path, source, "model-5.data-00000-of-00001", "truncated", repr(last))


def test_corrupt_data_file_is_refused_by_crc(tmp_path: Path) -> None:
    source = _write_small(tmp_path)
    entry = TFCheckpoint(source).entries["encoder/fc1/dense/kernel"]
    data = tmp_path / "model-5.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 5] ^= 0x01
    data.write_bytes(bytes(raw))
    _refusal(tmp_path, source, "CRC32C mismatch", "'encoder/fc1/dense/kernel'", "model-5.data-00000-of-00001")


def test_missing_data_file_is_refused(tmp_path: Path) -> None:
    source = _write_small(tmp_path)
    (tmp_path / "model-5.data-00000-of-00001").unlink()
    _refusal(tmp_path, source, "model-5.data-00000-of-00001", "not found")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_index_is_refused(tmp_path: Path, damage: str) -> None:
    source = _write_small(tmp_path)
    index = tmp_path / "model-5.index"
    raw = bytearray(index.read_bytes())
    if damage == "flip":
        raw[20] ^= 0x40
    else:
        raw = raw[: len(raw) // 2]
    index.write_bytes(bytes(raw))
    _refusal(tmp_path, source, "model-5.index", "corrupt" if damage == "flip" else "bad magic")


def test_v1_checkpoint_is_refused(tmp_path: Path) -> None:
    # A V1 checkpoint is one table file at the prefix itself, without .index/.data files.
    write_checkpoint(tmp_path / "v1", {"a": np.zeros(2, np.float32)})
    (tmp_path / "v1.index").rename(tmp_path / "model.ckpt-30")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "/data/run/model.ckpt-30"\n')
    _refusal(tmp_path, tmp_path, "model.ckpt-30", "V1 checkpoint")


def test_directory_without_state_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _refusal(tmp_path, tmp_path / "empty", "empty", "without a 'checkpoint' file")


def test_missing_checkpoint_is_refused(tmp_path: Path) -> None:
    _refusal(tmp_path, tmp_path / "model-99", "model-99.index not found")


def test_not_a_dualposenet_checkpoint_is_refused(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "other", {"resnet/conv1/kernel": np.zeros((3, 3), np.float32)})
    _refusal(tmp_path, tmp_path / "other", "not a DualPoseNet checkpoint", "other.index")


def test_cli_prints_one_clear_error(tmp_path: Path) -> None:
    source = _write_small(tmp_path, lambda a: a.pop("implicit_decoder/conv2/conv1d/kernel"))
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    result = subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", "import-tf", str(source), "--out",
                             str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'implicit_decoder/conv2/conv1d/kernel'" in lines[0] and "model-5.index" in lines[0]


def test_import_benchmark_measures_a_checkpoint_of_the_official_layout(tmp_path: Path) -> None:
    from dualposenet_ros.benchmarks.import_benchmark import measure_import

    row = measure_import(SMALL, tmp_path)
    parameters = DualPoseNet(SMALL).count_parameters()
    assert row["parameters"] == parameters and row["variables"] == len(weight_map(SMALL))
    assert row["data_bytes"] == 4 * parameters  # float32, nothing else in the file
    assert row["peak_bytes"] >= row["baseline_bytes"] > 0 and row["seconds"] > 0
    assert (tmp_path / "imported.safetensors").is_file()


def test_benchmark_import_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dualposenet_ros.cli import main

    assert main(["benchmark", "--import", "compact", "--json", str(tmp_path / "import.json")]) == 0
    printed = capsys.readouterr().out
    assert "import-tf of a compact-size TensorFlow checkpoint (2.5 M parameters, 75 variables" in printed
    row = json.loads((tmp_path / "import.json").read_text())["import_tf"]
    assert row["preset"] == "compact" and row["parameters"] == 2_454_509 and row["data_bytes"] == 4 * 2_454_509


def test_corrupt_entries_behind_valid_block_checksums_are_refused_cleanly(tmp_path: Path) -> None:
    """A crafted index (entry bytes changed, block CRC recomputed) gives TFCheckpointError, never a crash."""
    import random
    import struct

    write_checkpoint(tmp_path / "m", {f"v{i}": np.arange(i + 1, dtype=np.float32)[None] for i in range(20)})
    original = (tmp_path / "m.index").read_bytes()
    # The single data block starts at byte 0; its size is in the index block's only handle.
    _, _, position = tf_checkpoint._block_handle(original, len(original) - tf_checkpoint.FOOTER_SIZE)
    index_offset, index_size, _ = tf_checkpoint._block_handle(original, position)
    (_, handle), = tf_checkpoint._block_entries(tf_checkpoint._read_block(original, index_offset, index_size))
    offset, size, _ = tf_checkpoint._block_handle(handle, 0)
    rng, outcomes = random.Random(0), {"refused": 0, "read": 0}
    for _ in range(300):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            damaged[offset + rng.randrange(size)] = rng.randrange(256)
        crc = tf_checkpoint.mask_crc(tf_checkpoint.crc32c(bytes(damaged[offset:offset + size + 1])))
        damaged[offset + size + 1:offset + size + 5] = struct.pack("<I", crc)
        (tmp_path / "m.index").write_bytes(bytes(damaged))
        try:
            checkpoint = TFCheckpoint(tmp_path / "m")
            for name in checkpoint.entries:
                try:
                    checkpoint.read(name)
                except TFCheckpointError:
                    pass
            outcomes["read"] += 1
        except TFCheckpointError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 300
