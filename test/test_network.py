"""DualPoseNet structure, outputs, equivariance and torch.func compatibility (on every available
device where the device matters); ModelConfig."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch.func import functional_call, grad, vmap

from dualposenet_ros.core.config import PRESETS, ModelConfig, get_preset
from dualposenet_ros.model.losses import consistency_loss, explicit_canonical_points, training_loss
from dualposenet_ros.model.network import DualPoseNet, flatten_channels_last

from devices import DEVICES


def make_inputs(config: ModelConfig, batch: int, points: int = 64, seed: int = 0,
                dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    n = config.resolution
    distance = torch.rand(batch, 1, n, n, generator=generator, dtype=dtype)
    rgb = torch.randn(batch, 3, n, n, generator=generator, dtype=dtype) * 0.3
    cloud = torch.randn(batch, points, 3, generator=generator, dtype=dtype) * 0.1
    return distance, rgb, cloud


@pytest.fixture(scope="module")
def compact() -> DualPoseNet:
    torch.manual_seed(0)
    return DualPoseNet(ModelConfig.compact()).eval()


def on(device: str, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(tensor.to(device) for tensor in tensors)


@pytest.mark.parametrize("device", DEVICES)
def test_compact_output_shapes_and_unit_quaternion(compact: DualPoseNet, device: str) -> None:
    config = compact.config
    compact = copy.deepcopy(compact).to(device)
    with torch.no_grad():
        output = compact(*on(device, *make_inputs(config, batch=6, points=100)))
    assert output.quaternion.shape == (6, 4)
    assert output.translation.shape == (6, 3)
    assert output.size.shape == (6, 3)
    assert output.canonical_points.shape == (6, 100, 3)
    assert output.feature.shape == (6, config.feature_dim)
    torch.testing.assert_close(output.quaternion.norm(dim=-1), torch.ones(6, device=device))
    assert all(torch.isfinite(t).all() for t in output)
    maps = compact.spherical_features(*on(device, *make_inputs(config, batch=2)[:2]))
    n = config.resolution
    assert [tuple(m.shape) for m in maps] == [(2, 16, n // 2, n // 2), (2, 32, n // 4, n // 4), (2, 64, n // 8, n // 8)]


@pytest.mark.parametrize("device", DEVICES)
def test_pieces_compose_to_forward(compact: DualPoseNet, device: str) -> None:
    compact = copy.deepcopy(compact).to(device)
    distance, rgb, points = on(device, *make_inputs(compact.config, batch=3))
    with torch.no_grad():
        output = compact(distance, rgb, points)
        feature = compact.encode(distance, rgb)
        pose = compact.decode_pose(feature)
        canonical = compact.decode_canonical(feature, points)
    torch.testing.assert_close(output.feature, feature)
    torch.testing.assert_close(output.quaternion, pose.quaternion)
    torch.testing.assert_close(output.canonical_points, canonical)


def test_implicit_decoder_equals_reference_concat(compact: DualPoseNet) -> None:
    """The split first layer must equal a 1x1 conv on concat(point xyz, feature)."""
    decoder = compact.implicit_decoder
    feature = torch.randn(2, compact.config.feature_dim)
    points = torch.randn(2, 7, 3)
    hidden = torch.cat([points, feature[:, None].expand(2, 7, -1)], dim=-1)
    for index, layer in enumerate(decoder.layers):
        hidden = layer(hidden)
        if index < len(decoder.layers) - 1:
            hidden = torch.nn.functional.leaky_relu(hidden, 0.2)
    torch.testing.assert_close(decoder(feature, points), hidden)


def test_flatten_is_channels_last() -> None:
    x = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # (B, C, azimuth, polar)
    flat = flatten_channels_last(x)
    b, c, a, p = 1, 2, 3, 1
    assert flat[b, (a * 5 + p) * 3 + c] == x[b, c, a, p]


def test_paper_preset_has_about_67m_parameters() -> None:
    with torch.device("meta"):  # shapes only: no memory, no init time
        count = DualPoseNet(ModelConfig.paper()).count_parameters()
    assert abs(count - 67e6) / 67e6 < 0.02, count


def test_compact_preset_fits_the_shipping_budget(compact: DualPoseNet) -> None:
    assert 2e6 <= compact.count_parameters() <= 4e6


@pytest.mark.parametrize("device", DEVICES)
def test_azimuth_shift_commutes_with_spherical_layers(device: str) -> None:
    torch.manual_seed(1)
    model = DualPoseNet(ModelConfig.compact()).double().eval().to(device)
    distance, rgb = on(device, *make_inputs(model.config, batch=2, dtype=torch.float64)[:2])
    shift = 8  # the three poolings divide it down to 4, 2, 1 cells at the fusion resolutions
    with torch.no_grad():
        maps = model.spherical_features(distance, rgb)
        shifted = model.spherical_features(distance.roll(shift, dims=2), rgb.roll(shift, dims=2))
    for level, (plain, moved) in enumerate(zip(maps, shifted), start=1):
        expected = plain.roll(shift >> level, dims=2)
        assert not torch.allclose(moved, plain, atol=1e-6)  # the shift is visible ...
        torch.testing.assert_close(moved, expected, atol=1e-9, rtol=1e-9)  # ... and commutes


@pytest.mark.parametrize("device", DEVICES)
def test_functional_call_vmap_over_instance_parameters(compact: DualPoseNet, device: str) -> None:
    """Per-instance weight copies batched with vmap equal separate plain forwards (refinement's path)."""
    instances = 3
    compact = copy.deepcopy(compact).to(device)
    generator = torch.Generator().manual_seed(2)
    base = {name: p.detach() for name, p in compact.named_parameters()}
    stacked = {name: p.expand(instances, *p.shape)
               + 1e-3 * torch.randn(instances, *p.shape, generator=generator).to(device)
               for name, p in base.items()}
    distance, rgb, points = on(device, *make_inputs(compact.config, batch=instances, points=32))

    def run(params, d, r, x):
        return functional_call(compact, params, (d[None], r[None], x[None]))

    batched = vmap(run)(stacked, distance, rgb, points)
    for index in range(instances):
        params = {name: value[index] for name, value in stacked.items()}
        single = run(params, distance[index], rgb[index], points[index])
        for got, want in zip(batched, single):
            torch.testing.assert_close(got[index], want, atol=1e-5, rtol=1e-4)


def test_vmap_of_grad_of_consistency_loss(compact: DualPoseNet) -> None:
    """Encoder refinement differentiates the consistency loss per instance under vmap."""
    encoder_params = {name: p.detach() for name, p in compact.named_parameters() if name.startswith("encoder.")}
    distance, rgb, points = make_inputs(compact.config, batch=2, points=16)

    def loss(params, d, r, x):
        out = functional_call(compact, params, (d[None], r[None], x[None]), strict=False)
        explicit = explicit_canonical_points(x[None], out.quaternion, out.translation, out.size)
        return consistency_loss(explicit, out.canonical_points)[0]

    per_instance = vmap(grad(loss), in_dims=(None, 0, 0, 0))(encoder_params, distance, rgb, points)
    name = "encoder.fusion.conv7.conv.weight"
    for index in range(2):
        expected = grad(loss)(encoder_params, distance[index], rgb[index], points[index])[name]
        torch.testing.assert_close(per_instance[name][index], expected, atol=1e-6, rtol=1e-4)
    assert per_instance[name].abs().sum() > 0


def test_training_loss_components(compact: DualPoseNet) -> None:
    distance, rgb, points = make_inputs(compact.config, batch=2, points=16)
    output = compact(distance, rgb, points)
    targets = {"quaternion": output.quaternion.detach(), "translation": output.translation.detach() + 0.5,
               "size": output.size.detach(), "points": points}
    losses = training_loss(output, targets)
    assert set(losses) == {"rotation", "translation", "size", "implicit", "total"}
    assert losses["rotation"].item() == 0.0
    torch.testing.assert_close(losses["translation"], torch.tensor(0.125))  # Huber(0.5) = 0.5 * 0.5^2
    expected_total = losses["translation"] + losses["size"] + 10 * losses["implicit"]
    torch.testing.assert_close(losses["total"], expected_total)
    losses["total"].backward()


def test_explicit_canonical_points_inverts_pose() -> None:
    half = 0.5 ** 0.5
    quaternion = torch.tensor([[half, 0.0, 0.0, half]])  # R_q: 90 degrees about z
    translation = torch.tensor([[1.0, 2.0, 3.0]])
    size = torch.tensor([[0.0, 3.0, 4.0]])  # scale 5
    points = torch.tensor([[[1.0, 2.0, 3.0], [6.0, 2.0, 3.0]]])
    expected = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    torch.testing.assert_close(explicit_canonical_points(points, quaternion, translation, size), expected)
    valid = torch.tensor([[True, False]])
    shifted = expected + torch.tensor([0.0, 0.0, 0.3])
    loss = consistency_loss(expected, shifted, valid)
    torch.testing.assert_close(loss, torch.tensor([0.5 * 0.3 ** 2 / 3]))


def test_input_shapes_are_checked(compact: DualPoseNet) -> None:
    distance, rgb, points = make_inputs(compact.config, batch=1)
    with pytest.raises(ValueError, match="rgb_map"):
        compact(distance, rgb[:, :1], points)
    with pytest.raises(ValueError, match="points"):
        compact(distance, rgb, points[..., :2])


# --- ModelConfig -------------------------------------------------------------------------------

def test_config_round_trip_through_json() -> None:
    for name, config in PRESETS.items():
        restored = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
        assert restored == config == get_preset(name)
    assert ModelConfig.from_dict({"filters": [4, 4]*4}).filters == (4, 4, 4, 4, 4, 4, 4, 4)


@pytest.mark.parametrize("changes, message", [
    ({"resolutoin": 32}, "unknown model config key"),
    ({"resolution": 36}, "resolution 36"),
    ({"resolution": True}, "resolution must be a positive integer"),
    ({"filters": [16, -1]}, "filters"),
    ({"fusion_layers": [3, 5]}, "last layer"),
    ({"pool_after": [4, 2]}, "strictly increasing"),
    ({"fusion_layers": [3, 5, 8]}, "layer indices"),
    ({"implicit_hidden": []}, "implicit_hidden"),
])
def test_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict({**ModelConfig.paper().to_dict(), **changes})


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="compact"):
        get_preset("huge")
