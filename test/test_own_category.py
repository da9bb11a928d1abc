"""A category of one's own, end to end at toy size (docs/own_category.md at full size): mesh files
(OBJ, PLY, GLB written with trimesh) -> ``dualposenet synth`` -> ``prepare`` -> ``train`` -> a
checkpoint that carries its category names -> the test phase and the node's class map use them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")

from dualposenet_ros.core.categories import NOCS_CATEGORIES, Category, CategorySet, categories_from_metadata  # noqa: E402
from dualposenet_ros.cli import main  # noqa: E402

TOY_MODEL = {"resolution": 16, "filters": [4, 4, 8, 8, 8, 8, 8, 8], "feature_dim": 32, "head_hidden": [32, 16],
             "implicit_hidden": [32, 16, 8], "num_points": 64}


def _toy_config(path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"model": TOY_MODEL, "train": {"epochs": 1, "batch_size": 2, "workers": 0}}))
    return path


def _write_meshes(folder: Path) -> None:
    """Three shapes of a made-up category 'gadget' (a box with a knob), one per file type."""
    folder.mkdir(parents=True)
    for index, suffix in enumerate((".obj", ".ply", ".glb")):
        body = trimesh.creation.box(extents=(1.0 + 0.2 * index, 0.6, 0.5))
        knob = trimesh.creation.cylinder(radius=0.15, height=0.4, sections=24)
        knob.apply_translation((0.35, 0.45, 0.0))
        mesh = trimesh.util.concatenate([body, knob])
        mesh.apply_translation((0.0, 0.3, 0.0))  # standing on y = 0, y up
        mesh.export(folder / f"gadget_{index}{suffix}")


def test_category_sets_round_trip_and_refuse_bad_names():
    own = CategorySet((Category("gadget"), Category("tin", "y")))
    assert CategorySet.from_json(own.to_json()) == own
    assert categories_from_metadata({"categories": own.to_json()}) == own
    assert categories_from_metadata({}) is NOCS_CATEGORIES
    assert own.is_symmetric(2) and not own.is_symmetric(1) and own.name(2) == "tin" and 3 not in own
    assert NOCS_CATEGORIES.is_symmetric(6, handle_visible=False) and not NOCS_CATEGORIES.is_symmetric(6)
    with pytest.raises(ValueError, match="no blanks"):
        Category("coffee cup")
    with pytest.raises(ValueError, match="symmetry"):
        Category("gadget", "x")
    with pytest.raises(ValueError, match="unique"):
        CategorySet((Category("a"), Category("a")))


def test_mesh_folder_errors_are_clear(tmp_path):
    from dualposenet_ros.data.synth.mesh_files import MeshCategory, read_mesh

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no mesh file"):
        MeshCategory("gadget", "none", str(tmp_path / "empty")).meshes()
    (tmp_path / "broken.obj").write_text("this is not a mesh\n")
    with pytest.raises(ValueError, match="broken.obj"):
        read_mesh(tmp_path / "broken.obj")
    assert main(["synth", "--out", str(tmp_path / "x"), "--meshes", str(tmp_path / "empty"), "--quiet"]) == 2


def test_own_category_synth_prepare_train_test_and_node_class_map(tmp_path, capsys):
    meshes, data, store, run = tmp_path / "meshes", tmp_path / "data", tmp_path / "store", tmp_path / "run"
    toy = _toy_config(tmp_path / "toy.yaml")
    _write_meshes(meshes)
    assert main(["synth", "--out", str(data), "--train-scenes", "2", "--val-scenes", "1", "--images-per-scene", "2",
                 "--image-size", "160x120", "--workers", "1", "--quiet", "--meshes", str(meshes),
                 "--category", "gadget", "--symmetry", "none", "--size-range", "0.12", "0.2"]) == 0
    summary = json.loads((data / "dataset.json").read_text())
    assert summary["categories"] == [{"name": "gadget", "symmetry": "none"}]
    assert summary["splits"]["train"]["per_class"]["gadget"] > 0
    model_dirs = {path.parent.name for path in (data / "obj_models" / "train" / "gadget").glob("*/bbox.txt")}
    assert model_dirs and all(name.startswith("gadget_") for name in model_dirs)

    assert main(["prepare", "--data", str(data), "--dataset", "CAMERA25", "--split", "train", "--out", str(store),
                 "--config", str(toy), "--workers", "1", "--no-progress"]) == 0
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["metadata"]["categories"] == [{"name": "gadget", "symmetry": "none"}]

    assert main(["train", "--data", str(store), "--out", str(run), "--config", str(toy), "--batch-size", "2",
                 "--max-steps", "2", "--workers", "0", "--device", "cpu", "--no-progress"]) == 0
    from dualposenet_ros.model.checkpoint import read_checkpoint_config
    from dualposenet_ros.inference.pipeline import PoseEstimator

    _, metadata = read_checkpoint_config(run)
    assert metadata["categories"] == [{"name": "gadget", "symmetry": "none"}]
    estimator = PoseEstimator.from_checkpoint(run, device="cpu")
    assert estimator.categories.names == ("gadget",)

    out = tmp_path / "results"
    assert main(["test", "--dataset", "CAMERA25", "--data", str(data), "--checkpoint", str(run), "--out", str(out),
                 "--device", "cpu", "--visualize", "0"]) == 0
    from dualposenet_ros.data import nocs_io

    results = [nocs_io.load_results(path, kind="pose") for path in sorted(out.glob("results_val_*.pkl"))]
    assert results and sum(len(result["pred_class_ids"]) for result in results) > 0
    assert all(set(np.asarray(result["pred_class_ids"]).tolist()) <= {1} for result in results)
    capsys.readouterr()
    for source in (run, data):  # the categories from the checkpoint or from the dataset
        assert main(["evaluate", str(out), "--categories", str(source)]) == 0
        table = capsys.readouterr().out
        assert "gadget" in table and "bottle" not in table

    # The node's class map takes the checkpoint's categories: its own names map to themselves, the
    # default map's NOCS entries (cup: mug, ...) are left out, a user entry may name 'gadget' only.
    from dualposenet_ros.ros.parameters import ParameterError, specs, validate

    values = {spec.name: spec.default for spec in specs()}
    values["checkpoint"] = str(run)
    assert validate(values).class_map == {"gadget": 1}
    values["class_map"] = "remote: gadget"
    assert validate(values).class_map == {"gadget": 1, "remote": 1}
    values["class_map"] = "cup: mug"
    with pytest.raises(ParameterError, match="category among gadget"):
        validate(values)


def test_node_input_class_ids_follow_the_models_categories():
    """An InstanceSegmentation class id is checked against (and named by) the model's categories."""
    from dualposenet_ros.ros.segmentation_inputs import DEFAULT_CLASS_MAP, parse_class_map

    own = CategorySet((Category("gadget"), Category("tin", "y")))
    assert parse_class_map(DEFAULT_CLASS_MAP, own, skip_unknown_categories=True) == {"gadget": 1, "tin": 2}
    assert parse_class_map(DEFAULT_CLASS_MAP)["cup"] == 6


def test_the_node_names_its_outputs_with_the_models_categories(rclpy_context):
    """A model of one's own in the node: InstanceSegmentation class ids and names are the model's,
    ``~/objects`` and TF carry its category names and symmetry."""
    from ros_node_support import Probe, in_process_node, make_frame, tiny_model
    from ros_support import require_rclpy

    require_rclpy()
    from dualposenet_ros.inference.pipeline import PoseEstimator
    from dualposenet_ros.ros import parameters

    own = CategorySet((Category("gadget"), Category("tin", "y")))
    estimator = PoseEstimator(tiny_model(), device="cpu", categories=own)
    node = in_process_node(rclpy_context, {**parameters.reliable_input_overrides(), "diagnostics_period": 1000.0},
                           estimator=estimator)
    probe = Probe(rclpy_context)
    probe.executor.add_node(node)
    try:
        frame = make_frame(1.0)  # class ids 6 and 2: 6 is unknown to this model, 2 is 'tin'
        frame[3].class_names = ["", "tin"]
        result = probe.wait_for_objects(1.0, timeout=60, republish=frame)
        assert result is not None
        outputs = [(pose.category, pose.class_id, pose.rotation_symmetric) for pose in result.objects]
        assert outputs == [("tin", 2, True)]
        assert probe.spin_until(lambda: any("tin" in t.child_frame_id for t in probe.transforms), 10)
    finally:
        probe.close()
        node.destroy_node()
