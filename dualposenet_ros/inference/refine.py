"""Refined learning of pose consistency at test time (the paper's refined learning), batched over instances.

The explicit decoder's canonical points (observed points mapped by the predicted pose) and the
implicit decoder's canonical points should agree; their Huber disagreement is a self-supervised
loss that can be minimised per instance at test time. Two modes:

* ``feature``: optimise only the pose-sensitive feature of each instance, starting from the
  encoder's output (cheap);
* ``encoder``: optimise a private copy of the encoder's parameters per instance, starting from the
  trained weights, evaluated for all instances at once with ``torch.func.functional_call`` under
  ``torch.func.vmap``. Each copy holds its weights, their gradient and two Adam moments, so memory
  grows by about four encoders per object: :func:`refine_encoder_in_chunks` refines a frame's
  objects in chunks that fit a memory budget, and in smaller ones when memory runs out.

The semantics are the original implementation's, per instance (``docs/refinement.md`` lists what
differs): ``iterations`` forward passes, the first on the unrefined weights or feature; Adam as
TensorFlow 1 applies it (:class:`TfAdam`); the pose with the lowest loss seen is kept; an instance
stops once its best loss is at or under ``threshold``. Every instance starts from the trained
model with fresh optimiser state, and Adam updates are element-wise while the loss is a sum of
per-instance terms, so instances do not influence each other: a batch, chunks of it and one
instance at a time give the same poses. The trained model is never modified: optimisation runs
on detached copies.

Refinement can be stopped from outside between two iterations: ``deadline`` (a
``time.monotonic()`` value, the per-frame time budget of the node and the test phases) or
``should_stop`` (e.g. the node shutting down). It then keeps the best pose seen so far and says why
it stopped (:attr:`RefineResult.stopped`), so a frame costs at most one iteration more than its
budget whatever ``iterations`` says.

Default settings (the reference code uses these names but never defines them): ``feature`` lr
1e-3, 30 iterations, threshold 2e-4; ``encoder`` lr 1e-5, 10 iterations, threshold 2e-4. The
consistency loss is measured in normalised object units, so it also falls when the predicted size
grows: a large feature learning rate lets the feature drift towards larger boxes. Adam's first
steps move every weight by about the learning rate, so the encoder's millions of weights need a
small one. docs/refinement.md gives the measurements behind these choices (one place, with the
commands) and compares this loop with the original's.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.func import functional_call, vmap

from ..model.losses import consistency_loss, explicit_canonical_points
from ..model.network import DualPoseNet, PoseOutput

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefineSettings:
    """Optimiser settings of one refinement mode."""

    learning_rate: float
    iterations: int
    """Forward passes per instance, the first on the unrefined weights or feature (the original's
    ``refine_iteration``): at most ``iterations - 1`` optimiser steps."""
    threshold: float
    """An instance stops once the lowest loss it has seen is at or under this."""

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"refinement learning rate must be positive, got {self.learning_rate}")
        if self.iterations < 0:
            raise ValueError(f"refinement iterations must be >= 0, got {self.iterations}")
        if self.threshold < 0:
            raise ValueError(f"refinement threshold must be >= 0, got {self.threshold}")


FEATURE_DEFAULTS = RefineSettings(learning_rate=1e-3, iterations=30, threshold=2e-4)
ENCODER_DEFAULTS = RefineSettings(learning_rate=1e-5, iterations=10, threshold=2e-4)


@dataclass
class RefineResult:
    """Best pose found per instance and its consistency loss."""

    pose: PoseOutput
    loss: torch.Tensor  # (B,)
    iterations_run: int
    """Optimiser steps taken (the most of any instance)."""
    stopped: str | None = None
    """Why refinement ended before its iterations and threshold: "time budget", "cancelled" or None."""
    feature: torch.Tensor | None = None
    """Feature mode: the (B, D) feature of the kept pose."""
    refined: torch.Tensor | None = None
    """(B,) bool: False for an instance whose refinement could not run (out of memory even alone);
    its pose is then the unrefined one. None: every instance was refined."""


StopCheck = Callable[[], bool]
"""Returns True when refinement must stop now (checked between iterations)."""


class TfAdam:
    """Adam as TensorFlow 1's ``AdamOptimizer`` applies it, on parameters whose leading dimension is
    the instance.

    ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` and ``p -= lr_t * m / (sqrt(v) + epsilon)``:
    epsilon is added to the root of the uncorrected second moment, where ``torch.optim.Adam``
    adds it after bias correction (a difference that matters for tiny gradients). Only the rows of
    ``active`` instances move. One temporary the size of a parameter at a time (``torch.optim``'s
    multi-tensor path allocates one per parameter at once)."""

    def __init__(self, parameters: Sequence[torch.Tensor], learning_rate: float, beta1: float = 0.9,
                 beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.parameters = list(parameters)
        self.learning_rate, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon
        self.first = [torch.zeros_like(p) for p in self.parameters]
        self.second = [torch.zeros_like(p) for p in self.parameters]
        self.steps = 0

    @torch.no_grad()
    def step(self, gradients: Sequence[torch.Tensor], active: torch.Tensor) -> None:
        self.steps += 1
        rate = self.learning_rate * math.sqrt(1 - self.beta2 ** self.steps) / (1 - self.beta1 ** self.steps)
        for parameter, gradient, first, second in zip(self.parameters, gradients, self.first, self.second):
            first.mul_(self.beta1).add_(gradient, alpha=1 - self.beta1)
            second.mul_(self.beta2).addcmul_(gradient, gradient, value=1 - self.beta2)
            update = second.sqrt().add_(self.epsilon)
            torch.div(first, update, out=update)
            update.mul_(active.view(-1, *([1] * (parameter.dim() - 1))).to(update.dtype) * rate)
            parameter.sub_(update)


class _BestTracker:
    """Keeps, per instance, the pose (and optionally a tensor such as the feature) with the lowest loss seen."""

    def __init__(self, pose: PoseOutput, loss: torch.Tensor, state: torch.Tensor | None = None) -> None:
        self.pose = PoseOutput(*(field.detach().clone() for field in pose))
        self.loss = loss.detach().clone()
        self.state = None if state is None else state.detach().clone()

    def update(self, pose: PoseOutput, loss: torch.Tensor, active: torch.Tensor,
               state: torch.Tensor | None = None) -> None:
        """Strictly lower losses of ``active`` instances replace the kept ones (the original's ``<``)."""
        better = (loss.detach() < self.loss) & active
        self.loss = torch.where(better, loss.detach(), self.loss)
        self.pose = PoseOutput(*(torch.where(better[:, None], new.detach(), old)
                                 for new, old in zip(pose, self.pose)))
        if state is not None and self.state is not None:
            self.state = torch.where(better.view(-1, *([1] * (state.dim() - 1))), state.detach(), self.state)


def _stop_reason(deadline: float | None, should_stop: StopCheck | None) -> str | None:
    if should_stop is not None and should_stop():
        return "cancelled"
    if deadline is not None and time.monotonic() >= deadline:
        return "time budget"
    return None


def _optimise(parameters: list[torch.Tensor], evaluate: Callable[[], tuple[PoseOutput, torch.Tensor]],
              settings: RefineSettings, deadline: float | None = None, should_stop: StopCheck | None = None,
              tracked: torch.Tensor | None = None) -> RefineResult:
    """Adam on ``parameters`` (leading dim = instance) minimising the per-instance loss.

    Per instance, as the original's loop: evaluate (the first evaluation is the unrefined pose),
    keep the pose if its loss is the lowest so far, stop once that lowest loss is <= threshold or
    ``iterations`` poses were evaluated, else take a step. ``tracked`` (e.g. the feature) is kept
    alongside the best pose. ``deadline`` / ``should_stop`` end it for all between two iterations."""
    with torch.enable_grad():
        pose, loss = evaluate()
        best = _BestTracker(pose, loss, tracked)
        active = best.loss > settings.threshold
        optimizer = TfAdam(parameters, settings.learning_rate)
        steps, stopped = 0, None
        while steps + 1 < settings.iterations and bool(active.any()):
            stopped = _stop_reason(deadline, should_stop)
            if stopped is not None:
                break
            # autograd.grad, not backward(): the trained model's .grad fields are never touched.
            optimizer.step(torch.autograd.grad(loss.sum(), parameters), active)
            steps += 1
            pose, loss = evaluate()
            best.update(pose, loss, active, tracked)
            active &= best.loss > settings.threshold
    return RefineResult(best.pose, best.loss, steps, stopped, best.state)


def _pose_and_loss(model: DualPoseNet, feature: torch.Tensor, points: torch.Tensor) -> tuple[PoseOutput, torch.Tensor]:
    pose = model.decode_pose(feature)
    explicit = explicit_canonical_points(points, pose.quaternion, pose.translation, pose.size)
    implicit = model.decode_canonical(feature, points)
    return pose, consistency_loss(explicit, implicit)


def refine_feature(model: DualPoseNet, feature: torch.Tensor, points: torch.Tensor,
                   settings: RefineSettings = FEATURE_DEFAULTS, deadline: float | None = None,
                   should_stop: StopCheck | None = None) -> RefineResult:
    """Optimise each instance's (B, D) feature for pose consistency on its (B, P, 3) points; the
    network's weights stay as they are."""
    latent = feature.detach().clone().requires_grad_(True)
    return _optimise([latent], lambda: _pose_and_loss(model, latent, points), settings, deadline, should_stop,
                     tracked=latent)


def refine_encoder(model: DualPoseNet, distance_map: torch.Tensor, rgb_map: torch.Tensor, points: torch.Tensor,
                   settings: RefineSettings = ENCODER_DEFAULTS, deadline: float | None = None,
                   should_stop: StopCheck | None = None) -> RefineResult:
    """Optimise a private copy of the trained encoder per instance, all instances in one vmapped call."""
    batch = distance_map.shape[0]
    names, trained = zip(*model.encoder.named_parameters())
    copies = [parameter.detach().unsqueeze(0).repeat(batch, *([1] * parameter.dim())).requires_grad_(True)
              for parameter in trained]
    buffers = dict(model.encoder.named_buffers())

    def encode_one(params: tuple[torch.Tensor, ...], distance: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        state = {**dict(zip(names, params)), **buffers}
        return functional_call(model.encoder, state, (distance[None], rgb[None]))[0]

    encode_all = vmap(encode_one)

    def evaluate() -> tuple[PoseOutput, torch.Tensor]:
        feature = encode_all(tuple(copies), distance_map, rgb_map)
        return _pose_and_loss(model, feature, points)

    return _optimise(copies, evaluate, settings, deadline, should_stop)


# -- encoder refinement within a memory budget ----------------------------------------------------

ENCODER_STATE_COPIES = 5
"""Encoder-sized tensors one object's encoder refinement holds at its peak: the weights, their
gradient, Adam's two moments and the update's temporary (activations are small next to them;
``dualposenet benchmark --refine-memory`` measures the whole)."""


def encoder_bytes_per_object(model: DualPoseNet) -> int:
    """Estimated peak memory one more object adds to encoder refinement."""
    return ENCODER_STATE_COPIES * sum(p.numel() * p.element_size() for p in model.encoder.parameters())


def objects_per_chunk(model: DualPoseNet, memory_budget_mb: float) -> int | None:
    """How many objects' encoder refinement fits ``memory_budget_mb`` (at least 1; None: no budget)."""
    if memory_budget_mb <= 0:
        return None
    return max(1, int(memory_budget_mb * 2**20 // encoder_bytes_per_object(model)))


def is_out_of_memory(error: BaseException) -> bool:
    """An allocation failure of torch on any device (CUDA raises ``OutOfMemoryError``, the CPU
    allocator a ``RuntimeError`` that says it cannot allocate)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text)


_warned_alone_does_not_fit = False


def _note_alone_does_not_fit() -> None:
    global _warned_alone_does_not_fit
    _warned_alone_does_not_fit = True


def _release_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _unrefined(model: DualPoseNet, distance_map: torch.Tensor, rgb_map: torch.Tensor,
               points: torch.Tensor) -> RefineResult:
    """The pose of the trained encoder, marked not refined."""
    with torch.no_grad():
        pose, loss = _pose_and_loss(model, model.encode(distance_map, rgb_map), points)
    return RefineResult(pose, loss, 0, refined=torch.zeros_like(loss, dtype=torch.bool))


def _concatenate(parts: list[RefineResult]) -> RefineResult:
    pose = PoseOutput(*(torch.cat(fields) for fields in zip(*(part.pose for part in parts))))
    refined = None
    if any(part.refined is not None for part in parts):
        refined = torch.cat([part.refined if part.refined is not None
                             else torch.ones_like(part.loss, dtype=torch.bool) for part in parts])
    stopped = next((part.stopped for part in parts if part.stopped is not None), None)
    return RefineResult(pose, torch.cat([part.loss for part in parts]), max(part.iterations_run for part in parts),
                        stopped, refined=refined)


def refine_encoder_in_chunks(model: DualPoseNet, distance_map: torch.Tensor, rgb_map: torch.Tensor,
                             points: torch.Tensor, settings: RefineSettings = ENCODER_DEFAULTS,
                             deadline: float | None = None, should_stop: StopCheck | None = None,
                             chunk: int | None = None) -> tuple[RefineResult, int]:
    """:func:`refine_encoder` on at most ``chunk`` objects at a time (None: all at once).

    Chunks give the poses of refining all objects together (instances are independent). When
    memory runs out the chunk is halved and retried, with a warning; an object that does not fit
    even alone keeps its unrefined pose (``RefineResult.refined``), so a frame never fails for
    memory. Returns the result and the chunk size that worked (for the next frame)."""
    batch = distance_map.shape[0]
    chunk = batch if chunk is None else max(1, min(chunk, batch))
    parts, start = [], 0
    while start < batch:
        reason = _stop_reason(deadline, should_stop)
        if reason is not None and parts:  # the rest keeps its unrefined pose: no encoder copies past the budget
            rest = slice(start, batch)
            parts.append(dataclasses.replace(_unrefined(model, distance_map[rest], rgb_map[rest], points[rest]),
                                             stopped=reason))
            break
        rows = slice(start, start + chunk)
        out_of_memory = False
        try:  # with the deadline spent, a chunk evaluates its unrefined pose and stops
            part = refine_encoder(model, distance_map[rows], rgb_map[rows], points[rows], settings, deadline,
                                  should_stop)
        except (RuntimeError, MemoryError) as error:
            if not is_out_of_memory(error):
                raise
            out_of_memory = True  # handled below, once the failed attempt's tensors are freed with the traceback
        if out_of_memory:
            _release_memory(distance_map.device)
            if chunk > 1:
                chunk = max(1, chunk // 2)
                LOGGER.warning("encoder refinement ran out of memory: refining %d object(s) at a time from now on "
                               "(lower refine.memory_budget_mb to avoid the retry)", chunk)
                continue
            # Once per process as a warning: on a device this small it would recur every frame.
            log = LOGGER.debug if _warned_alone_does_not_fit else LOGGER.warning
            log("encoder refinement of one object does not fit in memory: its unrefined pose is kept")
            _note_alone_does_not_fit()
            part = _unrefined(model, distance_map[rows], rgb_map[rows], points[rows])
        parts.append(part)
        start += chunk
    return (parts[0] if len(parts) == 1 else _concatenate(parts)), chunk
