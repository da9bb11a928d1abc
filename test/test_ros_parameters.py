"""Parameters: one list, documented in config/dualposenet.yaml with the same defaults, validated at
start with messages that name the parameter, estimator settings changeable at run time."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ros_node_support import in_process_node, write_tiny_checkpoint
from ros_support import require_rclpy

CONFIG = Path(__file__).resolve().parents[1] / "config" / "dualposenet.yaml"


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_config_file_lists_every_parameter_with_its_default():
    from dualposenet_ros.ros.parameters import specs

    document = yaml.safe_load(CONFIG.read_text())
    (node_key,) = document
    assert node_key == "/**/dualposenet"
    values = dict(_flatten(document[node_key]["ros__parameters"]))
    defaults = {spec.name: spec.default for spec in specs()}
    assert values.keys() == defaults.keys()
    for name, default in defaults.items():
        assert values[name] == default and type(values[name]) is type(default), name


def test_estimator_defaults_are_the_pipeline_defaults():
    from dualposenet_ros.pipeline import EstimatorSettings
    from dualposenet_ros.ros.parameters import estimator_settings, specs

    assert estimator_settings({spec.name: spec.default for spec in specs()}) == EstimatorSettings()


def _values(**changes):
    from dualposenet_ros.ros.parameters import specs

    values = {spec.name: spec.default for spec in specs()}
    values.update({name.replace("__", "."): value for name, value in changes.items()})
    return values


def test_defaults_validate():
    from dualposenet_ros.ros.parameters import validate

    config = validate(_values())
    assert (config.checkpoint, config.device, config.sync_mode, config.qos_reliability) == (None, "auto", "exact", "best_effort")


def test_every_problem_is_listed_by_name():
    from dualposenet_ros.ros.parameters import ParameterError, validate

    bad = _values(device="gpu", sync__mode="nearest", sync__slop=0.0, sync__queue_size=0, qos__reliability="lossy",
                  qos__depth=0, frame_prefix="/abs", marker_lifetime=-1.0, max_image_pixels=0, refine__mode="both",
                  min_points=-1, passes=0, refine__feature__learning_rate=0.0, warning_period=0.0,
                  checkpoint="/nonexistent/model")
    with pytest.raises(ParameterError) as error:
        validate(bad)
    message = str(error.value)
    for text in ["device must be auto, cpu, cuda or cuda:N, got 'gpu'", "sync.mode must be exact or approximate",
                 "sync.slop must be > 0", "sync.queue_size must be >= 1", "qos.reliability", "qos.depth",
                 "frame_prefix '/abs'", "marker_lifetime", "max_image_pixels", "unknown refine mode 'both'",
                 "min_points must be >= 0", "passes must be >= 1", "refine.feature.learning_rate must be > 0",
                 "warning_period", "checkpoint '/nonexistent/model' not found"]:
        assert text in message


def test_valid_variants(tmp_path):
    from dualposenet_ros.ros.parameters import validate

    stem = write_tiny_checkpoint(tmp_path / "tiny")
    config = validate(_values(device="cuda:1", sync__mode="approximate", qos__reliability="reliable",
                              checkpoint=str(stem)))
    assert (config.device, config.sync_mode, config.qos_reliability, config.checkpoint) == (
        "cuda:1", "approximate", "reliable", str(stem))


def test_node_rejects_bad_values_and_wrong_types_at_start(rclpy_context):
    require_rclpy()
    from dualposenet_ros.ros.parameters import ParameterError

    with pytest.raises(ParameterError, match="sync.slop must be a floating-point number"):
        in_process_node(rclpy_context, {"sync.slop": 1})
    with pytest.raises(ParameterError, match="refine.mode: unknown refine mode 'fast'"):
        in_process_node(rclpy_context, {"refine.mode": "fast"})


def test_runtime_changes_of_estimator_settings(rclpy_context):
    require_rclpy()
    from rclpy.parameter import Parameter

    from dualposenet_ros.estimates import RefineMode

    node = in_process_node(rclpy_context, {"refine.mode": "encoder", "min_points": 10})
    try:
        assert node.settings.refine is RefineMode.ENCODER and node.settings.min_points == 10
        assert node.estimator.settings is node.settings
        (result,) = node.set_parameters([Parameter("refine.mode", value="feature")])
        assert result.successful and node.settings.refine is RefineMode.FEATURE
        (result,) = node.set_parameters([Parameter("refine.mode", value="sideways")])
        assert not result.successful and "unknown refine mode 'sideways'" in result.reason
        assert node.settings.refine is RefineMode.FEATURE
        (result,) = node.set_parameters([Parameter("refine.feature.learning_rate", value=-1.0)])
        assert not result.successful and "refine.feature.learning_rate must be > 0" in result.reason
        (result,) = node.set_parameters([Parameter("refine.feature.learning_rate", value=1)])  # int for a double
        assert result.successful and node.settings.refine_feature.learning_rate == 1.0
        (result,) = node.set_parameters([Parameter("sync.mode", value="approximate")])
        assert not result.successful and "read-only" in result.reason
    finally:
        node.destroy_node()
