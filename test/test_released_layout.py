"""The original's layout with its released segmentation files, as a researcher drops them in.

A folder laid out as the original's README says (``data/Real/test/scene_k/`` or ``data/CAMERA/val/``,
``data/segmentation_results/<REAL275|CAMERA25>/results_*.pkl`` with the released names and an
``image_path`` relative to the working folder, spelled ``data/real/...`` as in the released files) is
written from the project's own synthetic generator, run through the three test phases from that
working folder and evaluated. Files that name a missing image or cannot be read are skipped with a
counted warning; a phase that processes nothing exits non-zero.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dualposenet_ros.model.checkpoint import save_checkpoint
from dualposenet_ros.cli import main
from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.data import nocs_io
from dualposenet_ros.data.synth.writer import SynthSettings, generate_dataset
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.research.phases import PHASES

PUBLISHED = Path(__file__).parent / "fixtures" / "nocs_published"
TINY = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                   implicit_hidden=(32, 16, 8), num_points=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic val scene of three views (project layout: CAMERA/val, segmentation_results/val)."""
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, {"val": 1}, SynthSettings(seed=5, images_per_scene=3, image_size=(320, 240)),
                     progress=False)
    return root


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(path, DualPoseNet(TINY))
    return path


def write_released_layout(generated: Path, work: Path, dataset: str) -> list[str]:
    """Lay the generated images out under ``work/data`` as the original's README says and write the
    segmentation files as the released ones are: names ``results_test_scene_<k>_<iiii>.pkl`` (REAL275) or
    ``results_val_<sssss>_<iiii>.pkl`` (CAMERA25), ``image_path`` relative to ``work`` in the released
    files' lower-case spelling. Returns the file names."""
    data = work / "data"
    folder = data / "segmentation_results" / dataset
    folder.mkdir(parents=True)
    names = []
    for source in sorted((generated / "segmentation_results" / "val").glob("results_val_*.pkl")):
        scene, index = source.stem.split("_")[2:4]
        if dataset == "REAL275":
            scene_name = f"scene_{int(scene) + 1}"
            image_dir, image_path = data / "Real" / "test" / scene_name, f"data/real/test/{scene_name}/{index}"
            name = f"results_test_{scene_name}_{index}.pkl"
        else:
            image_dir, image_path = data / "CAMERA" / "val" / scene, f"data/camera/val/{scene}/{index}"
            name = f"results_val_{scene}_{index}.pkl"
        image_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("color.png", "depth.png"):
            shutil.copy(generated / "CAMERA" / "val" / scene / f"{index}_{suffix}", image_dir / f"{index}_{suffix}")
        segmentation = nocs_io.read_pickle(source)
        segmentation["image_path"] = image_path
        with open(folder / name, "wb") as handle:
            pickle.dump(segmentation, handle, protocol=2)
        names.append(name)
    shutil.copy(generated / "dataset.json", data / "dataset.json")  # the generated images' intrinsics
    return names


def test_released_layout_through_the_three_phases_and_evaluate(generated, checkpoint, tmp_path, monkeypatch,
                                                                capsys):
    work = tmp_path / "work"
    names = write_released_layout(generated, work, "REAL275")
    assert names == ["results_test_scene_1_0000.pkl", "results_test_scene_1_0001.pkl", "results_test_scene_1_0002.pkl"]
    monkeypatch.chdir(work)  # image_path is relative to the folder the command runs in; --data defaults to data
    published_keys = set(nocs_io.read_pickle(PUBLISHED / "results_test_scene_1_0000.pkl"))
    for phase in PHASES:
        out = Path("results") / phase
        assert main(["test", "--phase", phase, "--dataset", "REAL275", "--checkpoint", str(checkpoint),
                     "--out", str(out), "--device", "cpu", "--visualize", "0", "--refine-iterations", "2"]) == 0
        assert sorted(path.name for path in out.glob("*.pkl")) == names
        estimated = 0
        for name in names:
            given = nocs_io.read_pickle(Path("data/segmentation_results/REAL275") / name)
            written = nocs_io.read_pickle(out / name)
            assert set(written) == set(given) - {"pred_masks"} | {"pred_RTs", "pred_scales"}
            assert set(written) == published_keys  # interchangeable with the released predictions, key for key
            for key, value in given.items():
                if key != "pred_masks":
                    np.testing.assert_array_equal(written[key], value, err_msg=key)
            count = len(given["pred_class_ids"])
            assert written["pred_RTs"].shape == (count, 4, 4) and written["pred_scales"].shape == (count, 3)
            assert np.all(np.isfinite(written["pred_RTs"]))
            estimated += sum(not np.allclose(pose, np.eye(4)) for pose in written["pred_RTs"])
        assert estimated >= 3, "the network estimated poses (not only the identity of too-small instances)"
        capsys.readouterr()
        report = tmp_path / f"{phase}.json"
        assert main(["evaluate", str(out), "--json", str(report)]) == 0
        assert f"3 images from {out}" in capsys.readouterr().out
        assert set(json.loads(report.read_text())["mAP"]) == {"3D25", "3D50", "3D75", "5deg2cm", "5deg5cm",
                                                              "10deg2cm", "10deg5cm"}


def test_camera25_released_names_and_data_elsewhere(generated, checkpoint, tmp_path, monkeypatch):
    """CAMERA25's names; the command run from another folder with --data pointing at the layout."""
    work = tmp_path / "work"
    names = write_released_layout(generated, work, "CAMERA25")
    assert names[0] == "results_val_00000_0000.pkl"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # image_path 'data/camera/...' resolves against the parent of --data
    out = tmp_path / "out"
    assert main(["test", "--dataset", "CAMERA25", "--data", str(work / "data"), "--checkpoint", str(checkpoint),
                 "--out", str(out), "--device", "cpu", "--visualize", "0"]) == 0
    assert sorted(path.name for path in out.glob("*.pkl")) == names


def test_missing_images_and_malformed_files_are_named_and_counted(generated, checkpoint, tmp_path, monkeypatch,
                                                                   capsys, caplog):
    work = tmp_path / "work"
    names = write_released_layout(generated, work, "REAL275")
    folder = work / "data" / "segmentation_results" / "REAL275"
    (work / "data" / "Real" / "test" / "scene_1" / "0001_color.png").unlink()  # names a missing image
    (folder / "results_test_scene_2_0000.pkl").write_bytes(b"not a pickle")
    incomplete = nocs_io.read_pickle(folder / names[0])
    del incomplete["pred_masks"]
    with open(folder / "results_test_scene_3_0000.pkl", "wb") as handle:
        pickle.dump(incomplete, handle)
    monkeypatch.chdir(work)
    caplog.set_level(logging.WARNING, logger="dualposenet_ros.research.phases")
    out = tmp_path / "out"
    assert main(["test", "--dataset", "REAL275", "--checkpoint", str(checkpoint), "--out", str(out),
                 "--device", "cpu", "--visualize", "0"]) == 0
    printed = capsys.readouterr().out
    assert "REAL275: 2 images" in printed
    assert "1 x image not found (first: results_test_scene_1_0001.pkl)" in printed
    assert "2 x malformed segmentation file (first: results_test_scene_2_0000.pkl)" in printed
    warned = caplog.text
    for name in ("results_test_scene_1_0001.pkl", "results_test_scene_2_0000.pkl", "results_test_scene_3_0000.pkl"):
        assert f"skipping {name}" in warned
    assert "pred_masks" in warned  # says what is wrong with the file
    assert sorted(path.name for path in out.glob("*.pkl")) == [names[0], names[2]]


def test_a_phase_that_processes_no_image_exits_non_zero(generated, checkpoint, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    write_released_layout(generated, work, "REAL275")
    monkeypatch.chdir(work)
    common = ["--checkpoint", str(checkpoint), "--device", "cpu", "--visualize", "0", "--out", str(tmp_path / "o")]
    # Every image missing (as when the images sit in another folder than image_path says).
    shutil.rmtree(work / "data" / "Real")
    assert main(["test", "--dataset", "REAL275", *common]) == 1
    error = capsys.readouterr().err
    assert "no image processed: all 3 segmentation files were skipped: 3 x image not found" in error
    # No segmentation files at all.
    assert main(["test", "--dataset", "CAMERA25", *common]) == 1
    assert "no image processed: no segmentation folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["test", "--dataset", "REAL275", "--segmentation", str(empty), *common]) == 1
    assert f"no results_*.pkl files in {empty}" in capsys.readouterr().err


def test_image_path_spellings(tmp_path):
    """image_path as the released files spell it (real/, camera/) or as the README lays data out (Real/, CAMERA/),
    relative to the working folder, the data root or its parent."""
    for folder in ("Real/test/scene_1", "camera/val/00000"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        (tmp_path / "data" / folder / "0000_color.png").touch()
    bases = (tmp_path / "cwd", tmp_path / "data", tmp_path)
    found = nocs_io.find_image_prefix("data/real/test/scene_1/0000", bases)
    assert found == tmp_path / "data" / "Real" / "test" / "scene_1" / "0000"
    assert nocs_io.find_image_prefix("Real/test/scene_1/0000", bases) == found
    assert nocs_io.find_image_prefix("data/CAMERA/val/00000/0000", bases) == \
        tmp_path / "data" / "camera" / "val" / "00000" / "0000"
    assert nocs_io.find_image_prefix("data/real/test/scene_2/0000", bases) is None
    candidates = nocs_io.image_prefix_candidates("data/real/test/scene_2/0000", bases)
    assert candidates[0] == tmp_path / "cwd" / "data" / "real" / "test" / "scene_2" / "0000"
    # 3 bases x 2 spellings, with and without the leading 'data/'; base/data/real... comes twice, once kept
    assert len(candidates) == 10
    # A dataset root named otherwise (here NOCS/): image_path from its dataset folder on, relative to --data.
    (tmp_path / "NOCS" / "Real" / "test" / "scene_4").mkdir(parents=True)
    (tmp_path / "NOCS" / "Real" / "test" / "scene_4" / "0004_color.png").touch()
    assert nocs_io.find_image_prefix("data/real/test/scene_4/0004", (tmp_path / "cwd", tmp_path / "NOCS")) == \
        tmp_path / "NOCS" / "Real" / "test" / "scene_4" / "0004"


def test_dataset_folders_in_the_original_scripts_spelling(tmp_path):
    """The original's preparation script reads data/camera and data/real: those folders are found too."""
    for folder in ("camera/train/00000", "real/train/scene_1"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "0000_color.png").touch()
    camera = list(nocs_io.iter_image_records(tmp_path, "CAMERA/train"))
    real = list(nocs_io.iter_image_records(tmp_path, "Real/train"))
    assert [record.color for record in camera + real] == [tmp_path / "camera/train/00000/0000_color.png",
                                                          tmp_path / "real/train/scene_1/0000_color.png"]
    assert real[0].results_name == "results_real_train_scene_1_0000.pkl"
    with pytest.raises(FileNotFoundError, match="CAMERA/val or camera/val"):
        list(nocs_io.iter_image_records(tmp_path, "CAMERA/val"))
