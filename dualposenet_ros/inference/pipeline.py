"""The inference pipeline: one path from an RGB-D frame with instance masks to object poses.

Used by ``dualposenet test`` (all three phases), the benchmark and the ROS node alike.
Per frame, every instance is estimated in the same batch:

1. back-project each mask's depth (NOCS camera frame, metres) and take its normalised colours;
   an instance with at most ``min_points`` (32) points gets an identity pose and unit size;
2. the centring passes of the original test phase, ``passes`` (3) at most: pass k centres the
   instance's current point set, builds the spherical maps (all instances in one call), runs the
   network on the batch and maps *all* of the instance's back-projected points (not only the
   current set) into the canonical frame with this pass's explicit pose,
   ``q_i = R_q (p_i - t) / s``; those with ``|q_i| < inlier_radius`` (0.6), with their colours,
   are the next pass's set. The passes go on only while more than ``min_points`` points qualify;
   otherwise this pass's prediction stands;
3. optionally refine the last pass (``refine.py``; as in the original, only instances that ran
   every pass are refined), then convert to the optical frame. The residual of an instance whose
   passes stopped early comes from its last pass run again with the implicit decoder (rare: the
   earlier passes skip that decoder).

The network passes run through a backend (``backends.py``): PyTorch in float32, bfloat16 or int8
(``precision``), or ONNX Runtime; refinement always runs on the float32 PyTorch model.

Point sampling uses a generator seeded per (seed, instance id, pass), so an instance gets the
same estimate whether it is processed alone or with others.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.categories import NOCS_CATEGORIES, CategorySet, categories_from_metadata
from ..core.estimates import EstimateStatus, FrameInput, ObjectEstimate, RefineMode
from ..core.frames import FLIP_XY
from ..core.rotations import quaternion_to_matrix
from ..model.checkpoint import load_checkpoint
from ..model.losses import consistency_loss, explicit_canonical_points
from ..model.network import DualPoseNet, PoseOutput
from ..model.precision import Precision
from ..model.preprocess import backproject, normalize_rgb, sample_point_indices, spherical_maps, spherical_maps_batch
from .backends import Backend, create_backend
from .refine import (ENCODER_DEFAULTS, FEATURE_DEFAULTS, RefineResult, RefineSettings, objects_per_chunk,
                     refine_encoder_in_chunks, refine_feature)

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimatorSettings:
    """How frames are estimated; every field is exposed by the CLI and the ROS node."""

    min_points: int = 32
    """Instances with at most this many valid depth points get status TOO_FEW_POINTS; the centring
    passes go on only while more than this many points qualify."""
    passes: int = 3
    """Centring passes at most; each takes the instance's points its predecessor's pose puts inside
    ``inlier_radius``."""
    inlier_radius: float = 0.6
    """Canonical-frame radius (object diagonals) of the points taken for the next pass."""
    refine: RefineMode = RefineMode.NONE
    refine_encoder: RefineSettings = ENCODER_DEFAULTS
    refine_feature: RefineSettings = FEATURE_DEFAULTS
    seed: int = 0
    amp: bool = False
    """bfloat16 autocast of the un-refined network passes on CUDA."""
    refine_time_budget: float = 0.0
    """Seconds refinement may take per frame; then it keeps the best pose so far (0 = no limit)."""
    residual_points: int = 0
    """Points per object of the consistency residual of an un-refined estimate (0 = all the
    ``num_points`` sampled ones). The pose does not depend on it; the implicit decoder's per-point
    layers, run only for this residual, are the costliest part of the last pass of a large model."""
    refine_memory_budget_mb: float = 2048.0
    """Memory encoder refinement may hold: a frame's objects are refined in chunks that fit it
    (about five encoders per object, ``refine.encoder_bytes_per_object``); the poses do not
    depend on it. 0 = all objects at once. Running out of memory halves the chunk in any case."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "refine", RefineMode.parse(self.refine))
        if (self.min_points < 0 or self.passes < 1 or not self.inlier_radius > 0 or self.seed < 0
                or not self.refine_time_budget >= 0 or self.residual_points < 0
                or not self.refine_memory_budget_mb >= 0):
            raise ValueError(f"invalid estimator settings: min_points={self.min_points} (>= 0), "
                             f"passes={self.passes} (>= 1), inlier_radius={self.inlier_radius} (> 0), "
                             f"seed={self.seed} (>= 0), refine_time_budget={self.refine_time_budget} (>= 0), "
                             f"residual_points={self.residual_points} (>= 0), "
                             f"refine_memory_budget_mb={self.refine_memory_budget_mb} (>= 0)")

    def replace(self, **changes) -> "EstimatorSettings":
        return dataclasses.replace(self, **changes)


def resolve_device(device: str | torch.device = "auto", warn: Callable[[str], object] | None = None) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU falls back with a warning
    (to ``warn``, e.g. a ROS logger's, else this module's logger)."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        (warn or LOGGER.warning)(f"device {name!r} requested but CUDA is not available: using the CPU")
        return torch.device("cpu")
    return torch.device(name)


@dataclass
class _Observation:
    """Back-projected points (NOCS camera frame, metres) and normalised colours of one instance."""

    index: int  # position in FrameInput.instances
    points: np.ndarray
    colors: np.ndarray


@dataclass
class _PassResult:
    pose: PoseOutput  # translation relative to the centroid
    centroid: torch.Tensor  # (B, 3) float64
    residual: torch.Tensor  # (B,)
    num_points: torch.Tensor  # (B,)
    refined: torch.Tensor  # (B,) bool


def _merge(parts: list[tuple[list[int], _PassResult]], batch: int) -> _PassResult:
    """One result of ``batch`` rows from results of disjoint row subsets."""
    if len(parts) == 1 and parts[0][0] == list(range(batch)):
        return parts[0][1]

    def gather(pick: Callable[[_PassResult], torch.Tensor]) -> torch.Tensor:
        first = pick(parts[0][1])
        merged = first.new_zeros((batch, *first.shape[1:]))
        for rows, part in parts:
            merged[torch.as_tensor(rows, device=first.device)] = pick(part)
        return merged

    pose = PoseOutput(*(gather(lambda part, field=field: part.pose[field]) for field in range(3)))
    return _PassResult(pose, gather(lambda part: part.centroid), gather(lambda part: part.residual),
                       gather(lambda part: part.num_points), gather(lambda part: part.refined))


class PoseEstimator:
    """Estimates the pose and size of every instance of a frame with one DualPoseNet."""

    def __init__(self, model: DualPoseNet, device: str | torch.device = "auto",
                 settings: EstimatorSettings | None = None, precision: Precision | str = Precision.FP32,
                 backend: Backend | str = Backend.TORCH, categories: CategorySet = NOCS_CATEGORIES) -> None:
        """``precision`` (torch backend) and ``backend`` choose how the un-refined network passes
        run (``backends.py``); they are fixed for the estimator's life, unlike ``settings``.
        ``categories`` are those the model was trained on: they name the class ids of the input."""
        self.device = resolve_device(device)
        self.categories = categories
        self.model = model.to(self.device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)  # refinement optimises copies, never the model
        self.settings = settings or EstimatorSettings()
        self.precision, self.backend_name = Precision.parse(precision), Backend.parse(backend)
        self.network = create_backend(self.model, self.device, self.backend_name, self.precision)
        self.last_refine_stopped: str | None = None
        """Why refinement of the last frame stopped early ("time budget", "cancelled") or None."""
        self._should_stop: Callable[[], bool] | None = None
        self._encoder_chunk_after_oom: int | None = None
        """Objects refined at a time since encoder refinement last ran out of memory (None: never)."""

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | torch.device = "auto",
                        settings: EstimatorSettings | None = None, precision: Precision | str = Precision.FP32,
                        backend: Backend | str = Backend.TORCH) -> "PoseEstimator":
        """Load a checkpoint (default: the shipped model) onto ``device``."""
        if path is None:
            from ..models import default_checkpoint

            path = default_checkpoint()
        model, metadata = load_checkpoint(path)
        return cls(model, device, settings, precision, backend, categories_from_metadata(metadata))

    @property
    def resolution(self) -> int:
        return self.model.config.resolution

    def estimate(self, frame: FrameInput, refine: RefineMode | str | None = None,
                 should_stop: Callable[[], bool] | None = None) -> list[ObjectEstimate]:
        """Pose and size of every instance of ``frame``, in its order, in the optical frame.

        ``should_stop`` is checked between refinement iterations: when it returns True, refinement
        ends with the best pose so far (the caller, e.g. a node shutting down, may then discard the
        frame)."""
        mode = self.settings.refine if refine is None else RefineMode.parse(refine)
        for instance in frame.instances:
            if instance.class_id not in self.categories:
                raise ValueError(f"unknown class id {instance.class_id} of instance {instance.instance_id}: this model "
                                 f"knows 1..{len(self.categories)} ({', '.join(self.categories.names)})")
        self.last_refine_stopped, self._should_stop = None, should_stop
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0.0).astype(np.float32)
        observations, estimates = [], {}
        for index, instance in enumerate(frame.instances):
            points, (rows, cols) = backproject(depth, frame.intrinsics, instance.mask, frame.distortion)
            if len(points) <= self.settings.min_points:
                estimates[index] = self._too_few_points(index, frame, points)
            else:
                observations.append(_Observation(index, points, normalize_rgb(frame.rgb[rows, cols])))
        if observations:
            result = self._estimate_batch(observations, frame, mode)
            estimates.update(self._to_estimates(observations, frame, result))
        return [estimates[index] for index in range(len(frame.instances))]

    # -- batched passes -------------------------------------------------------------------

    def _estimate_batch(self, observations: list[_Observation], frame: FrameInput, mode: RefineMode) -> _PassResult:
        """The centring passes of every instance in one batch (see the module docstring), then the
        final evaluation of each instance's last pass: its residual, or its refinement."""
        settings, batch = self.settings, len(observations)
        points, colors, observed = self._pad(observations)
        instance_ids = [frame.instances[obs.index].instance_id or obs.index + 1 for obs in observations]
        current, last_pass = observed, [settings.passes - 1] * batch
        running = torch.arange(batch, device=self.device)
        for pass_index in range(settings.passes - 1):
            pose, centroid = self._explicit_pass(points[running], colors[running], current[running])
            inside = self._inside(points[running], observed[running], pose, centroid)
            enough = inside.sum(dim=1) > settings.min_points
            for row in running[~enough].tolist():  # too few qualify: this pass's prediction stands
                last_pass[row] = pass_index
            current = current.clone()
            current[running[enough]] = inside[enough]
            running = running[enough]
            if not len(running):
                break
        complete = [row for row in range(batch) if last_pass[row] == settings.passes - 1]
        stopped = [row for row in range(batch) if last_pass[row] < settings.passes - 1]
        parts = []
        for rows, row_mode in ((complete, mode), (stopped, RefineMode.NONE)):  # the original refines complete ones
            if rows:
                index = torch.as_tensor(rows, device=self.device)
                parts.append((rows, self._final_pass(points[index], colors[index], current[index],
                                                     [instance_ids[row] for row in rows],
                                                     [last_pass[row] for row in rows], row_mode)))
        return _merge(parts, batch)

    def _pad(self, observations: list[_Observation]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        count = max(len(obs.points) for obs in observations)
        points = np.zeros((len(observations), count, 3), np.float32)
        colors = np.zeros_like(points)
        valid = np.zeros((len(observations), count), bool)
        for row, obs in enumerate(observations):
            points[row, : len(obs.points)] = obs.points
            colors[row, : len(obs.points)] = obs.colors
            valid[row, : len(obs.points)] = True
        to = dict(device=self.device)
        return torch.from_numpy(points).to(**to), torch.from_numpy(colors).to(**to), torch.from_numpy(valid).to(**to)

    def _sample(self, valid: torch.Tensor, instance_ids: list[int], pass_indices: list[int]) -> torch.Tensor:
        """(B, P) indices of the points fed to the implicit decoder, seeded per instance and pass."""
        rows = []
        for row, (instance_id, pass_index) in enumerate(zip(instance_ids, pass_indices)):
            candidates = torch.nonzero(valid[row]).squeeze(1)
            rng = np.random.default_rng([self.settings.seed, instance_id, pass_index])
            choice = sample_point_indices(len(candidates), self.model.config.num_points, rng)
            rows.append(candidates[torch.from_numpy(choice).to(candidates.device)])
        return torch.stack(rows)

    @staticmethod
    def _centre(points: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3) float64 centroid of each current point set and the (B, N, 3) centred points
        (zero outside the set)."""
        points64, weights = points.double(), valid.to(torch.float64)[..., None]
        centroid = (points64 * weights).sum(1) / weights.sum(1)
        return centroid, ((points64 - centroid[:, None]) * weights).to(points.dtype)

    def _explicit_pass(self, points: torch.Tensor, colors: torch.Tensor,
                       valid: torch.Tensor) -> tuple[PoseOutput, torch.Tensor]:
        """A pass that only needs the explicit pose (to choose the next pass's points)."""
        centroid, centred = self._centre(points, valid)
        distance_map, rgb_map = self._spherical_maps(centred, colors, valid)
        return self.network(distance_map, rgb_map, amp=self.settings.amp).pose, centroid

    def _inside(self, points: torch.Tensor, observed: torch.Tensor, pose: PoseOutput,
                centroid: torch.Tensor) -> torch.Tensor:
        """Every back-projected point (``observed``, not only the pass's set) that ``pose`` maps
        within ``inlier_radius`` of the canonical origin: ``q = R_q (p - c - t) / s`` with ``c`` the
        pass's centroid, in float64 like the original's NumPy."""
        with torch.no_grad():
            rotation = quaternion_to_matrix(pose.quaternion.double())
            translation = centroid + pose.translation.double()
            scale = pose.size.double().norm(dim=-1)
            canonical = torch.einsum("bij,bpj->bpi", rotation, points.double() - translation[:, None])
            return observed & (canonical.norm(dim=-1) / scale[:, None] < self.settings.inlier_radius)

    def _final_pass(self, points: torch.Tensor, colors: torch.Tensor, valid: torch.Tensor, instance_ids: list[int],
                    pass_indices: list[int], mode: RefineMode) -> _PassResult:
        """An instance's last pass with the implicit decoder: its residual, or its refinement."""
        centroid, centred = self._centre(points, valid)
        distance_map, rgb_map = self._spherical_maps(centred, colors, valid)
        sampled = self._sample(valid, instance_ids, pass_indices)
        observed = torch.gather(centred, 1, sampled[..., None].expand(-1, -1, 3))
        refined = torch.full((len(instance_ids),), mode is not RefineMode.NONE, device=self.device)
        budget = self.settings.refine_time_budget
        deadline = time.monotonic() + budget if budget > 0 else None
        if mode is RefineMode.ENCODER:  # its first iteration is the trained encoder's pass
            outcome = self._refine_encoder(distance_map, rgb_map, observed, deadline)
            pose, residual, self.last_refine_stopped = outcome.pose, outcome.loss, outcome.stopped
            if outcome.refined is not None:
                refined = outcome.refined
        elif mode is RefineMode.FEATURE:
            feature = self.network(distance_map, rgb_map, amp=self.settings.amp).feature
            outcome = refine_feature(self.model, feature, observed, self.settings.refine_feature, deadline,
                                     self._should_stop)
            pose, residual, self.last_refine_stopped = outcome.pose, outcome.loss, outcome.stopped
        else:
            # The residual of an un-refined estimate may use fewer points (a prefix of a random sample).
            checked = observed[:, : self.settings.residual_points or None]
            output = self.network(distance_map, rgb_map, checked, amp=self.settings.amp)
            with torch.no_grad():
                pose = output.pose
                explicit = explicit_canonical_points(checked, pose.quaternion, pose.translation, pose.size)
                residual = consistency_loss(explicit, output.canonical_points)
        return _PassResult(pose, centroid, residual, valid.sum(1), refined)

    def _refine_encoder(self, distance_map: torch.Tensor, rgb_map: torch.Tensor, observed: torch.Tensor,
                        deadline: float | None) -> RefineResult:
        """Encoder refinement in chunks within ``refine_memory_budget_mb`` and, once memory ran
        out, within what fitted then."""
        limits = [limit for limit in (objects_per_chunk(self.model, self.settings.refine_memory_budget_mb),
                                      self._encoder_chunk_after_oom) if limit is not None]
        requested = min(limits, default=None)
        outcome, used = refine_encoder_in_chunks(self.model, distance_map, rgb_map, observed,
                                                 self.settings.refine_encoder, deadline, self._should_stop,
                                                 requested)
        if used < min(requested or len(observed), len(observed)):
            self._encoder_chunk_after_oom = used
        return outcome

    def _spherical_maps(self, centred: torch.Tensor, colors: torch.Tensor,
                        valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Maps of all instances: one batched call on an accelerator; on the CPU the NumPy version
        per instance is several times faster than torch's float64 scatter (same values, tested)."""
        if self.device.type != "cpu":
            return spherical_maps_batch(centred, colors, valid, self.resolution)
        # Masks applied in NumPy: torch's boolean indexing of the padded (B, N, 3) tensors cost more
        # than the maps themselves.
        arrays = zip(centred.numpy(), colors.numpy(), valid.numpy())
        maps = [spherical_maps(points[keep], rgb[keep], self.resolution) for points, rgb, keep in arrays]
        distance = torch.from_numpy(np.stack([m[0] for m in maps])).permute(0, 3, 1, 2)
        rgb_map = torch.from_numpy(np.stack([m[1] for m in maps])).permute(0, 3, 1, 2)
        return distance.contiguous(), rgb_map.contiguous()

    # -- conversion to the public result type -------------------------------------------------

    def _to_estimates(self, observations: list[_Observation], frame: FrameInput,
                      result: _PassResult) -> dict[int, ObjectEstimate]:
        camera_to_object = quaternion_to_matrix(result.pose.quaternion).double().cpu().numpy()
        translation = (result.centroid + result.pose.translation.double()).cpu().numpy()
        size = result.pose.size.double().cpu().numpy()
        residual = result.residual.double().cpu().numpy()
        num_points = result.num_points.cpu().numpy()
        refined = result.refined.cpu().numpy()
        estimates = {}
        for row, obs in enumerate(observations):
            instance = frame.instances[obs.index]
            estimates[obs.index] = ObjectEstimate(
                instance_id=instance.instance_id, class_id=instance.class_id, score=float(instance.score),
                rotation=FLIP_XY @ camera_to_object[row].T, translation=FLIP_XY @ translation[row],
                size=np.abs(size[row]), consistency_residual=float(residual[row]),
                num_points=int(num_points[row]), refined=bool(refined[row]), categories=self.categories)
        return estimates

    def _too_few_points(self, index: int, frame: FrameInput, points: np.ndarray) -> ObjectEstimate:
        """Identity pose and unit size at the centroid of the valid points; with none, on the ray
        through the mask's centroid pixel at the frame's median valid depth (1 m without any)."""
        instance = frame.instances[index]
        if len(points):
            centroid = points.astype(np.float64).mean(0)
        else:
            centroid = mask_centroid_point(frame, instance.mask)
        return ObjectEstimate(
            instance_id=instance.instance_id, class_id=instance.class_id, score=float(instance.score),
            rotation=np.eye(3), translation=FLIP_XY @ centroid, size=np.ones(3),
            consistency_residual=float("nan"), num_points=len(points), status=EstimateStatus.TOO_FEW_POINTS,
            categories=self.categories)


def mask_centroid_point(frame: FrameInput, mask: np.ndarray) -> np.ndarray:
    """NOCS-camera-frame point on the ray through the centroid pixel of ``mask``, at the median
    valid depth of the frame (1 m when the frame has no valid depth)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:  # no mask pixel at all: the optical axis
        rows, cols = np.array([frame.intrinsics.cy]), np.array([frame.intrinsics.cx])
    depth = frame.depth[np.isfinite(frame.depth) & (frame.depth > 0)]
    z = float(np.median(depth)) if depth.size else 1.0
    centre = np.zeros(mask.shape, bool)
    height, width = mask.shape
    centre[min(max(int(round(rows.mean())), 0), height - 1), min(max(int(round(cols.mean())), 0), width - 1)] = True
    point, _ = backproject(np.full(mask.shape, z, np.float32), frame.intrinsics, centre, frame.distortion)
    return point[0].astype(np.float64)
