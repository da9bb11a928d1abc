"""ONNX export of the network and decoders: same outputs as torch in ONNX Runtime, standard operators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dualposenet_ros.core.config import ModelConfig
from dualposenet_ros.model.network import DualPoseNet
from dualposenet_ros.inference.onnx_export import INPUT_NAMES, OUTPUT_NAMES, export_onnx

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TINY = ModelConfig(resolution=16, filters=(4, 4, 8, 8, 8, 8, 8, 8), feature_dim=32, head_hidden=(32, 16),
                   implicit_hidden=(32, 16, 8), num_points=128)


@pytest.fixture(scope="module")
def exported() -> tuple[DualPoseNet, bytes]:
    torch.manual_seed(0)
    model = DualPoseNet(TINY).eval()
    with torch.no_grad():  # non-zero biases everywhere (they start at zero), so every path matters
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(0.01 * torch.randn_like(parameter))
    return model, export_onnx(model)


@pytest.mark.parametrize(("batch", "points"), [(1, 100), (5, 128), (3, 1024)])
def test_onnxruntime_outputs_equal_torch(exported, batch: int, points: int) -> None:
    model, data = exported
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(batch)
    n = TINY.resolution
    inputs = (torch.rand(batch, 1, n, n, generator=generator) * 0.2,
              torch.rand(batch, 3, n, n, generator=generator) - 0.5,
              torch.randn(batch, points, 3, generator=generator) * 0.05)
    outputs = session.run(list(OUTPUT_NAMES), {name: tensor.numpy() for name, tensor in zip(INPUT_NAMES, inputs)})
    with torch.no_grad():
        expected = model(*inputs)
    for name, got, want in zip(OUTPUT_NAMES, outputs, expected):
        assert got.shape == tuple(want.shape), name
        np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=0, err_msg=name)


def test_graph_uses_standard_operators_only(exported) -> None:
    _, data = exported
    graph = onnx.load_from_string(data)
    onnx.checker.check_model(graph)
    domains = {node.domain for node in graph.graph.node}
    assert domains <= {"", "ai.onnx"}, domains
    kinds = {node.op_type for node in graph.graph.node}
    assert not kinds & {"DFT", "STFT"}, kinds  # the spherical transform is matrix products
    assert {"MatMul", "PRelu"} <= kinds


def test_export_command_writes_a_checked_file(tmp_path) -> None:
    from dualposenet_ros.cli import main

    out = tmp_path / "compact.onnx"
    assert main(["export-onnx", "--out", str(out)]) == 0  # exits 1 if ONNX Runtime differs from torch by > 1e-4
    graph = onnx.load(str(out))
    assert [i.name for i in graph.graph.input] == list(INPUT_NAMES)
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
