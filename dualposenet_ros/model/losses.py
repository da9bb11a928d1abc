"""Training and pose-consistency losses (DualPoseNet, section 3 of the paper).

Both are Huber losses with delta 1, as in the reference implementation (``tf.losses.huber_loss``,
mean over all elements).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ..core.rotations import quaternion_to_matrix
from .network import NetworkOutput

SCALE_EPS = 1e-10
"""Added to the object scale before dividing, as the reference does, so a zero size stays finite."""


def explicit_canonical_points(points: torch.Tensor, quaternion: torch.Tensor, translation: torch.Tensor,
                              size: torch.Tensor) -> torch.Tensor:
    """Map observed (B, P, 3) points into the object frame with an explicit pose.

    ``q_i = R_q (p_i - t) / s`` with ``R_q = quaternion_to_matrix(q)`` (the camera-to-object
    rotation the network predicts) and ``s = ||size||``.
    """
    rotation = quaternion_to_matrix(quaternion)
    scale = size.norm(dim=-1) + SCALE_EPS
    centred = points - translation.unsqueeze(-2)
    return torch.einsum("...ij,...pj->...pi", rotation, centred) / scale[..., None, None]


def training_loss(output: NetworkOutput, targets: Mapping[str, torch.Tensor], *, rotation_weight: float = 1.0,
                  translation_weight: float = 1.0, size_weight: float = 1.0, implicit_weight: float = 10.0,
                  delta: float = 1.0) -> dict[str, torch.Tensor]:
    """Supervised loss of one batch; returns the weighted ``total`` and each unweighted component.

    ``targets`` holds ``quaternion`` (B, 4), ``translation`` (B, 3), ``size`` (B, 3) and either
    ``canonical_points`` (B, P, 3) or the observed ``points`` (B, P, 3), from which the ground-truth
    canonical points are made with the ground-truth pose (what the reference graph does).
    """
    missing = [key for key in ("quaternion", "translation", "size") if key not in targets]
    if missing:
        raise KeyError(f"training targets lack {', '.join(missing)}")
    canonical = targets.get("canonical_points")
    if canonical is None:
        if "points" not in targets:
            raise KeyError("training targets need 'canonical_points' or the observed 'points'")
        canonical = explicit_canonical_points(targets["points"], targets["quaternion"], targets["translation"],
                                              targets["size"])
    losses = {
        "rotation": F.huber_loss(output.quaternion, targets["quaternion"], delta=delta),
        "translation": F.huber_loss(output.translation, targets["translation"], delta=delta),
        "size": F.huber_loss(output.size, targets["size"], delta=delta),
        "implicit": F.huber_loss(output.canonical_points, canonical, delta=delta),
    }
    losses["total"] = (rotation_weight * losses["rotation"] + translation_weight * losses["translation"]
                       + size_weight * losses["size"] + implicit_weight * losses["implicit"])
    return losses


def consistency_loss(canonical_explicit: torch.Tensor, canonical_implicit: torch.Tensor,
                     valid: torch.Tensor | None = None, delta: float = 1.0) -> torch.Tensor:
    """Per-instance (B,) Huber disagreement between the explicit and implicit canonical points.

    This is the self-supervised objective of test-time refinement and the residual reported with
    each pose. ``valid`` (B, P) masks padded points out of the mean (an instance with no valid
    point gets 0).
    """
    per_point = F.huber_loss(canonical_explicit, canonical_implicit, reduction="none", delta=delta).mean(-1)
    if valid is None:
        return per_point.mean(-1)
    weights = valid.to(per_point.dtype)
    return (per_point * weights).sum(-1) / weights.sum(-1).clamp_min(1.0)
