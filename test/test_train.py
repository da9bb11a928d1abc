"""Training loop: instance store round trip, overfitting a tiny batch, exact resume, DDP on gloo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from dualposenet_ros.data.instances import InstanceDataset, InstanceStore, InstanceWriter, field_specs
from dualposenet_ros.model.preprocess import centre, spherical_maps
from dualposenet_ros.core.rotations import matrix_to_quaternion_np
from dualposenet_ros.core.config import load_config
from dualposenet_ros.training.train import METRICS_FILE, STATE_FILE, TrainOptions, learning_rate, train

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = {
    "resolution": 16,
    "filters": [4, 4, 4, 4, 4, 4, 4, 4],
    "feature_dim": 32,
    "head_hidden": [32, 16],
    "implicit_hidden": [32, 16, 16],
    "num_points": 64,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_store(root: Path, count: int, resolution: int = 16, num_points: int = 64, chunk_size: int = 5,
               seed: int = 0) -> None:
    """Instances of random boxes with consistent targets (q = R^T (p - t) / s)."""
    rng = np.random.default_rng(seed)
    with InstanceWriter(root, resolution, num_points, chunk_size, dataset="TEST", split="train") as writer:
        for index in range(count):
            rotation = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
            extents = rng.uniform(0.3, 1.0, 3)
            extents /= np.linalg.norm(extents)
            scale = rng.uniform(0.1, 0.3)
            canonical = (rng.random((400, 3)) - 0.5) * extents
            offset = rng.normal(0, 0.3, 3)
            points = scale * canonical @ rotation.T + offset
            centred, centroid = centre(points)
            colors = np.repeat(rng.uniform(-0.4, 0.4, (1, 3)), 400, axis=0).astype(np.float32)
            distance, rgb = spherical_maps(centred, colors, resolution)
            sample = rng.choice(400, num_points, replace=False)
            writer.add_image(f"CAMERA/train/00000/{index:04d}")
            writer.add({"distance": distance, "rgb": rgb, "points": centred[sample], "canonical": canonical[sample],
                        "quaternion": matrix_to_quaternion_np(rotation.T),
                        "translation": offset - centroid, "size": scale * extents, "centroid": centroid,
                        "class_id": 1 + index % 6,
                        "image_index": index, "instance_id": 1})


def write_config(path: Path, **train_settings) -> Path:
    import yaml

    settings = {"epochs": 100, "batch_size": 4, "lr": 3e-3, "workers": 0, "log_every": 1}
    settings.update(train_settings)
    path.write_text(yaml.safe_dump({"model": TINY_MODEL, "train": settings}), encoding="utf-8")
    return path


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines() if line.strip()]


def test_store_round_trip_across_chunks(tmp_path):
    make_store(tmp_path / "store", count=12, chunk_size=5)  # chunks of 5, 5, 2
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["count"] == 12
    assert [chunk["count"] for chunk in manifest["chunks"]] == [5, 5, 2]
    assert (tmp_path / "store" / "chunk_00001" / "points.npy").is_file()
    mapped = np.load(tmp_path / "store" / "chunk_00001" / "points.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.shape == (5, 64, 3)

    store = InstanceStore(tmp_path / "store")
    assert len(store) == 12 and len(store.images()) == 12
    for index in (0, 4, 5, 9, 10, 11, -1):
        item = store[index]
        expected = index % 12
        assert int(item["image_index"]) == expected  # provenance survives chunk boundaries
        assert int(item["class_id"]) == 1 + expected % 6
    with pytest.raises(IndexError):
        store[12]

    dataset = InstanceDataset(tmp_path / "store")
    assert len(dataset) == 12
    sample = dataset[10]
    assert sample["distance_map"].shape == (1, 16, 16) and sample["rgb_map"].shape == (3, 16, 16)
    assert sample["points"].shape == (64, 3) and sample["canonical_points"].shape == (64, 3)
    assert sample["quaternion"].shape == (4,) and sample["size"].shape == (3,)
    assert sample["distance_map"].dtype == torch.float32
    # (n, n, 1) storage -> (1, n, n) network layout, [azimuth, polar] preserved.
    raw = np.load(tmp_path / "store" / "chunk_00002" / "distance.npy")[0]
    assert np.array_equal(sample["distance_map"][0].numpy(), raw[..., 0].astype(np.float32))
    rgb_raw = np.load(tmp_path / "store" / "chunk_00002" / "rgb.npy")[0]
    assert np.array_equal(sample["rgb_map"].permute(1, 2, 0).numpy(), rgb_raw.astype(np.float32))

    # Optional colour jitter: RGB map only, empty cells stay empty, reproducible per (seed, epoch, index).
    from dualposenet_ros.data.instances import ColorJitter

    jittered = InstanceDataset(tmp_path / "store", augment=ColorJitter(), seed=3)
    a, b = jittered[10], jittered[10]
    assert torch.equal(a["rgb_map"], b["rgb_map"]) and not torch.equal(a["rgb_map"], sample["rgb_map"])
    assert torch.equal(a["distance_map"], sample["distance_map"]) and torch.equal(a["points"], sample["points"])
    assert torch.all(a["rgb_map"][:, sample["distance_map"][0] == 0] == 0)
    jittered.set_epoch(1)
    assert not torch.equal(jittered[10]["rgb_map"], a["rgb_map"])

    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=2)
    batches = list(loader)
    assert [len(b["class_id"]) for b in batches] == [5, 5, 2]
    assert torch.equal(torch.cat([b["image_index"] for b in batches]), torch.arange(12))

    # An unfinished writer leaves an incomplete store the dataset refuses by default.
    writer = InstanceWriter(tmp_path / "partial", 16, 64, chunk_size=5)
    with pytest.raises(ValueError, match="incomplete"):
        InstanceDataset(tmp_path / "partial")
    with pytest.raises(FileExistsError):
        InstanceWriter(tmp_path / "store", 16, 64)
    with pytest.raises(ValueError, match="shape"):
        writer.add({name: np.zeros(shape, dtype) for name, (dtype, shape) in field_specs(8, 64).items()})


def test_schedule_and_presets():
    model, train_cfg, _ = load_config("paper")
    assert model.resolution == 64 and train_cfg["batch_size"] == 64 and train_cfg["epochs"] == 30
    assert learning_rate(39_999, train_cfg) == pytest.approx(1e-4)
    assert learning_rate(40_000, train_cfg) == pytest.approx(5e-5)
    assert learning_rate(10**7, train_cfg) == pytest.approx(1e-6)  # floor
    compact, compact_train, _ = load_config("compact")
    assert compact.resolution == 32 and compact_train["lr_decay_steps"] > 0


def test_overfits_tiny_batch(tmp_path):
    make_store(tmp_path / "store", count=8)
    config = write_config(tmp_path / "tiny.yaml", batch_size=8, lr=3e-3)
    summary = train(TrainOptions(data=str(tmp_path / "store"), out=str(tmp_path / "run"), config=str(config),
                                 max_steps=30, progress=False))
    assert summary["step"] == 30
    losses = [entry["loss_total"] for entry in read_metrics(tmp_path / "run") if entry["kind"] == "train"]
    assert len(losses) == 30
    assert losses[-1] < 0.5 * losses[0], losses
    # The run directory is a loadable checkpoint.
    from dualposenet_ros.model.checkpoint import load_checkpoint

    model, metadata = load_checkpoint(tmp_path / "run")
    assert metadata["step"] == 30 and model.config.resolution == 16


def test_resume_is_exact(tmp_path):
    make_store(tmp_path / "store", count=14)  # batch 4, drop_last: 3 steps per epoch
    config = write_config(tmp_path / "tiny.yaml", batch_size=4, lr_decay_steps=3)
    common = dict(data=str(tmp_path / "store"), config=str(config), progress=False, seed=7)
    train(TrainOptions(out=str(tmp_path / "straight"), max_steps=7, **common))
    train(TrainOptions(out=str(tmp_path / "split"), max_steps=4, **common))  # stops inside epoch 2
    state = torch.load(tmp_path / "split" / STATE_FILE, weights_only=True)
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (4, 1, 1)
    train(TrainOptions(out=str(tmp_path / "split"), max_steps=7, resume=True, **common))

    straight = {e["step"]: e for e in read_metrics(tmp_path / "straight") if e["kind"] == "train"}
    split = {e["step"]: e for e in read_metrics(tmp_path / "split") if e["kind"] == "train"}
    assert sorted(split) == list(range(1, 8))
    for step in range(1, 8):
        assert split[step]["loss_total"] == straight[step]["loss_total"], step
        assert split[step]["lr"] == straight[step]["lr"]
    assert straight[5]["lr"] == pytest.approx(3e-3 * 0.5)  # staircase every 3 steps
    from dualposenet_ros.model.checkpoint import read_weights

    a, b = read_weights(tmp_path / "straight"), read_weights(tmp_path / "split")
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_resume_refuses_other_data(tmp_path):
    """Resuming on other stores would silently change the sampler's position and what the run learns."""
    make_store(tmp_path / "store", count=8)
    make_store(tmp_path / "other", count=12, seed=1)
    config = write_config(tmp_path / "tiny.yaml", batch_size=4)
    common = dict(config=str(config), progress=False, out=str(tmp_path / "run"))
    train(TrainOptions(data=str(tmp_path / "store"), max_steps=1, **common))
    with pytest.raises(ValueError, match="--resume: the run was trained on"):
        train(TrainOptions(data=str(tmp_path / "other"), max_steps=2, resume=True, **common))
    train(TrainOptions(data=str(tmp_path / "store"), max_steps=2, resume=True, **common))  # the same data resumes


def test_validation_loss_logged(tmp_path):
    make_store(tmp_path / "store", count=8)
    make_store(tmp_path / "val", count=6, seed=1)
    config = write_config(tmp_path / "tiny.yaml", batch_size=4, epochs=1)
    train(TrainOptions(data=str(tmp_path / "store"), val_data=str(tmp_path / "val"), out=str(tmp_path / "run"),
                       config=str(config), progress=False))
    entries = read_metrics(tmp_path / "run")
    val = [e for e in entries if e["kind"] == "val"]
    assert len(val) == 1 and val[0]["epoch"] == 1 and np.isfinite(val[0]["val_total"])
    assert (tmp_path / "run" / "checkpoints" / "epoch_0001.safetensors").is_file()


def test_time_limit_stops_resumably_and_the_loss_plot_follows(tmp_path):
    """A chunk that runs out of time stops after its first step with everything saved (weights, state,
    metrics, losses.png); --resume continues from there."""
    from dualposenet_ros.evaluation.training_curves import plot_training_curves
    from dualposenet_ros.training.train import PLOT_FILE

    make_store(tmp_path / "store", count=14)
    make_store(tmp_path / "val", count=6, seed=1)
    config = write_config(tmp_path / "tiny.yaml", batch_size=4, epochs=2)
    common = dict(data=str(tmp_path / "store"), val_data=str(tmp_path / "val"), out=str(tmp_path / "run"),
                  config=str(config), progress=False)
    first = train(TrainOptions(time_limit_minutes=0.0, **common))
    assert first["step"] == 1
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)
    assert (state["step"], state["batch_in_epoch"]) == (1, 1)
    plot = tmp_path / "run" / PLOT_FILE
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    second = train(TrainOptions(resume=True, **common))
    assert second["step"] == 6  # 3 steps per epoch, 2 epochs
    kinds = [entry["kind"] for entry in read_metrics(tmp_path / "run")]
    assert kinds.count("val") == 2 and kinds.count("train") == 6
    assert plot.stat().st_size > 0
    (tmp_path / "empty.jsonl").write_text("")
    assert not plot_training_curves(tmp_path / "empty.jsonl", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_init_starts_from_given_weights_with_a_fresh_optimiser(tmp_path):
    from dualposenet_ros.model.checkpoint import read_checkpoint_config, read_weights
    from dualposenet_ros.cli import main

    make_store(tmp_path / "store", count=8)
    config = write_config(tmp_path / "tiny.yaml", batch_size=4, lr=0.0, lr_min=0.0)
    train(TrainOptions(data=str(tmp_path / "store"), out=str(tmp_path / "base"), config=str(config), max_steps=2,
                       progress=False))
    train(TrainOptions(data=str(tmp_path / "store"), out=str(tmp_path / "tuned"), config=str(config), max_steps=1,
                       progress=False, init=str(tmp_path / "base")))
    base, tuned = read_weights(tmp_path / "base"), read_weights(tmp_path / "tuned")
    assert all(torch.equal(base[key], tuned[key]) for key in base)  # lr 0: the weights it started from
    _, metadata = read_checkpoint_config(tmp_path / "tuned")
    assert metadata["step"] == 1 and metadata["init"] == str(tmp_path / "base")
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("feature_dim: 32", "feature_dim: 16"))
    assert main(["train", "--data", str(tmp_path / "store"), "--out", str(tmp_path / "bad"), "--config", str(other),
                 "--init", str(tmp_path / "base"), "--max-steps", "1", "--no-progress"]) == 2


def test_ddp_two_processes_gloo(tmp_path):
    """torchrun with 2 CPU processes (gloo): same global batch, rank-0-only outputs."""
    make_store(tmp_path / "store", count=8)
    config = write_config(tmp_path / "tiny.yaml", batch_size=4)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "dualposenet_ros.cli", "train", "--data", str(tmp_path / "store"), "--config", str(config),
         "--out", str(tmp_path / "run"), "--max-steps", "2", "--no-progress", "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=600)  # a guard against a hang, not a speed bound
    assert result.returncode == 0, result.stderr[-3000:]
    entries = [e for e in read_metrics(tmp_path / "run") if e["kind"] == "train"]
    assert [e["step"] for e in entries] == [1, 2]  # one writer only
    assert "2 process(es)" in result.stderr
    assert torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)["step"] == 2
    print(f"2-process gloo run: {time.perf_counter() - start:.1f} s")
