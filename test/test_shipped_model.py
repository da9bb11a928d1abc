"""The shipped model keeps its measured accuracy on a synthetic set it has never seen.

The set is generated from a fixed seed and the model runs on the CPU, so the scores are pinned to
the measured values (to 0.1): a broken model, pipeline or pre-processing moves them, and so does
any change of the model's numbers that moves one instance across a threshold. Random weights of the
same architecture score 0.
"""

from __future__ import annotations

import pytest
import torch

from dualposenet_ros.model.checkpoint import load_checkpoint
from dualposenet_ros.cli import main
from dualposenet_ros.evaluation import evaluate_results, load_results
from dualposenet_ros.models import default_checkpoint
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.inference.pipeline import PoseEstimator
from dualposenet_ros.research.phases import run_phase

MEASURED = {"3D25": 97.1, "3D50": 90.7, "3D75": 73.8, "5deg2cm": 48.3, "5deg5cm": 49.3, "10deg2cm": 74.0,
            "10deg5cm": 80.1}
"""mAP (%) of the shipped model on the fresh set (seed 20261124, 16 images, 84 instances), rounded to 0.1.
Measured with 1 and with 2 threads, the set generated in each setting: the same values to every digit
(the poses of the two runs differ by at most 6e-7), and turning every pose by 0.01 degrees, moving it
by 0.01 mm and scaling it by 1e-4 (random directions, ten draws) leaves every value unchanged, so the
pin holds for far larger differences than a CPU's rounding. Command (n = 1, 2):
``dualposenet synth --out fresh --train-scenes 0 --val-scenes 8 --images-per-scene 2 --seed 20261124
--workers 2 --quiet; OMP_NUM_THREADS=n dualposenet test --data fresh --dataset CAMERA25 --device cpu
--out out_n --evaluate``."""
PINNED = 0.05
"""Half of the 0.1 the values are rounded to."""
RANDOM_AT_MOST = 5.0
"""Random weights of the same architecture (seed 0) measured 0.0 on every metric."""


@pytest.fixture(scope="module")
def fresh_set(tmp_path_factory: pytest.TempPathFactory):
    """Eight scenes the model never saw (a seed training never used)."""
    root = tmp_path_factory.mktemp("fresh")
    assert main(["synth", "--out", str(root), "--train-scenes", "0", "--val-scenes", "8", "--images-per-scene", "2",
                 "--seed", "20261124", "--workers", "2", "--quiet"]) == 0
    return root


def _map(estimator: PoseEstimator, data, out) -> dict[str, float]:
    summary = run_phase(estimator, data, "CAMERA25", "test", out, visualize=0)
    assert summary["images"] == 16
    return evaluate_results(*load_results(out, progress=False)).map


def test_shipped_model_loads_and_is_small():
    model, metadata = load_checkpoint(default_checkpoint())
    assert isinstance(model, DualPoseNet)
    weights = default_checkpoint().with_suffix(".safetensors")
    assert weights.stat().st_size < 25 * 2**20
    assert metadata, "the shipped checkpoint records how it was trained"


def test_shipped_model_accuracy_on_fresh_synthetic_data(fresh_set, tmp_path):
    trained = _map(PoseEstimator.from_checkpoint(None, "cpu"), fresh_set, tmp_path / "trained")
    for metric, measured in MEASURED.items():
        assert trained[metric] == pytest.approx(measured, abs=PINNED), (metric, trained)


def test_random_weights_score_nothing(fresh_set, tmp_path):
    """What the pinned values are worth: the same pipeline with random weights finds no object."""
    model, _ = load_checkpoint(default_checkpoint())
    torch.manual_seed(0)
    random_model = DualPoseNet(model.config)
    untrained = _map(PoseEstimator(random_model, "cpu"), fresh_set, tmp_path / "random")
    assert set(untrained) == set(MEASURED)
    assert all(value <= RANDOM_AT_MOST for value in untrained.values()), untrained
