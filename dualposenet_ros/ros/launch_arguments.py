"""The launch arguments of the dualposenet node: which parameter or input topic each one sets.

``launch/dualposenet.launch.py`` declares :data:`NODE_ARGUMENTS` and hands the values it was given
to :func:`node_parameters` and :func:`node_remappings`. An argument left empty (the default) sets
nothing, so the parameter file (the ``config`` argument) keeps its value; one given on the command
line overrides the file. Kept free of ``launch`` imports: the tests check the mapping, and start the
node with the same settings (:func:`ros_arguments`) where launch_ros is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NODE_ARGUMENTS", "LaunchArgument", "node_parameters", "node_remappings", "ros_arguments"]


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: the node parameter it sets (typed as ``kind``) or the input it remaps."""

    name: str
    description: str
    parameter: str | None = None
    kind: type = str
    remap: str | None = None

    @property
    def help(self) -> str:
        """The description with what leaving the argument empty means."""
        return self.description + (" Empty: the node's own topic name." if self.remap is not None
                                   else " Empty: the parameter file's value.")

    def value(self, text: str) -> Any:
        """The parameter value of the argument's text (ValueError naming the argument)."""
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(f"launch argument {self.name} must be true or false, got {text!r}")
            return lowered == "true"
        try:
            return self.kind(text.strip()) if self.kind in (int, float) else text
        except ValueError:
            raise ValueError(f"launch argument {self.name} must be {'an integer' if self.kind is int else 'a number'}"
                             f", got {text!r}") from None


NODE_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("color_topic", "Colour image input, rgb8 or bgr8 (remaps color/image).", remap="color/image"),
    LaunchArgument("depth_topic", "Depth image registered to the colour camera, 16UC1 mm or 32FC1 m (remaps "
                   "depth/image).", remap="depth/image"),
    LaunchArgument("camera_info_topic", "CameraInfo of the colour camera (remaps color/camera_info).",
                   remap="color/camera_info"),
    LaunchArgument("segmentation_topic", "Segmentation in segmentation_format (remaps segmentation).",
                   remap="segmentation"),
    LaunchArgument("masks_topic", "detections_masks: the mask images (remaps segmentation/masks).",
                   remap="segmentation/masks"),
    LaunchArgument("checkpoint", "Model checkpoint (path stem, .safetensors or directory).", "checkpoint"),
    LaunchArgument("device", "Inference device: auto, cpu, cuda or cuda:N.", "device"),
    LaunchArgument("precision", "fp32, bf16 or int8 (CPU) for the un-refined passes.", "precision"),
    LaunchArgument("backend", "torch or onnxruntime for the un-refined passes.", "backend"),
    LaunchArgument("threads", "CPU threads of the network passes (0 = the cores the node may use).", "threads", int),
    LaunchArgument("segmentation_format", "instance_segmentation, detections_masks or yolo_ros.",
                   "segmentation_format"),
    LaunchArgument("class_map", "Segmenter class -> category, e.g. 'cup: mug, 41: mug'.", "class_map"),
    LaunchArgument("refine", "Test-time refinement: none, encoder or feature.", "refine.mode"),
    LaunchArgument("sync_mode", "Matching of segmentation and images: exact or approximate.", "sync.mode"),
    LaunchArgument("sync_window", "Seconds of images kept for a segmentation that comes late.", "sync.window",
                   float),
    LaunchArgument("sync_queue_size", "Images kept per input at most (a memory cap besides sync_window).",
                   "sync.queue_size", int),
    LaunchArgument("sync_slop", "Approximate matching: largest stamp difference, seconds.", "sync.slop", float),
    LaunchArgument("frame_prefix", "TF frame prefix, resolved in the namespace ('/...' ignores it).",
                   "frame_prefix"),
    LaunchArgument("use_sim_time", "Use the /clock topic (bag playback, simulation): true or false.",
                   "use_sim_time", bool),
)
"""Arguments of the node besides ``config``, ``namespace`` and ``log_level``; empty = not given."""

_BY_NAME = {argument.name: argument for argument in NODE_ARGUMENTS}


def _given(values: Mapping[str, str]) -> list[tuple[LaunchArgument, str]]:
    unknown = sorted(set(values) - set(_BY_NAME))
    if unknown:
        raise ValueError(f"unknown launch argument(s): {', '.join(unknown)}")
    return [(_BY_NAME[name], text) for name, text in values.items() if str(text).strip()]


def node_parameters(values: Mapping[str, str]) -> dict[str, Any]:
    """The parameters set by the arguments given (``values``: argument name -> text; empty ones
    are not given), typed like the parameters."""
    return {argument.parameter: argument.value(str(text)) for argument, text in _given(values)
            if argument.parameter is not None}


def node_remappings(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """(node topic, given topic) of the topic arguments given."""
    return [(argument.remap, str(text).strip()) for argument, text in _given(values) if argument.remap is not None]


def ros_arguments(values: Mapping[str, str], namespace: str = "") -> list[str]:
    """The same settings as ``--ros-args`` of a node started by hand (``-p``, ``-r``), as
    ``ros2 run`` would take them."""
    args = ["--ros-args"]
    if namespace.strip():
        args += ["-r", f"__ns:=/{namespace.strip().strip('/')}"]
    for name, value in node_parameters(values).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):  # rcl reads -p values as YAML: quoted, 'cup: mug' stays text
            text = "'" + value.replace("'", "''") + "'"
        else:
            text = str(value)
        args += ["-p", f"{name}:={text}"]
    for topic, target in node_remappings(values):
        args += ["-r", f"{topic}:={target}"]
    return args
