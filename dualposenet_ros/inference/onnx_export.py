"""``dualposenet export-onnx``: the network and both decoders as one ONNX graph.

The graph takes the spherical maps and the centred observed points of a batch of instances and
returns what :meth:`DualPoseNet.forward` returns::

    inputs   distance_map (B, 1, n, n), rgb_map (B, 3, n, n), points (B, P, 3)   float32
    outputs  quaternion (B, 4), translation (B, 3), size (B, 3), canonical_points (B, P, 3),
             feature (B, feature_dim)

with B and P dynamic. The spherical convolutions run as matrix products with precomputed DFT and
Legendre tables (``spherical.py``), so only standard operators appear (MatMul, Reshape,
Transpose, PRelu, AveragePool, Gemm, ...): ONNX Runtime runs the file on any execution provider,
and TensorRT builds an engine from it. Pre-processing (back-projection, spherical maps) and the
three centring passes stay in Python (:mod:`dualposenet_ros.inference.pipeline`), which calls the graph.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from ..model.network import DualPoseNet

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "OPSET", "configure_parser", "cpu_model", "export_onnx",
           "max_output_difference", "run"]

INPUT_NAMES = ("distance_map", "rgb_map", "points")
OUTPUT_NAMES = ("quaternion", "translation", "size", "canonical_points", "feature")
OPSET = 17


# torch >= 2.5 has a ``dynamo`` switch (on by default from 2.9); older versions only have this exporter.
_TORCHSCRIPT_EXPORTER = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


class _TupleOutputs(nn.Module):
    """The network with a plain tuple as output (what the exporter expects)."""

    def __init__(self, model: DualPoseNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, distance_map: torch.Tensor, rgb_map: torch.Tensor,
                points: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model(distance_map, rgb_map, points))


def cpu_model(model: DualPoseNet) -> DualPoseNet:
    """``model`` itself when it is on the CPU, else a CPU copy (the original stays where it is)."""
    return model if next(model.parameters()).device.type == "cpu" else copy.deepcopy(model).to("cpu")


def export_onnx(model: DualPoseNet, path: str | Path | None = None, opset: int = OPSET) -> bytes:
    """Export ``model`` (float32; moved to the CPU for tracing) and return the serialised graph;
    also write it to ``path`` when given."""
    model_cpu = cpu_model(model)
    model_cpu.eval()
    n, points = model_cpu.config.resolution, model_cpu.config.num_points
    example = (torch.zeros(2, 1, n, n), torch.zeros(2, 3, n, n), torch.zeros(2, points, 3))
    dynamic = {"distance_map": {0: "batch"}, "rgb_map": {0: "batch"}, "points": {0: "batch", 1: "num_points"},
               "canonical_points": {0: "batch", 1: "num_points"}}
    dynamic.update({name: {0: "batch"} for name in ("quaternion", "translation", "size", "feature")})
    buffer = io.BytesIO()
    # The TorchScript-based exporter warns that it is deprecated; unlike the dynamo one it needs no extra package.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_TupleOutputs(model_cpu), example, buffer, input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=opset,
                          do_constant_folding=True, **_TORCHSCRIPT_EXPORTER)
    data = buffer.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def max_output_difference(model: DualPoseNet, onnx_model: bytes, batch: int = 3, seed: int = 0) -> float:
    """Largest absolute difference between every output of ``model`` and of the ONNX graph run by
    ONNX Runtime (CPU) on random inputs (maps and an object-sized point cloud)."""
    import onnxruntime

    generator = torch.Generator().manual_seed(seed)
    n = model.config.resolution
    inputs = (torch.rand(batch, 1, n, n, generator=generator) * 0.1,
              torch.rand(batch, 3, n, n, generator=generator) - 0.5,
              torch.randn(batch, model.config.num_points, 3, generator=generator) * 0.05)
    cpu = cpu_model(model)
    with torch.no_grad():
        expected = cpu(*inputs)
    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    outputs = session.run(list(OUTPUT_NAMES), {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, inputs)})
    return max(float(abs(got - want.numpy()).max()) for got, want in zip(outputs, expected))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="checkpoint to export (default: the shipped model)")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    parser.add_argument("--no-check", action="store_true",
                        help="skip running the file with ONNX Runtime against torch on random inputs")


def run(args: argparse.Namespace) -> int:
    from ..model.checkpoint import load_checkpoint
    from ..models import default_checkpoint

    source = args.checkpoint or default_checkpoint()
    model, _ = load_checkpoint(source)
    data = export_onnx(model, args.out, args.opset)
    print(f"Wrote {args.out} ({len(data) / 2**20:.1f} MiB, opset {args.opset}) from {source}")
    if args.no_check:
        return 0
    difference = max_output_difference(model, data)
    print(f"ONNX Runtime vs torch on random inputs (batch 3): largest output difference {difference:.2e}")
    return 0 if difference <= 1e-4 else 1
