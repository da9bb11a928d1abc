"""Reduced-precision copies of a trained DualPoseNet for faster un-refined inference.

Most of the paper network's 68 M weights sit in the encoder's fully connected layers: the three
flatten -> feature projections of the multi-scale aggregation hold 59 M of them and its two
1024 x 1024 layers 2 M more. A forward pass at the batch sizes a frame has (one row per object)
reads every one of those weights, so storing them in fewer bytes is what speeds the pass up:

* ``bf16``: weights kept in bfloat16 and multiplied in bfloat16 (AVX-512 BF16 / AMX on CPUs
  that have them, tensor cores on GPUs); inputs are cast on entry, outputs back to float32;
* ``int8``: dynamic quantisation (``torch.ao.nn.quantized.dynamic.Linear``, FBGEMM/oneDNN):
  int8 weights with per-channel scales, activations quantised per batch at run time. CPU only.

The implicit decoder's per-point layers (1024 points per object through 1024-512-256 units:
the costliest part of the last pass, which only feeds the consistency residual when there is no
refinement) change too. The spherical convolutions, the explicit decoder (quantising its heads
doubled the median rotation difference to float32 on rendered scenes for 7 % of the weights) and
the trained model, on which refinement runs, stay in float32. The README's benchmark table gives
each option's speed and accuracy cost.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..core.choice import Choice
from .network import DualPoseNet

__all__ = ["BFloat16Linear", "Precision", "reduced_precision_copy"]


class Precision(Choice):
    """Numeric precision of the fully connected layers of the un-refined passes."""

    FP32 = "fp32"
    BF16 = "bf16"
    INT8 = "int8"


class BFloat16Linear(nn.Module):
    """A linear layer whose weight and bias are stored in bfloat16 (half the bytes of float32).

    The input is cast to bfloat16 and the output back to the input's dtype, so it drops into a
    float32 network."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(torch.bfloat16), self.weight, self.bias).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype=bfloat16"


def _int8_linear(linear: nn.Linear) -> nn.Module:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    linear.qconfig = per_channel_dynamic_qconfig
    with warnings.catch_warnings():  # torch >= 2.9 points eager-mode users to torchao; the API still works
        warnings.simplefilter("ignore")
        return DynamicQuantizedLinear.from_float(linear)


def _replaceable_linears(model: DualPoseNet) -> list[tuple[nn.ModuleList, int]]:
    """(container, index) of the layers that change: the encoder's fully connected layers (the
    aggregation's projections and MLP) and the implicit decoder's per-point layers after the first
    (whose weight it slices)."""
    containers = [model.encoder.aggregation.projections, model.encoder.aggregation.mlp.layers]
    found = [(container, index) for container in containers for index, layer in enumerate(container)
             if isinstance(layer, nn.Linear)]
    implicit = model.implicit_decoder.layers
    return found + [(implicit, index) for index in range(1, len(implicit)) if isinstance(implicit[index], nn.Linear)]


def reduced_precision_copy(model: DualPoseNet, precision: Precision | str) -> DualPoseNet:
    """A copy of ``model`` (eval mode, no gradients) whose large linear layers use ``precision``;
    ``fp32`` returns ``model`` itself. ``int8`` needs the model on the CPU."""
    precision = Precision.parse(precision)
    if precision is Precision.FP32:
        return model
    device = next(model.parameters()).device
    if precision is Precision.INT8 and device.type != "cpu":
        raise ValueError(f"precision int8 (dynamic quantisation) runs on the CPU only, not on {device}; "
                         "use bf16 on GPUs")
    fast = copy.deepcopy(model).eval()
    for parameter in fast.parameters():
        parameter.requires_grad_(False)
    for container, index in _replaceable_linears(fast):
        layer = container[index]
        container[index] = BFloat16Linear(layer) if precision is Precision.BF16 else _int8_linear(layer)
    return fast
