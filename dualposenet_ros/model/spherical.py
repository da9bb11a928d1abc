"""Spherical harmonic transform, zonal spherical convolution and pooling on a Driscoll-Healy grid.

Signals are real tensors laid out ``(batch, channels, azimuth, polar)`` on an ``n x n`` grid with
sample ``j`` at colatitude ``theta_j = j pi / n`` and sample ``k`` at azimuth ``phi_k = 2 pi k / n``.
Harmonic coefficients have degrees ``l < L = n / 2`` and orders ``0 <= m <= l`` (real signals), with
SciPy's orthonormal complex ``Y_lm`` (Condon-Shortley phase). The quadrature, the normalisation and
the inverse (``f = 2 Re sum c'_lm Y_lm`` with ``c'_l0 = c_l0 / 2``) follow the DualPoseNet reference
exactly, because the official weights were trained against those numbers.

Implementation: ``Y_lm(theta, phi) = Y_lm(theta, 0) e^{i m phi}``, so the azimuthal sum of the
transform is a real FFT and the polar sum a small ``(l, m, j)`` matrix (quadrature weights and
associated Legendre values, computed once per resolution in float64). The inverse is the transpose
contraction followed by an unnormalised inverse real FFT, whose DC convention (count ``X_0`` once,
its imaginary part dropped) is exactly the reference's ``c'_l0 = c_l0 / 2`` halving.
:class:`SphericalConv` computes the same sums with the azimuthal transforms written as products
with real DFT matrices (``n x n``, computed once): a few large matrix products with one reordering
between them, which is about three times faster on a CPU than the FFT with its complex
reorderings, and uses only operators ONNX supports (no FFT), so the network exports as it runs.

torch-harmonics and e3nn were considered: torch-harmonics' equiangular grid includes both poles and
uses its own quadrature and normalisation, and e3nn's ``s2grid`` uses a different grid and real
harmonics, so neither reproduces the reference's numbers; the FFT-plus-matrix form is a few lines,
needs no extra dependency and runs on any torch device.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

try:
    from scipy.special import sph_harm_y
except ImportError:  # SciPy < 1.15 only has the (m, l, azimuth, polar) argument order.
    from scipy.special import sph_harm as _sph_harm

    def sph_harm_y(n, m, theta, phi):  # type: ignore[no-redef]
        """Adapter to the SciPy >= 1.15 signature ``(degree, order, polar, azimuth)``."""
        return _sph_harm(m, n, phi, theta)


__all__ = [
    "SphericalConv",
    "SphericalHarmonicTransform",
    "SphericalPool",
    "colatitudes",
    "degree_gains",
    "quadrature_weights",
]


def _check_resolution(resolution: int) -> int:
    """The grid size, if even (the bandwidth is n / 2); ``ValueError`` otherwise."""
    if resolution < 2 or resolution % 2:
        raise ValueError(f"spherical grid resolution must be an even integer >= 2, got {resolution}")
    return int(resolution)


def colatitudes(resolution: int) -> np.ndarray:
    """Polar angles ``theta_j = j pi / n`` of the Driscoll-Healy grid (float64)."""
    return np.arange(_check_resolution(resolution)) * (np.pi / resolution)


def quadrature_weights(resolution: int) -> np.ndarray:
    """Driscoll-Healy weights ``w_j = (2 sqrt2 / n) sin(theta_j) sum_{l<n/2} sin((2l+1) theta_j) / (2l+1)``."""
    theta = colatitudes(resolution)
    odd = 2 * np.arange(resolution // 2) + 1
    series = (np.sin(odd[:, None] * theta[None, :]) / odd[:, None]).sum(axis=0)
    return (2 * math.sqrt(2) / resolution) * np.sin(theta) * series


def degree_gains(resolution: int) -> np.ndarray:
    """Zonal convolution gains ``k_l = 2 pi sqrt(4 pi / (2l + 1))`` for ``l < n / 2``."""
    degrees = np.arange(_check_resolution(resolution) // 2)
    return 2 * np.pi * np.sqrt(4 * np.pi / (2 * degrees + 1))


@cache
def _legendre_table(resolution: int) -> np.ndarray:
    """``Y_lm(theta_j, 0)`` (real) as ``[l, m, j]``, zero for ``m > l``; cached, read-only."""
    bandwidth = _check_resolution(resolution) // 2
    degree, order = np.meshgrid(np.arange(bandwidth), np.arange(bandwidth), indexing="ij")
    valid = order <= degree
    values = sph_harm_y(degree[..., None], np.minimum(order, degree)[..., None], colatitudes(resolution), 0.0)
    table = np.where(valid[..., None], values.real, 0.0)
    table.setflags(write=False)
    return table


@cache
def _real_dft_matrices(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal transforms of orders ``m < L`` as real matrices, rows/columns ordered (real/imag, m).

    ``forward`` ``(2L, n)``: ``[cos(m phi_k); -sin(m phi_k)]``, the unnormalised real FFT's real and
    imaginary parts. ``inverse`` ``(n, 2L)``: ``g_m [cos(m phi_k), -sin(m phi_k)]`` with ``g_0 = 1``,
    ``g_m = 2``: the unnormalised inverse real FFT of orders below ``L`` (DC counted once, its
    imaginary part ignored, as ``irfft`` does)."""
    bandwidth = _check_resolution(resolution) // 2
    angles = 2 * np.pi * np.outer(np.arange(bandwidth), np.arange(resolution)) / resolution  # (m, k)
    forward = np.concatenate([np.cos(angles), -np.sin(angles)], axis=0)
    gains = np.where(np.arange(bandwidth) == 0, 1.0, 2.0)[:, None]
    inverse = np.concatenate([gains * np.cos(angles), -gains * np.sin(angles)], axis=0).T
    for table in (forward, inverse):
        table.setflags(write=False)
    return forward, inverse


@cache
def _analysis_matrix(resolution: int) -> np.ndarray:
    """Polar half of the forward transform: ``(2 sqrt2 pi / n) w_j Y_lm(theta_j, 0)`` as ``[l, m, j]``."""
    scale = 2 * math.sqrt(2) * math.pi / resolution
    matrix = scale * quadrature_weights(resolution) * _legendre_table(resolution)
    matrix.setflags(write=False)
    return matrix


def _buffer(table: np.ndarray) -> torch.Tensor:
    """Float64 tensor of a constant table; modules cast it to the signal's dtype at use."""
    return torch.tensor(table, dtype=torch.float64)


class SphericalHarmonicTransform(nn.Module):
    """Forward and inverse spherical harmonic transform of real signals on an ``n x n`` grid.

    ``forward``: ``(..., n, n)`` real ``[azimuth, polar]`` -> ``(..., L, L)`` complex ``[l, m]``.
    ``inverse``: the reverse. The ``*_real`` variants keep real and imaginary parts in a trailing
    dimension of size 2, which is what the convolution uses to stay in real arithmetic.
    """

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.resolution = _check_resolution(resolution)
        self.bandwidth = resolution // 2
        # Non-persistent: derived from the resolution, so checkpoints hold learned tensors only.
        # Kept in float64 and cast at use, so the same module serves float32 and exact float64 runs.
        self.register_buffer("analysis", _buffer(_analysis_matrix(resolution)), persistent=False)
        self.register_buffer("synthesis", _buffer(_legendre_table(resolution)), persistent=False)
        dft, idft = _real_dft_matrices(resolution)
        self.register_buffer("dft", _buffer(dft), persistent=False)
        self.register_buffer("idft", _buffer(idft), persistent=False)

    def _check_grid(self, signal: torch.Tensor) -> None:
        if signal.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(
                f"expected a (..., {self.resolution}, {self.resolution}) spherical signal, got {tuple(signal.shape)}"
            )

    def forward_real(self, signal: torch.Tensor) -> torch.Tensor:
        """Coefficients ``c_lm`` as a real ``(..., L, L, 2)`` tensor (``[l, m, real/imag]``)."""
        self._check_grid(signal)
        # Azimuthal sum: sum_k f e^{-i m phi_k} is the unnormalised real FFT over azimuth, orders m < L.
        spectrum = torch.fft.rfft(signal, dim=-2)[..., : self.bandwidth, :]
        spectrum = torch.view_as_real(spectrum)  # (..., m, j, 2)
        return torch.einsum("...mjr,lmj->...lmr", spectrum, self.analysis.to(spectrum.dtype))

    def inverse_real(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Signal from a real ``(..., L, L, 2)`` coefficient tensor (see :meth:`forward_real`)."""
        spectrum = torch.einsum("...lmr,lmj->...mjr", coefficients, self.synthesis.to(coefficients.dtype))
        spectrum = torch.view_as_complex(spectrum.contiguous())
        # norm="forward" leaves the synthesis unscaled; irfft zero-fills orders L..n/2 and counts the
        # DC term once (real part only), which is the reference's 2 Re(c'_l0) with c'_l0 = c_l0 / 2.
        return torch.fft.irfft(spectrum, n=self.resolution, dim=-2, norm="forward")

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        """Complex coefficients ``(..., L, L)`` indexed ``[l, m]`` (zero where ``m > l``)."""
        return torch.view_as_complex(self.forward_real(signal).contiguous())

    def inverse(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Real signal ``(..., n, n)`` from complex coefficients ``(..., L, L)`` (entries ``m > l`` ignored)."""
        return self.inverse_real(torch.view_as_real(coefficients))


def _anchor_interpolation(num_anchors: int, bandwidth: int) -> np.ndarray:
    """``(L, anchors)`` matrix of linear interpolation from anchors at ``linspace(0, 1, anchors)`` to
    degrees at ``linspace(0, 1, L)``: column ``a`` is the interpolant of the ``a``-th unit vector."""
    anchor_positions = np.linspace(0.0, 1.0, num_anchors)
    degree_positions = np.linspace(0.0, 1.0, bandwidth)
    return np.stack([np.interp(degree_positions, anchor_positions, unit) for unit in np.eye(num_anchors)], axis=1)


class SphericalConv(nn.Module):
    """Rotation-equivariant zonal spherical convolution, applied in the spectral domain.

    ``out_lm^d = sum_c k_l f_lm^c w_l^{c,d}`` with ``k_l = 2 pi sqrt(4 pi / (2l + 1))`` and ``w_l``
    linearly interpolated from ``min(num_anchors, n / 2)`` learned anchors (smooth spectra, i.e.
    localised filters); then the inverse transform plus a per-channel bias. No activation.
    """

    def __init__(self, in_channels: int, out_channels: int, resolution: int, num_anchors: int = 8) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.transform = SphericalHarmonicTransform(resolution)
        bandwidth = self.transform.bandwidth
        self.num_anchors = min(num_anchors, bandwidth)
        self.weight = nn.Parameter(torch.empty(self.num_anchors, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        # k_l folded into the interpolation: (L, anchors) maps anchors to the gains k_l w_l.
        filter_basis = degree_gains(resolution)[:, None] * _anchor_interpolation(self.num_anchors, bandwidth)
        self.register_buffer("filter_basis", _buffer(filter_basis), persistent=False)
        self.reset_parameters()

    @property
    def resolution(self) -> int:
        """Grid size ``n`` of the input and output signals."""
        return self.transform.resolution

    def reset_parameters(self) -> None:
        """Reference init: truncated normal (2 std) with ``std = 2 / (2 pi sqrt((n/2) c_in))``, zero bias."""
        std = 2.0 / (2.0 * math.pi * math.sqrt(self.transform.bandwidth * self.in_channels))
        nn.init.trunc_normal_(self.weight, std=std, a=-2.0 * std, b=2.0 * std)
        nn.init.zeros_(self.bias)

    def spectral_filter(self) -> torch.Tensor:
        """Per-degree channel mixing ``k_l w_l`` as ``(L, in_channels, out_channels)``."""
        return torch.einsum("la,acd->lcd", self.filter_basis.to(self.weight.dtype), self.weight)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        """``(..., C_in, n, n)`` -> ``(..., C_out, n, n)``.

        The transform, mixing and inverse of :meth:`forward_spectral`, as five matrix products:
        azimuthal DFT, polar analysis per order ``m``, channel mixing per degree ``l``, polar
        synthesis per ``m``, inverse DFT (``r`` below is real/imaginary)."""
        if signal.dim() < 3 or signal.shape[-3] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got shape {tuple(signal.shape)}")
        transform = self.transform
        transform._check_grid(signal)
        n, bandwidth, channels, out_channels = self.resolution, transform.bandwidth, self.in_channels, self.out_channels
        x = signal.reshape(-1, channels, n, n)
        batch, dtype = x.shape[0], x.dtype
        spectrum = torch.matmul(transform.dft.to(dtype), x)  # (B, C, [r m], j)
        spectrum = spectrum.reshape(batch * channels * 2, bandwidth, n).transpose(0, 1)  # (m, [B C r], j)
        coefficients = torch.bmm(spectrum, transform.analysis.to(dtype).permute(1, 2, 0))  # (m, [B C r], l)
        coefficients = coefficients.reshape(bandwidth, batch, channels, 2, bandwidth).permute(4, 0, 1, 3, 2)
        mixed = torch.bmm(coefficients.reshape(bandwidth, -1, channels), self.spectral_filter())  # (l, [m B r], d)
        mixed = mixed.reshape(bandwidth, bandwidth, -1).permute(1, 2, 0)  # (m, [B r d], l)
        spectrum = torch.bmm(mixed, transform.synthesis.to(dtype).permute(1, 0, 2))  # (m, [B r d], j)
        spectrum = spectrum.reshape(bandwidth, batch, 2, out_channels, n).permute(1, 3, 2, 0, 4)
        output = torch.matmul(transform.idft.to(dtype), spectrum.reshape(batch, out_channels, 2 * bandwidth, n))
        return (output + self.bias[:, None, None]).reshape(*signal.shape[:-3], out_channels, n, n)

    def forward_spectral(self, signal: torch.Tensor) -> torch.Tensor:
        """The same convolution through the FFT-based :class:`SphericalHarmonicTransform` (the
        formula :meth:`forward` computes, kept as its reference)."""
        coefficients = self.transform.forward_real(signal)  # (B, C_in, l, m, 2)
        mixed = torch.einsum("...clmr,lcd->...dlmr", coefficients, self.spectral_filter())
        return self.transform.inverse_real(mixed) + self.bias[:, None, None]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, resolution={self.resolution}, num_anchors={self.num_anchors}"
        )


def _area_weights(resolution: int, like: torch.Tensor) -> torch.Tensor:
    """``sin(theta_j + pi / (2n))``: the relative area of the cells of polar row ``j`` (never zero)."""
    centres = (torch.arange(resolution, dtype=torch.float64, device=like.device) + 0.5) * (math.pi / resolution)
    return torch.sin(centres).to(like.dtype)


class SphericalPool(nn.Module):
    """Area-weighted 2x2 average pooling: ``(B, C, n, n)`` -> ``(B, C, n/2, n/2)``.

    As in the reference, the signal is multiplied by the cell-centre ``sin`` weights of its own
    grid, averaged over 2x2 blocks and divided by the weights of the coarse grid. A constant ``c``
    therefore becomes ``c cos(pi / (2n))``, not ``c``, since the two fine rows' weights average to
    ``cos(pi / 2n)`` times the coarse row's weight.
    """

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        resolution = signal.shape[-1]
        if signal.shape[-2] != resolution or resolution % 2:
            raise ValueError(f"expected a (..., n, n) spherical signal with even n, got {tuple(signal.shape)}")
        pooled = F.avg_pool2d(signal * _area_weights(resolution, signal), kernel_size=2)
        return pooled / _area_weights(resolution // 2, signal)
