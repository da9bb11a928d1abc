"""The ``dualposenet`` command: one entry point for the research and the robot workflows.

Each sub-command lives in its own module exposing ``configure_parser(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so ``--help`` is fast
and a command never pays for another's imports (torch, rclpy...).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Phase and dataset names follow the original code base.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("dualposenet_ros.data.synth.command", "generate a synthetic dataset in the NOCS layout"),
    "prepare": ("dualposenet_ros.data.prepare", "NOCS layout -> chunked training instances"),
    "train": ("dualposenet_ros.training.train", "train DualPoseNet (single GPU/CPU or torchrun DDP)"),
    "import-tf": ("dualposenet_ros.research.import_tf",
                  "official TensorFlow checkpoint -> project checkpoint (no TensorFlow)"),
    "test": ("dualposenet_ros.research.phases", "run a test phase on a dataset and write result pickles"),
    "evaluate": ("dualposenet_ros.evaluation.command", "NOCS mAP of result pickles: table, JSON, AP plot"),
    "benchmark": ("dualposenet_ros.benchmarks.benchmark", "speed and memory of maps, network, frames and the node"),
    "export-onnx": ("dualposenet_ros.inference.onnx_export",
                    "network and decoders -> ONNX (for ONNX Runtime, TensorRT)"),
    "demo": ("dualposenet_ros.ros_tools.demo", "synthetic camera + node over DDS, estimates against ground truth"),
    "tracking": ("dualposenet_ros.evaluation.tracking", "identity switches, jitter and lag of the object tracker on "
                 "synthetic sequences"),
}

# (command, flag) -> module that runs the command when the flag is given: keeps ROS imports out of
# the core command modules (``benchmark --node`` needs rclpy, ``benchmark`` does not).
ROUTES: dict[tuple[str, str], str] = {
    ("benchmark", "--node"): "dualposenet_ros.ros_tools.node_benchmark",
    ("benchmark", "--options"): "dualposenet_ros.benchmarks.option_benchmark",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dualposenet", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, summary) in COMMANDS.items():
        subparsers.add_parser(name, help=summary, description=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv)  # prints usage / help and exits
        return 2
    name = argv[0]
    module_name, summary = COMMANDS[name]
    module_name = next((routed for (command, flag), routed in ROUTES.items() if command == name and flag in argv[1:]),
                       module_name)
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"dualposenet {name}", description=summary)
    module.configure_parser(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
