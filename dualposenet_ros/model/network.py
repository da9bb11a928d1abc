"""DualPoseNet: spherical fusion encoder, explicit pose decoder and implicit pose decoder.

The structure follows the reference implementation layer for layer so that its trained weights can
be imported (see ``docs/network_weights.md``). The pieces are exposed separately because test-time
refinement either fine-tunes the encoder or only the pose feature: :meth:`DualPoseNet.encode`,
:meth:`DualPoseNet.decode_pose` and :meth:`DualPoseNet.decode_canonical` can be called on their
own, and everything is written to run under ``torch.func.functional_call`` and ``torch.func.vmap``
(no in-place ops on inputs, no data-dependent Python control flow).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import ModelConfig
from .spherical import SphericalConv, SphericalPool

QUATERNION_EPS = 1e-10
"""Floor of the raw quaternion norm before normalising, as in the reference."""


class PoseOutput(NamedTuple):
    """Explicit decoder output: unit ``quaternion`` (B, 4) (w, x, y, z), the camera-to-object
    rotation; ``translation`` (B, 3) relative to the point centroid; ``size`` (B, 3), whose norm is
    the object scale."""

    quaternion: torch.Tensor
    translation: torch.Tensor
    size: torch.Tensor


class NetworkOutput(NamedTuple):
    """Everything one forward pass produces (the implicit points are (B, P, 3))."""

    quaternion: torch.Tensor
    translation: torch.Tensor
    size: torch.Tensor
    canonical_points: torch.Tensor
    feature: torch.Tensor


class SphericalBlock(nn.Sequential):
    """Spherical convolution + per-channel PReLU: every encoder layer is one of these."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int, num_anchors: int,
                 prelu_init: float) -> None:
        super().__init__(OrderedDict(
            conv=SphericalConv(in_channels, out_channels, resolution, num_anchors=num_anchors),
            act=nn.PReLU(out_channels, init=prelu_init),
        ))


class MLP(nn.Module):
    """Fully connected layers with leaky ReLU after each but (unless ``activate_last``) the last."""

    def __init__(self, in_features: int, widths: Sequence[int], negative_slope: float,
                 activate_last: bool = False) -> None:
        super().__init__()
        dims = [in_features, *widths]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.negative_slope = negative_slope
        self.activate_last = activate_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run_from(x, 0)

    def run_from(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Apply layers ``start:`` to ``x``, the activated output of layer ``start - 1``."""
        last = len(self.layers) - 1
        for index in range(start, len(self.layers)):
            x = self.layers[index](x)
            if index < last or self.activate_last:
                x = F.leaky_relu(x, self.negative_slope)
        return x


def flatten_channels_last(feature_map: torch.Tensor) -> torch.Tensor:
    """(B, C, azimuth, polar) -> (B, azimuth * polar * C): the flatten order official weights assume."""
    return feature_map.permute(0, 2, 3, 1).flatten(1)


class MultiScaleAggregation(nn.Module):
    """Projects each flattened fusion map to the feature size, takes the element-wise max over
    scales, then refines with fully connected layers: the pose-sensitive feature."""

    def __init__(self, in_features: Sequence[int], feature_dim: int, num_layers: int, negative_slope: float) -> None:
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(size, feature_dim) for size in in_features)
        self.mlp = MLP(feature_dim, [feature_dim] * num_layers, negative_slope, activate_last=True)
        self.negative_slope = negative_slope

    def forward(self, fused_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        projected = [F.leaky_relu(projection(flatten_channels_last(fused)), self.negative_slope)
                     for projection, fused in zip(self.projections, fused_maps)]
        return self.mlp(torch.stack(projected).amax(dim=0))


class SphericalFusionEncoder(nn.Module):
    """Two spherical streams (distance, RGB) with fusion layers whose outputs feed the aggregation.

    A stream layer convolves each stream on its own; a fusion layer convolves concat(distance, rgb)
    and appends its output to both streams. Layers named ``conv{i}`` keep the reference's 0-based
    index, so ``fusion.conv3`` is the reference ``fusion_conv3``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.pool_after = frozenset(config.pool_after)
        self.fusion_layers = frozenset(config.fusion_layers)
        self.distance_stream = nn.ModuleDict()
        self.rgb_stream = nn.ModuleDict()
        self.fusion = nn.ModuleDict()
        distance_channels, rgb_channels = 1, 3
        fusion_sizes = []
        for layer, (filters, resolution) in enumerate(zip(config.filters, config.layer_resolutions())):
            block_args = (resolution, config.num_anchors, config.prelu_init)
            name = f"conv{layer}"
            if layer in self.fusion_layers:
                self.fusion[name] = SphericalBlock(distance_channels + rgb_channels, filters, *block_args)
                distance_channels, rgb_channels = distance_channels + filters, rgb_channels + filters
                fusion_sizes.append(filters * resolution * resolution)
            else:
                self.distance_stream[name] = SphericalBlock(distance_channels, filters, *block_args)
                self.rgb_stream[name] = SphericalBlock(rgb_channels, filters, *block_args)
                distance_channels = rgb_channels = filters
        self.num_layers = config.num_layers
        self.pool = SphericalPool()
        self.aggregation = MultiScaleAggregation(fusion_sizes, config.feature_dim, config.aggregation_layers,
                                                 config.leaky_slope)

    def spherical_features(self, distance_map: torch.Tensor, rgb_map: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The fusion layers' outputs, (B, filters[i], n_i, n_i) each, finest first."""
        distance, rgb = distance_map, rgb_map
        fused_maps = []
        for layer in range(self.num_layers):
            name = f"conv{layer}"
            if layer in self.fusion_layers:
                fused = self.fusion[name](torch.cat((distance, rgb), dim=1))
                fused_maps.append(fused)
                distance, rgb = torch.cat((distance, fused), dim=1), torch.cat((rgb, fused), dim=1)
            else:
                distance, rgb = self.distance_stream[name](distance), self.rgb_stream[name](rgb)
            if layer in self.pool_after:
                distance, rgb = self.pool(distance), self.pool(rgb)
        return tuple(fused_maps)

    def forward(self, distance_map: torch.Tensor, rgb_map: torch.Tensor) -> torch.Tensor:
        return self.aggregation(self.spherical_features(distance_map, rgb_map))


class ExplicitPoseDecoder(nn.Module):
    """Three independent heads regress rotation (unit quaternion), translation and size."""

    def __init__(self, feature_dim: int, hidden: Sequence[int], negative_slope: float) -> None:
        super().__init__()
        self.rotation = MLP(feature_dim, [*hidden, 4], negative_slope)
        self.translation = MLP(feature_dim, [*hidden, 3], negative_slope)
        self.size = MLP(feature_dim, [*hidden, 3], negative_slope)

    def forward(self, feature: torch.Tensor) -> PoseOutput:
        quaternion = F.normalize(self.rotation(feature), dim=-1, eps=QUATERNION_EPS)
        return PoseOutput(quaternion, self.translation(feature), self.size(feature))


class ImplicitPoseDecoder(MLP):
    """Maps each observed point, conditioned on the pose feature, to its canonical-frame position.

    The reference applies 1x1 convolutions to concat(point, feature); ``layers[0]`` holds that
    first weight unchanged, but its feature columns are applied once per instance rather than once
    per point (same result, about P times fewer operations).
    """

    def __init__(self, feature_dim: int, hidden: Sequence[int], negative_slope: float) -> None:
        super().__init__(3 + feature_dim, [*hidden, 3], negative_slope)

    def forward(self, feature: torch.Tensor, points: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        first = self.layers[0]
        per_instance = F.linear(feature, first.weight[:, 3:], first.bias)
        hidden = F.linear(points, first.weight[:, :3]) + per_instance.unsqueeze(-2)
        return self.run_from(F.leaky_relu(hidden, self.negative_slope), start=1)


class DualPoseNet(nn.Module):
    """Category-level 6D pose and size network of Lin et al., ICCV 2021.

    Inputs: ``distance_map`` (B, 1, n, n) and ``rgb_map`` (B, 3, n, n) spherical maps in
    (batch, channels, azimuth, polar) layout, and the centred observed ``points`` (B, P, 3).
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ModelConfig.paper()
        self.encoder = SphericalFusionEncoder(self.config)
        self.explicit_decoder = ExplicitPoseDecoder(self.config.feature_dim, self.config.head_hidden,
                                                    self.config.leaky_slope)
        self.implicit_decoder = ImplicitPoseDecoder(self.config.feature_dim, self.config.implicit_hidden,
                                                    self.config.leaky_slope)
        for module in self.modules():
            if isinstance(module, nn.Linear):  # the reference's Glorot-uniform kernels, zero biases
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def _check_maps(self, distance_map: torch.Tensor, rgb_map: torch.Tensor) -> None:
        n = self.config.resolution
        for name, tensor, channels in (("distance_map", distance_map, 1), ("rgb_map", rgb_map, 3)):
            if tensor.dim() != 4 or tuple(tensor.shape[1:]) != (channels, n, n):
                raise ValueError(f"{name} must have shape (B, {channels}, {n}, {n}), got {tuple(tensor.shape)}")

    def spherical_features(self, distance_map: torch.Tensor, rgb_map: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The multi-scale fusion maps (the rotation-equivariant part of the encoder)."""
        self._check_maps(distance_map, rgb_map)
        return self.encoder.spherical_features(distance_map, rgb_map)

    def encode(self, distance_map: torch.Tensor, rgb_map: torch.Tensor) -> torch.Tensor:
        """The (B, feature_dim) pose-sensitive feature."""
        self._check_maps(distance_map, rgb_map)
        return self.encoder(distance_map, rgb_map)

    def decode_pose(self, feature: torch.Tensor) -> PoseOutput:
        """Explicit pose (quaternion, translation, size) from the feature."""
        return self.explicit_decoder(feature)

    def decode_canonical(self, feature: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Implicit canonical positions (B, P, 3) of the observed points (B, P, 3)."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must have shape (B, P, 3), got {tuple(points.shape)}")
        return self.implicit_decoder(feature, points)

    def forward(self, distance_map: torch.Tensor, rgb_map: torch.Tensor, points: torch.Tensor) -> NetworkOutput:
        feature = self.encode(distance_map, rgb_map)
        pose = self.decode_pose(feature)
        return NetworkOutput(*pose, canonical_points=self.decode_canonical(feature, points), feature=feature)

    def count_parameters(self) -> int:
        """Number of scalar parameters."""
        return sum(parameter.numel() for parameter in self.parameters())
