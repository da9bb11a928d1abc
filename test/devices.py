"""Devices the model-code tests run on: the CPU always, CUDA where a GPU is present."""

from __future__ import annotations

import pytest
import torch

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                             reason="no CUDA device on this machine")),
]
"""``@pytest.mark.parametrize("device", DEVICES)``: one test per device."""
