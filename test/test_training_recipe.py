"""The paper's training recipe: REAL275 learns from CAMERA train + REAL train shuffled together,
CAMERA25 from CAMERA alone (``train --dataset``), as the original's loader does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dualposenet_ros.model.checkpoint import read_checkpoint_config
from dualposenet_ros.cli import main
from dualposenet_ros.data.instances import InstanceDataset
from dualposenet_ros.training.train import ResumableDistributedSampler, training_stores
from test_train import make_store, write_config


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _store(root: Path, dataset: str, count: int, seed: int, **kwargs) -> Path:
    """A store as ``prepare`` would write for ``dataset``'s train split."""
    make_store(root, count=count, seed=seed, **kwargs)
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dataset"] = dataset
    manifest_path.write_text(json.dumps(manifest))
    return root


@pytest.fixture()
def instances(tmp_path) -> Path:
    folder = tmp_path / "data" / "training_instances"
    _store(folder / "CAMERA25_train", "CAMERA25", count=12, seed=0)
    _store(folder / "REAL275_train", "REAL275", count=8, seed=1)
    return folder


def test_stores_of_each_dataset(instances):
    assert training_stores("REAL275", instances) == [str(instances / "CAMERA25_train"),
                                                     str(instances / "REAL275_train")]
    assert training_stores("CAMERA25", instances) == [str(instances / "CAMERA25_train")]


def test_real275_loader_yields_both_sources_shuffled_together(instances):
    dataset = InstanceDataset(training_stores("REAL275", instances))
    assert len(dataset) == 20
    assert [(source["dataset"], source["instances"]) for source in dataset.sources] == [("CAMERA25", 12),
                                                                                         ("REAL275", 8)]
    assert int(dataset[11]["source"]) == 0 and int(dataset[12]["source"]) == 1
    assert int(dataset[12]["image_index"]) == 0  # the REAL store's own first instance
    sampler = ResumableDistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True)
    sampler.set_epoch(0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler, drop_last=True)
    sources = torch.cat([batch["source"] for batch in loader]).tolist()
    assert sorted(sources) == [0] * 12 + [1] * 8  # every instance of both stores once per epoch
    assert sources != sorted(sources)  # interleaved, not one store after the other
    assert any(len(set(batch["source"].tolist())) == 2 for batch in
               torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler, drop_last=True))


def test_train_dataset_flag(instances, tmp_path, capsys):
    config = write_config(tmp_path / "tiny.yaml", batch_size=4, epochs=1)
    for dataset, expected in (("REAL275", ["CAMERA25", "REAL275"]), ("CAMERA25", ["CAMERA25"])):
        run = tmp_path / f"run_{dataset}"
        assert main(["train", "--dataset", dataset, "--instances", str(instances), "--config", str(config),
                     "--out", str(run), "--max-steps", "2", "--no-progress"]) == 0
        _, metadata = read_checkpoint_config(run / "model.safetensors")
        assert [source["dataset"] for source in metadata["sources"]] == expected
    assert "12 CAMERA25 train + 8 REAL275 train = 20 instances" in capsys.readouterr().err


def test_stores_must_agree_and_exist(instances, tmp_path, capsys):
    _store(tmp_path / "coarse", "REAL275", count=4, seed=2, resolution=8)
    with pytest.raises(ValueError, match="same --config"):
        InstanceDataset([instances / "CAMERA25_train", tmp_path / "coarse"])
    assert main(["train", "--dataset", "REAL275", "--instances", str(tmp_path / "none"), "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 2
    assert "no instance store" in capsys.readouterr().err
