"""Loss curves of a training run (its ``metrics.jsonl``) as one PNG, drawn off-screen with Agg.

``dualposenet train`` redraws ``<run>/losses.png`` whenever it saves the run (every epoch and at a
stop), so an interrupted, resumed or running job always has an up-to-date picture: the training
loss components against the step, the validation losses per epoch where ``--val-data`` is given,
and the learning rate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

LOSS_COMPONENTS = ("total", "rotation", "translation", "size", "implicit")


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of a ``metrics.jsonl`` (a line cut short by a crash is skipped)."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


def plot_training_curves(metrics: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Draw the curves of ``metrics`` into ``path``; False (nothing drawn) when there is no entry yet."""
    entries = read_metrics(metrics)
    train = [entry for entry in entries if entry.get("kind") == "train"]
    val = [entry for entry in entries if entry.get("kind") == "val"]
    if not train:
        return False
    figure = Figure(figsize=(13, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    losses, total, rate = figure.subplots(1, 3)
    steps = [entry["step"] for entry in train]
    for name in LOSS_COMPONENTS:
        values = [entry.get(f"loss_{name}") for entry in train]
        losses.plot(steps, values, label=name, linewidth=2.0 if name == "total" else 1.0)
    losses.set(title="training losses", xlabel="step", yscale="log")
    losses.legend(fontsize="small")
    total.plot(steps, [entry["loss_total"] for entry in train], label="train (per log interval)")
    if val:
        total.plot([entry["step"] for entry in val], [entry["val_total"] for entry in val], "o-",
                   label="validation (per epoch)")
    total.set(title="total loss", xlabel="step", yscale="log")
    total.legend(fontsize="small")
    rates = [entry["lr"] for entry in train]
    rate.plot(steps, rates)
    rate.set(title="learning rate", xlabel="step", yscale="log" if min(rates) > 0 else "linear")
    for axis in (losses, total, rate):
        axis.grid(True, alpha=0.3)
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp.png")
    figure.savefig(temporary, dpi=90)
    os.replace(temporary, target)
    return True
