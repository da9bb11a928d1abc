"""How well identities and smoothed poses hold over a sequence: switches, jitter, lag.

Per frame the estimates are matched to the ground truth (:func:`~.scoring.match`); then

* **identity switches**: for each true object, the number of times the track id of its matched
  estimate changes from one frame where it is matched to the next (target 0);
* **jitter** (meant for static scenes): mean frame-to-frame change of each track's position (mm)
  and rotation (degrees; for y-symmetric objects the angle between the y axes), over consecutive
  frames where the same track is matched to the same object;
* **error and lag** (meant for moving scenes): mean distance to the true centre (mm), its
  component against the true motion since the previous frame (mm; positive = behind the object)
  and the mean rotation error (degrees; smoothing makes spinning objects lag in rotation).

``dualposenet tracking`` (:func:`run`) renders synthetic sequences, a static one (the same scene
with new sensor noise each frame) and a moving one (objects spin, the camera orbits), estimates
every frame once with the shipped (or given) model, with the segmenter's instance order shuffled
per frame, then runs :class:`~dualposenet_ros.inference.tracking.Tracker` with each smoothing strength and
prints the table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .scoring import Matching, PoseRecord, match, object_error

__all__ = ["SequenceMetrics", "configure_parser", "identity_switches", "jitter", "lag", "run", "sequence_metrics"]


@dataclass(frozen=True)
class SequenceMetrics:
    objects: int  # true objects matched at least once
    switches: int
    jitter_mm: float
    jitter_deg: float
    error_mm: float
    lag_mm: float
    error_deg: float


def identity_switches(frames: Sequence[Matching]) -> tuple[int, int]:
    """(switches, objects): track id changes of the estimates matched to each true object."""
    last: dict[int, int] = {}
    switches = 0
    for matching in frames:
        for error in matching.errors:
            if not error.estimate.ok or error.estimate.track_id == 0:
                continue
            truth, track = error.truth.track_id, error.estimate.track_id
            if truth in last and last[truth] != track:
                switches += 1
            last[truth] = track
    return switches, len(last)


def _pairs(frames: Sequence[Matching]) -> list[tuple[Any, Any]]:
    """(previous, current) ObjectErrors of the same true object and track in consecutive frames."""
    pairs = []
    for previous, current in zip(frames, frames[1:]):
        before = {(e.truth.track_id, e.estimate.track_id): e for e in previous.errors if e.estimate.ok}
        for error in current.errors:
            key = (error.truth.track_id, error.estimate.track_id)
            if error.estimate.ok and key in before:
                pairs.append((before[key], error))
    return pairs


def jitter(frames: Sequence[Matching]) -> tuple[float, float]:
    """Mean frame-to-frame change of the estimates of each object: (mm, degrees)."""
    moves, turns = [], []
    for before, after in _pairs(frames):
        change = object_error(after.estimate, before.estimate)
        moves.append(change.translation_m * 1e3)
        turns.append(change.rotation_deg)
    return (float(np.mean(moves)) if moves else float("nan"), float(np.mean(turns)) if turns else float("nan"))


def lag(frames: Sequence[Matching]) -> tuple[float, float, float]:
    """(mean distance to the truth, mean component of the error against the true motion) in mm,
    and the mean rotation error in degrees."""
    distances, behind, angles = [], [], []
    for before, after in _pairs(frames):
        offset = after.estimate.translation - after.truth.translation
        distances.append(after.translation_m * 1e3)
        angles.append(float(after.rotation_deg))
        motion = after.truth.translation - before.truth.translation
        norm = float(np.linalg.norm(motion))
        if norm > 1e-4:
            behind.append(float(-offset @ motion / norm) * 1e3)
    mean = (lambda values: float(np.mean(values)) if values else float("nan"))
    return mean(distances), mean(behind), mean(angles)


def sequence_metrics(frames: Sequence[Matching]) -> SequenceMetrics:
    switches, objects = identity_switches(frames)
    jitter_mm, jitter_deg = jitter(frames)
    error_mm, lag_mm, error_deg = lag(frames)
    return SequenceMetrics(objects, switches, jitter_mm, jitter_deg, error_mm, lag_mm, error_deg)


# -- the command ---------------------------------------------------------------------------------


def _render_sequences(args: argparse.Namespace) -> list[tuple[str, int, list[Any]]]:
    """(kind, scene index, frames) of each static and moving sequence."""
    from ..core.camera import Intrinsics
    from ..data.synth import SceneSampler, render_scene

    size = (args.width, args.height)
    intrinsics = Intrinsics.CAMERA.resized(args.width / 640.0, args.height / 480.0)
    sampler = SceneSampler(intrinsics=intrinsics, image_size=size)
    sequences = []
    for kind, dt in (("static", 0.0), ("moving", args.speed / args.rate)):
        for index in range(args.scenes):
            scene = sampler.sample(np.random.default_rng([args.seed, index]))
            frames = []
            for _ in range(args.frames):
                frames.append(render_scene(scene, intrinsics, size))
                scene = scene.advanced(dt)  # dt 0: the same scene, the next frame's sensor noise
            sequences.append((kind, index, frames))
    return sequences


def _estimate(estimator: Any, frame: Any, rng: np.random.Generator) -> tuple[list[Any], list[PoseRecord]]:
    """Estimates of ``frame`` with the instances in a random order, and the matching ground truth."""
    from ..core.estimates import FrameInput, InstanceInput

    order = rng.permutation(len(frame.instances))
    instances, truths = [], []
    for label, index in enumerate(order, start=1):
        truth = frame.instances[index]
        instances.append(InstanceInput(mask=frame.instance_mask == truth.instance_id, class_id=int(truth.class_id),
                                       instance_id=label))
        truths.append(PoseRecord.from_instance_gt(truth, label))
    frame_input = FrameInput(rgb=frame.rgb, depth=frame.depth_mm.astype(np.float32) * np.float32(0.001),
                             intrinsics=frame.intrinsics, instances=tuple(instances))
    return estimator.estimate(frame_input), truths


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.epilog = __doc__.split("\n\n")[2]
    parser.add_argument("--checkpoint", help="model checkpoint; default: the shipped model")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--scenes", type=int, default=2, help="static and moving scenes each (default 2)")
    parser.add_argument("--frames", type=int, default=20, help="frames per sequence (default 20)")
    parser.add_argument("--rate", type=float, default=5.0, help="frame rate, Hz (default 5, as the demo)")
    parser.add_argument("--speed", type=float, default=1.0, help="motion speed factor of the moving scenes")
    parser.add_argument("--smoothing", type=float, nargs="+", default=[0.0, 0.5, 0.8],
                        help="tracking.smoothing values to compare (default 0 0.5 0.8)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..inference.pipeline import PoseEstimator
    from ..inference.tracking import Tracker, TrackerSettings

    if args.scenes < 1 or args.frames < 2 or not args.rate > 0:
        print("dualposenet tracking: --scenes >= 1, --frames >= 2 and --rate > 0 are needed")
        return 2
    settings = [TrackerSettings(smoothing=value) for value in args.smoothing]  # ValueError names a bad value
    estimator = PoseEstimator.from_checkpoint(args.checkpoint, device=args.device)
    sequences = _render_sequences(args)
    rng = np.random.default_rng(args.seed)
    estimated = []
    with tqdm(total=sum(len(frames) for *_, frames in sequences), desc="estimating", unit="frame") as bar:
        for kind, index, frames in sequences:
            per_frame = []
            for frame in frames:
                per_frame.append(_estimate(estimator, frame, rng))
                bar.update()
            estimated.append((kind, index, per_frame))
    rows = []
    for setting in settings:
        for kind in ("static", "moving"):
            objects = switches = 0
            parts = []
            for seq_kind, _, per_frame in estimated:
                if seq_kind != kind:
                    continue
                tracker = Tracker(setting)
                frames = []
                for step, (estimates, truths) in enumerate(per_frame):
                    tracked = tracker.update(estimates, step / args.rate)
                    frames.append(match([PoseRecord.from_estimate(e) for e in tracked], truths))
                metrics = sequence_metrics(frames)
                objects, switches = objects + metrics.objects, switches + metrics.switches
                parts.append(metrics)
            rows.append({"sequence": kind, "smoothing": setting.smoothing, "objects": objects, "switches": switches,
                         **{key: float(np.nanmean([asdict(m)[key] for m in parts]))
                            for key in ("jitter_mm", "jitter_deg", "error_mm", "lag_mm", "error_deg")}})
    print(f"\n{args.scenes} static and {args.scenes} moving scenes of {args.frames} frames at {args.rate:g} Hz "
          f"({args.width}x{args.height}, seed {args.seed}, speed x{args.speed:g}), instance order shuffled per frame:")
    print("| sequence | smoothing | objects | identity switches | jitter (mm / °) | error (mm / °) | lag (mm) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        static = row["sequence"] == "static"  # jitter means something on static scenes, lag on moving ones
        print(f"| {row['sequence']} | {row['smoothing']:g} | {row['objects']} | {row['switches']} | "
              + (f"{row['jitter_mm']:.2f} / {row['jitter_deg']:.2f}" if static else "") + " | "
              + f"{row['error_mm']:.1f} / {row['error_deg']:.1f} | "
              + ("" if static else f"{row['lag_mm']:+.1f}") + " |")
    if args.json:
        args.json.write_text(json.dumps({"settings": {k: (str(v) if isinstance(v, Path) else v)
                                                      for k, v in vars(args).items()}, "rows": rows}, indent=1))
    return 0
