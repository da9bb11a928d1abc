"""Inference backends of the un-refined network passes: PyTorch or ONNX Runtime.

:class:`~dualposenet_ros.inference.pipeline.PoseEstimator` runs every centring pass through one backend:
``torch`` (the model itself, or a reduced-precision copy, see :mod:`dualposenet_ros.model.precision`)
or ``onnxruntime`` (the model exported by :mod:`dualposenet_ros.inference.onnx_export`, run by an ONNX
Runtime session on the CPU, or on CUDA where onnxruntime-gpu provides it). Both return the same
:class:`NetworkResult`. Test-time refinement needs gradients, which an ONNX Runtime session does
not give: it always runs on the PyTorch model the estimator keeps (the backend only provides the
passes before it and the feature refinement starts from).
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

import numpy as np
import torch

from ..core.choice import Choice
from ..model.network import DualPoseNet, PoseOutput
from ..model.precision import Precision, reduced_precision_copy

__all__ = ["Backend", "NetworkResult", "InferenceBackend", "OnnxRuntimeBackend", "TorchBackend", "create_backend"]

LOGGER = logging.getLogger(__name__)


class Backend(Choice):
    """Runtime of the un-refined network passes."""

    TORCH = "torch"
    ONNXRUNTIME = "onnxruntime"


class NetworkResult(NamedTuple):
    """Feature (B, D), explicit pose, and the implicit canonical points (B, P, 3) when asked for."""

    feature: torch.Tensor
    pose: PoseOutput
    canonical_points: torch.Tensor | None


class InferenceBackend(Protocol):
    name: str

    def __call__(self, distance_map: torch.Tensor, rgb_map: torch.Tensor, points: torch.Tensor | None = None,
                 amp: bool = False) -> NetworkResult:
        """Encode the maps, decode the pose, and the canonical points of ``points`` if given
        (``amp``: bfloat16 autocast of the encoder on CUDA, where the backend supports it)."""
        ...


class TorchBackend:
    """The PyTorch model, or its copy in ``precision``."""

    name = "torch"

    def __init__(self, model: DualPoseNet, precision: Precision | str = Precision.FP32) -> None:
        self.precision = Precision.parse(precision)
        self.model = reduced_precision_copy(model, self.precision)

    def __call__(self, distance_map: torch.Tensor, rgb_map: torch.Tensor, points: torch.Tensor | None = None,
                 amp: bool = False) -> NetworkResult:
        autocast = torch.autocast("cuda", torch.bfloat16, enabled=amp and distance_map.device.type == "cuda")
        with torch.no_grad():
            with autocast:
                feature = self.model.encode(distance_map, rgb_map)
            feature = feature.float()
            pose = self.model.decode_pose(feature)
            canonical = None if points is None else self.model.decode_canonical(feature, points)
        return NetworkResult(feature, pose, canonical)


def _providers(device: torch.device) -> list[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device.type == "cuda":
        if "CUDAExecutionProvider" in available:  # TensorRT first where onnxruntime-gpu was built with it
            preferred = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
            return [provider for provider in preferred if provider in available]
        LOGGER.warning("onnxruntime has no CUDA execution provider here (install onnxruntime-gpu): using its CPU one")
    return ["CPUExecutionProvider"]


class OnnxRuntimeBackend:
    """The model exported to ONNX and run by an ONNX Runtime session (float32)."""

    name = "onnxruntime"

    def __init__(self, model: DualPoseNet, device: torch.device, precision: Precision | str = Precision.FP32) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError("backend onnxruntime needs the onnxruntime package: pip install onnxruntime "
                              "(or onnxruntime-gpu)") from error
        if Precision.parse(precision) is not Precision.FP32:
            raise ValueError(f"backend onnxruntime runs the float32 graph; precision "
                             f"{Precision.parse(precision).value} is for backend torch")
        from .onnx_export import export_onnx

        self.device = device
        self.num_points = model.config.num_points
        options = onnxruntime.SessionOptions()
        # As many threads as torch's passes (the node's `threads`), not ONNX Runtime's count of the machine's cores.
        options.intra_op_num_threads = torch.get_num_threads()
        # No busy-waiting between operators: in a node the DDS and executor threads need the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(export_onnx(model), options, providers=_providers(device))

    def __call__(self, distance_map: torch.Tensor, rgb_map: torch.Tensor, points: torch.Tensor | None = None,
                 amp: bool = False) -> NetworkResult:
        batch = distance_map.shape[0]
        observed = points if points is not None else distance_map.new_zeros(batch, 1, 3)
        inputs = {"distance_map": distance_map, "rgb_map": rgb_map, "points": observed}
        feeds = {name: tensor.detach().float().cpu().numpy() for name, tensor in inputs.items()}
        quaternion, translation, size, canonical, feature = (
            torch.from_numpy(np.asarray(value)).to(self.device) for value in self.session.run(None, feeds))
        return NetworkResult(feature, PoseOutput(quaternion, translation, size),
                             canonical if points is not None else None)



def create_backend(model: DualPoseNet, device: torch.device, backend: Backend | str = Backend.TORCH,
                   precision: Precision | str = Precision.FP32) -> InferenceBackend:
    """The backend named ``backend`` for ``model`` (already on ``device``)."""
    if Backend.parse(backend) is Backend.ONNXRUNTIME:
        return OnnxRuntimeBackend(model, device, precision)
    return TorchBackend(model, precision)
