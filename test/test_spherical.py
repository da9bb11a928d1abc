"""Spherical harmonic transform, convolution and pooling against direct transcriptions of the formulas,
on every available device."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

try:
    from scipy.special import sph_harm_y  # SciPy >= 1.15
except ImportError:  # older SciPy (the floor is 1.9): sph_harm(m, l, azimuth, polar)
    from scipy.special import sph_harm

    def sph_harm_y(l, m, polar, azimuth):
        return sph_harm(m, l, azimuth, polar)

from dualposenet_ros.model.spherical import SphericalConv, SphericalHarmonicTransform, SphericalPool

from devices import DEVICES

# ---------------------------------------------------------------------------------------------
# Independent implementation: explicit sums over the full grid, straight from the formulas.


def grid_harmonic(l: int, m: int, n: int) -> np.ndarray:
    """``Y_lm`` sampled on the n x n grid, indexed [azimuth, polar]."""
    polar = np.arange(n) * np.pi / n
    azimuth = np.arange(n) * 2 * np.pi / n
    return sph_harm_y(l, m, polar[None, :], azimuth[:, None])


def direct_weights(n: int) -> np.ndarray:
    weights = np.zeros(n)
    for j in range(n):
        theta = j * np.pi / n
        series = sum(math.sin((2 * k + 1) * theta) / (2 * k + 1) for k in range(n // 2))
        weights[j] = 2 * math.sqrt(2) / n * math.sin(theta) * series
    return weights


def direct_forward(signal: np.ndarray) -> np.ndarray:
    n = signal.shape[0]
    weights = direct_weights(n)
    coefficients = np.zeros((n // 2, n // 2), dtype=complex)
    for l in range(n // 2):
        for m in range(l + 1):
            total = np.sum(signal * weights[None, :] * np.conj(grid_harmonic(l, m, n)))
            coefficients[l, m] = 2 * math.sqrt(2) * math.pi / n * total
    return coefficients


def direct_inverse(coefficients: np.ndarray, n: int) -> np.ndarray:
    total = np.zeros((n, n), dtype=complex)
    for l in range(n // 2):
        for m in range(l + 1):
            halved = coefficients[l, m] / 2 if m == 0 else coefficients[l, m]
            total += halved * grid_harmonic(l, m, n)
    return 2 * total.real


def direct_degree_weights(anchors: np.ndarray, bandwidth: int) -> np.ndarray:
    """Linear interpolation of (A, ...) anchors at linspace(0, 1, A) to degrees at linspace(0, 1, L)."""
    count = len(anchors)
    if count == 1:
        return np.repeat(anchors, bandwidth, axis=0)
    result = []
    for l in range(bandwidth):
        scaled = (l / (bandwidth - 1)) * (count - 1)  # degree position in units of anchor spacing
        left = min(int(math.floor(scaled)), count - 2)
        fraction = scaled - left
        result.append((1 - fraction) * anchors[left] + fraction * anchors[left + 1])
    return np.stack(result)


def direct_conv(conv: SphericalConv, signal: np.ndarray) -> np.ndarray:
    """(C_in, n, n) -> (C_out, n, n) by the spectral formula, one channel pair at a time."""
    n = signal.shape[-1]
    weights = direct_degree_weights(conv.weight.detach().double().numpy(), n // 2)  # (L, C_in, C_out)
    gains = np.array([2 * math.pi * math.sqrt(4 * math.pi / (2 * l + 1)) for l in range(n // 2)])
    inputs = [direct_forward(channel) for channel in signal]
    outputs = []
    for d in range(conv.out_channels):
        mixed = sum(gains[:, None] * inputs[c] * weights[:, c, d][:, None] for c in range(conv.in_channels))
        outputs.append(direct_inverse(mixed, n) + conv.bias[d].item())
    return np.stack(outputs)


def random_coefficients(n: int, generator: np.random.Generator, *leading: int) -> np.ndarray:
    """Coefficients of a random real band-limited signal: m <= l, real for m = 0."""
    shape = (*leading, n // 2, n // 2)
    coefficients = generator.standard_normal(shape) + 1j * generator.standard_normal(shape)
    coefficients = np.tril(coefficients)
    coefficients[..., 0] = coefficients[..., 0].real
    return coefficients


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [8, 16])
def test_transform_matches_direct_formulas(n: int, device: str) -> None:
    generator = np.random.default_rng(n)
    transform = SphericalHarmonicTransform(n).to(device)
    signal = generator.standard_normal((n, n))
    coefficients = transform(torch.from_numpy(signal).to(device)[None, None])[0, 0].cpu().numpy()
    np.testing.assert_allclose(coefficients, direct_forward(signal), atol=1e-12)

    arbitrary = np.tril(generator.standard_normal((n // 2, n // 2)) + 1j * generator.standard_normal((n // 2, n // 2)))
    inverse = transform.inverse(torch.from_numpy(arbitrary).to(device))
    np.testing.assert_allclose(inverse.cpu().numpy(), direct_inverse(arbitrary, n), atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n", [8, 64])
def test_round_trip_of_band_limited_signals_float64(n: int, device: str) -> None:
    transform = SphericalHarmonicTransform(n).to(device)
    coefficients = torch.from_numpy(random_coefficients(n, np.random.default_rng(0), 2, 3)).to(device)
    signal = transform.inverse(coefficients)
    assert signal.shape == (2, 3, n, n) and signal.dtype == torch.float64
    recovered = transform(signal)
    torch.testing.assert_close(recovered, coefficients, atol=1e-10, rtol=0)
    torch.testing.assert_close(transform.inverse(recovered), signal, atol=1e-10, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_round_trip_float32(device: str) -> None:
    n = 64
    transform = SphericalHarmonicTransform(n).to(device)
    coefficients = torch.from_numpy(random_coefficients(n, np.random.default_rng(1), 4)).to(device, torch.complex64)
    signal = transform.inverse(coefficients)
    assert signal.dtype == torch.float32
    torch.testing.assert_close(transform(signal), coefficients, atol=2e-5, rtol=0)
    torch.testing.assert_close(transform.inverse(transform(signal)), signal, atol=2e-5, rtol=0)


def test_transform_rejects_wrong_grid() -> None:
    with pytest.raises(ValueError):
        SphericalHarmonicTransform(16)(torch.zeros(1, 1, 16, 8))
    with pytest.raises(ValueError):
        SphericalHarmonicTransform(7)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("n", "num_anchors"), [(8, 8), (32, 8), (16, 3)])
def test_conv_matches_direct_formulas(n: int, num_anchors: int, device: str) -> None:
    torch.manual_seed(n)
    conv = SphericalConv(2, 3, n, num_anchors=num_anchors).double()
    assert conv.weight.shape == (min(num_anchors, n // 2), 2, 3)
    with torch.no_grad():
        conv.weight.normal_()
        conv.bias.normal_()
    signal = np.random.default_rng(n).standard_normal((2, n, n))
    expected = direct_conv(conv, signal)
    output = conv.to(device)(torch.from_numpy(signal).to(device)[None])[0].detach().cpu().numpy()
    np.testing.assert_allclose(output, expected, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(3, 16, 64, 64), (16, 16, 64, 64), (2, 2, 16, 8, 8)], ids=str)
def test_conv_matrix_products_equal_the_fft_form(shape: tuple[int, ...], device: str) -> None:
    """forward (DFT and Legendre matrix products) computes forward_spectral's sums, for any leading dims."""
    torch.manual_seed(1)
    conv = SphericalConv(shape[-3], 8, shape[-1]).double().to(device)
    with torch.no_grad():
        conv.bias.normal_()
        signal = torch.randn(shape, dtype=torch.float64, device=device)
        torch.testing.assert_close(conv(signal), conv.forward_spectral(signal), atol=1e-12, rtol=0)
        conv.float()
        torch.testing.assert_close(conv(signal.float()), conv.forward_spectral(signal.float()), atol=2e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_commutes_with_azimuth_shift(device: str) -> None:
    torch.manual_seed(0)
    conv = SphericalConv(16, 16, 64).to(device)
    signal = torch.randn(2, 16, 64, 64, device=device)
    with torch.no_grad():
        for shift in (1, 5, 32):
            shifted_output = conv(torch.roll(signal, shift, dims=2))
            torch.testing.assert_close(shifted_output, torch.roll(conv(signal), shift, dims=2), atol=1e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_conv_parameters_init_and_gradients(device: str) -> None:
    torch.manual_seed(0)
    conv = SphericalConv(16, 32, 64)
    assert set(conv.state_dict()) == {"weight", "bias"}
    std = 2 / (2 * math.pi * math.sqrt(32 * 16))
    assert conv.weight.abs().max() <= 2 * std
    assert 0.5 * std < conv.weight.std() < std
    assert torch.all(conv.bias == 0)
    conv.to(device)(torch.randn(1, 16, 64, 64, device=device)).square().mean().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        conv(torch.randn(1, 3, 64, 64, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_pool_matches_area_weighted_average(device: str) -> None:
    n = 8
    signal = np.random.default_rng(0).standard_normal((1, 2, n, n))
    cell_sin = lambda size: np.sin((np.arange(size) + 0.5) * np.pi / size)  # noqa: E731
    weighted = signal * cell_sin(n)
    expected = weighted.reshape(1, 2, n // 2, 2, n // 2, 2).mean(axis=(3, 5)) / cell_sin(n // 2)
    pooled = SphericalPool()(torch.from_numpy(signal).to(device))
    np.testing.assert_allclose(pooled.cpu().numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_pool_of_constant_is_scaled_by_cos_half_cell(device: str) -> None:
    n = 64
    pooled = SphericalPool()(torch.full((1, 1, n, n), 3.0, dtype=torch.float64, device=device))
    assert pooled.shape == (1, 1, n // 2, n // 2)
    torch.testing.assert_close(pooled, torch.full_like(pooled, 3.0 * math.cos(math.pi / (2 * n))), atol=1e-12, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_pool_commutes_with_even_azimuth_shift(device: str) -> None:
    signal = torch.randn(2, 3, 16, 16, device=device)
    pool = SphericalPool()
    for shift in (2, 6):
        shifted = pool(torch.roll(signal, shift, dims=2))
        torch.testing.assert_close(shifted, torch.roll(pool(signal), shift // 2, dims=2))
    with pytest.raises(ValueError):
        pool(torch.zeros(1, 1, 16, 15, device=device))
