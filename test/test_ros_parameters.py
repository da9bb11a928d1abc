"""Parameters: one list, documented in config/dualposenet.yaml with the same defaults; descriptors
carry descriptions and ranges; the same rules at start and at run time (an integer for a float is
accepted both times); every problem named at start; estimator settings changeable at run time;
input QoS through the standard qos_overrides parameters."""

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


def test_every_default_obeys_its_own_rule():
    from dualposenet_ros.ros.parameters import specs

    assert [(spec.name, spec.problem(spec.default)) for spec in specs() if spec.problem(spec.default)] == []


def test_estimator_defaults_are_the_pipeline_defaults():
    from dualposenet_ros.inference.pipeline import EstimatorSettings
    from dualposenet_ros.ros.parameters import NODE_REFINE_TIME_BUDGET, estimator_settings, specs

    settings = estimator_settings({spec.name: spec.default for spec in specs()})
    # The one node-specific default: a frame may not refine for ever (the CLI default is no limit).
    assert settings == EstimatorSettings(refine_time_budget=NODE_REFINE_TIME_BUDGET)


def _values(**changes):
    from dualposenet_ros.ros.parameters import specs

    values = {spec.name: spec.default for spec in specs()}
    values.update({name.replace("__", "."): value for name, value in changes.items()})
    return values


def test_defaults_validate():
    from dualposenet_ros.ros.parameters import validate

    config = validate(_values())
    assert (config.checkpoint, config.device, config.sync_mode) == (None, "auto", "exact")
    assert (config.depth_min, config.depth_max, config.max_instances) == (0.1, 10.0, 32)


def test_every_problem_is_listed_by_name():
    from dualposenet_ros.ros.parameters import ParameterError, validate

    bad = _values(device="gpu", sync__mode="nearest", sync__slop=0.0, sync__queue_size=0, frame_prefix="//abs",
                  marker_lifetime=-1.0, max_image_pixels=0, refine__mode="both", min_points=-1, passes=0,
                  refine__feature__learning_rate=0.0, warning_period=0.0, seed=-1, refine__encoder__iterations=20000,
                  refine__feature__threshold=float("nan"), max_instances=0, refine__time_budget=-1.0,
                  checkpoint="/nonexistent/model", threads=-1)
    with pytest.raises(ParameterError) as error:
        validate(bad)
    message = str(error.value)
    for text in ["device must be auto, cpu, cuda or cuda:N, got 'gpu'", "sync.mode must be exact or approximate",
                 "sync.slop must be in [1e-06, 10]", "sync.queue_size must be in [1, 1000]", "frame_prefix may only "
                 "contain letters, digits and _ . / - (and not start with '//'), got '//abs'", "marker_lifetime",
                 "max_image_pixels", "refine.mode must be none or encoder or feature, got 'both'",
                 "min_points must be in [0, 1e+06]", "passes must be in [1, 10]",
                 "refine.feature.learning_rate must be in [1e-09, 1]", "warning_period", "seed must be in [0, ",
                 "refine.encoder.iterations must be in [0, 1000], got 20000", "refine.feature.threshold must be a "
                 "finite number", "max_instances must be in [1, 1000]", "refine.time_budget must be in [0, 3600]",
                 "checkpoint '/nonexistent/model' not found", "threads must be in [0, 1024], got -1"]:
        assert text in message, text


def test_frame_prefix_is_resolved_in_the_namespace_like_a_topic_name():
    """Two nodes in two namespaces publish distinct TF frames by default; '/' opts out."""
    from dualposenet_ros.ros.parameters import resolved_frame_prefix, validate

    assert validate(_values(frame_prefix="/dualposenet/")).frame_prefix == "/dualposenet/"
    assert [resolved_frame_prefix("dualposenet/", namespace) for namespace in ("/", "/left", "/robot/right/")] == [
        "dualposenet/", "left/dualposenet/", "robot/right/dualposenet/"]
    assert resolved_frame_prefix("", "/left") == "left/"
    assert [resolved_frame_prefix(prefix, "/left") for prefix in ("/dualposenet/", "/", "/obj_")] == [
        "dualposenet/", "", "obj_"]


def test_depth_range_must_be_ordered():
    from dualposenet_ros.ros.parameters import ParameterError, validate

    with pytest.raises(ParameterError, match=r"depth.min \(5\) must be smaller than depth.max \(2\)"):
        validate(_values(depth__min=5.0, depth__max=2.0))


def test_valid_variants(tmp_path):
    from dualposenet_ros.ros.parameters import validate

    stem = write_tiny_checkpoint(tmp_path / "tiny")
    config = validate(_values(device="cuda:1", sync__mode="approximate", checkpoint=str(stem), inlier_radius=1))
    assert (config.device, config.sync_mode, config.checkpoint) == ("cuda:1", "approximate", str(stem))


def test_descriptors_carry_description_and_range():
    require_rclpy()
    from dualposenet_ros.ros.parameters import specs

    table = {spec.name: spec for spec in specs()}
    seed = table["seed"].descriptor()
    assert seed.description.startswith("Seed") and (seed.integer_range[0].from_value, seed.read_only) == (0, False)
    rate = table["refine.feature.learning_rate"].descriptor()
    assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) == (1e-9, 1.0)
    assert table["refine.mode"].descriptor().additional_constraints == "one of: none, encoder, feature"
    assert table["sync.mode"].descriptor().read_only


def test_node_describes_its_parameters_with_ranges(rclpy_context):
    """What ``ros2 param describe`` shows comes from the node's stored descriptors."""
    require_rclpy()
    node = in_process_node(rclpy_context)
    try:
        iterations = node.describe_parameter("refine.encoder.iterations")
        assert (iterations.integer_range[0].from_value, iterations.integer_range[0].to_value) == (0, 1000)
        assert "encoder refinement" in iterations.description
        depth_max = node.describe_parameter("depth.max")
        assert depth_max.floating_point_range[0].to_value == 1000.0 and depth_max.read_only
    finally:
        node.destroy_node()


def test_node_rejects_bad_values_and_wrong_types_at_start(rclpy_context):
    require_rclpy()
    from dualposenet_ros.ros.parameters import ParameterError

    with pytest.raises(ParameterError, match="sync.slop must be a number, got 'wide'"):
        in_process_node(rclpy_context, {"sync.slop": "wide"})
    with pytest.raises(ParameterError, match="refine.mode must be none or encoder or feature, got 'fast'"):
        in_process_node(rclpy_context, {"refine.mode": "fast"})
    with pytest.raises(ParameterError, match="seed must be in"):
        in_process_node(rclpy_context, {"seed": -1})


def test_an_integer_for_a_float_is_accepted_at_start_and_at_run_time(rclpy_context):
    require_rclpy()
    from rclpy.parameter import Parameter

    node = in_process_node(rclpy_context, {"inlier_radius": 1, "sync.slop": 1})
    try:
        assert node.get_parameter("inlier_radius").value == 1.0 and node.settings.inlier_radius == 1.0
        assert node.config.sync_slop == 1.0
        (result,) = node.set_parameters([Parameter("inlier_radius", value=2)])
        assert result.successful and node.settings.inlier_radius == 2.0
    finally:
        node.destroy_node()


def test_the_same_ranges_apply_at_run_time(rclpy_context):
    require_rclpy()
    from rclpy.parameter import Parameter

    node = in_process_node(rclpy_context)
    try:
        for name, value in (("seed", -1), ("refine.encoder.iterations", 20000), ("refine.feature.learning_rate", -1.0),
                            ("refine.feature.threshold", 2.0), ("passes", 0), ("refine.time_budget", -0.5)):
            (result,) = node.set_parameters([Parameter(name, value=value)])
            assert not result.successful and name in result.reason, (name, result.reason)
        assert node.settings.seed == 0 and node.settings.refine_encoder.iterations == 10
    finally:
        node.destroy_node()


def test_runtime_changes_of_estimator_settings(rclpy_context):
    require_rclpy()
    from rclpy.parameter import Parameter

    from dualposenet_ros.core.estimates import RefineMode

    node = in_process_node(rclpy_context, {"refine.mode": "encoder", "min_points": 10})
    try:
        assert node.settings.refine is RefineMode.ENCODER and node.settings.min_points == 10
        assert node.estimator.settings is node.settings
        (result,) = node.set_parameters([Parameter("refine.mode", value="feature")])
        assert result.successful and node.settings.refine is RefineMode.FEATURE
        (result,) = node.set_parameters([Parameter("refine.mode", value="sideways")])
        assert not result.successful and "refine.mode must be none or encoder or feature" in result.reason
        assert node.settings.refine is RefineMode.FEATURE
        (result,) = node.set_parameters([Parameter("refine.time_budget", value=0.5)])
        assert result.successful and node.settings.refine_time_budget == 0.5
        (result,) = node.set_parameters([Parameter("sync.mode", value="approximate")])
        assert not result.successful and "read-only" in result.reason
    finally:
        node.destroy_node()


def test_input_qos_is_sensor_data_and_set_by_standard_qos_overrides(rclpy_context):
    require_rclpy()
    from rclpy.qos import ReliabilityPolicy

    from dualposenet_ros.ros.parameters import reliable_input_overrides

    def reliabilities(node):
        return {sub.topic_name: sub.qos_profile.reliability for sub in node.subscriptions
                if not sub.topic_name.startswith("/parameter_events")}

    node = in_process_node(rclpy_context)
    try:
        defaults = reliabilities(node)
        assert len(defaults) == 4 and set(defaults.values()) == {ReliabilityPolicy.BEST_EFFORT}
        assert node.has_parameter("qos_overrides./color/image.subscription.reliability")
        assert not node.has_parameter("qos.reliability")
    finally:
        node.destroy_node()
    node = in_process_node(rclpy_context, reliable_input_overrides())
    try:
        assert set(reliabilities(node).values()) == {ReliabilityPolicy.RELIABLE}
    finally:
        node.destroy_node()


def test_the_synthetic_camera_uses_the_same_parameter_system(rclpy_context):
    require_rclpy()
    from rclpy.parameter import Parameter

    from dualposenet_ros.ros.parameters import ParameterError
    from dualposenet_ros.ros_tools.synthetic_camera import SyntheticCamera

    with pytest.raises(ParameterError) as error:
        SyntheticCamera(context=rclpy_context, parameter_overrides=[
            Parameter("seed", value=-1), Parameter("min_objects", value=5), Parameter("max_objects", value=2),
            Parameter("segmentation_format", value="png")])
    for text in ("seed must be in [0, ", "segmentation_format must be instance_segmentation or"):
        assert text in str(error.value)
    with pytest.raises(ParameterError, match=r"min_objects \(5\) must not exceed max_objects \(2\)"):
        SyntheticCamera(context=rclpy_context, parameter_overrides=[
            Parameter("min_objects", value=5), Parameter("max_objects", value=2)])
    camera = SyntheticCamera(context=rclpy_context, parameter_overrides=[Parameter("rate", value=2)])  # int for float
    try:
        rate = camera.describe_parameter("rate")
        assert camera.period == 0.5 and rate.read_only and rate.floating_point_range[0].from_value == 0.01
    finally:
        camera.destroy_node()
