"""The research path end to end through the ``dualposenet`` command: synth -> test -> evaluate."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from dualposenet_ros.model.checkpoint import save_checkpoint
from dualposenet_ros.cli import COMMANDS, main
from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.data import nocs_io
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.research.phases import PHASES


def test_every_command_has_help():
    for name in COMMANDS:
        result = subprocess.run([sys.executable, "-m", "dualposenet_ros.cli", name, "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"dualposenet {name}" in result.stdout


def test_synth_test_evaluate(tmp_path, capsys):
    data, results = tmp_path / "synth", tmp_path / "results"
    assert main(["synth", "--out", str(data), "--train-scenes", "0", "--val-scenes", "1", "--images-per-scene", "2",
                 "--image-size", "320x240", "--workers", "1", "--quiet"]) == 0
    torch.manual_seed(0)
    checkpoint = tmp_path / "model"
    tiny = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                       implicit_hidden=(32, 16, 8), num_points=64)
    save_checkpoint(checkpoint, DualPoseNet(tiny))
    for phase in PHASES:
        out = results / phase
        assert main(["test", "--phase", phase, "--dataset", "CAMERA25", "--data", str(data), "--checkpoint",
                     str(checkpoint), "--out", str(out), "--device", "cpu", "--visualize", "1"]) == 0
        files = sorted(out.glob("results_val_*.pkl"))
        assert len(files) == 2
        for path in files:
            result = nocs_io.load_results(path, kind="pose")
            assert result["pred_RTs"].shape == (len(result["pred_class_ids"]), 4, 4)
            gt = nocs_io.load_results(data / "gts" / "val" / path.name, kind="gt")
            assert len(result["pred_class_ids"]) > 0 and len(gt["gt_class_ids"]) > 0
        assert len(list((out / "pictures").glob("*.png"))) == 1

    report, plot = tmp_path / "map.json", tmp_path / "ap.png"
    assert main(["evaluate", str(results / "test"), "--json", str(report), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "IoU50" in table and "mAP" in table
    metrics = json.loads(report.read_text())
    keys = {"3D25", "3D50", "3D75", "5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm"}
    assert set(metrics["mAP"]) == keys
    assert all(set(values) == keys for values in metrics["per_class"].values())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
