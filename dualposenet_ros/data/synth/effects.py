"""The switchable realism effects of the generator, by name (``dualposenet synth --effects``).

Each name turns on one thing a real RGB-D camera or a real segmentation network does that the
clean renderer does not. All are off by default, so a dataset of a given seed stays the same
unless effects are asked for (``dataset.json`` records them); ``all`` turns every one on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from .sensor import DEFAULT_DEPTH_NOISE, REALSENSE_DEPTH_NOISE, DepthNoise

DEPTH_EFFECTS: dict[str, tuple[str, ...]] = {
    "disparity_steps": ("disparity_step",),
    "flying_pixels": ("flying_pixels",),
    "dark_holes": ("dark_dropout",),
    "specular_holes": ("specular_dropout",),
}
"""Depth effect -> the :class:`~.sensor.DepthNoise` fields it sets to their RealSense values."""

EFFECTS: dict[str, str] = {
    "disparity_steps": "depth quantised in stereo disparity steps (the step grows with distance squared)",
    "flying_pixels": "pixels at depth edges with a depth between the two sides",
    "dark_holes": "patches without depth on dark surfaces",
    "specular_holes": "patches without depth on saturated highlights",
    "color_variety": "exposure, white balance and gamma of another camera and light per image",
    "distractors": "1-4 unannotated clutter objects (boxes, cylinders) on the table, occluding others",
    "real_sizes": "category sizes and proportions that cover real objects (shapes.REAL_SHAPE_RANGES)",
    "mask_boundary": "segmenter masks eroded or dilated by up to 3 px (instead of 1)",
    "mask_bleed": "segmenter masks bleeding a few px to one side, into background and neighbours",
    "mask_coarse": "segmenter masks through a 28x28 grid over their box, as Mask R-CNN's",
    "mask_partial": "some segmenter masks cut by a line (15-50 % of the object lost)",
    "mask_split": "some segmenter masks split in two detections of the same class",
}
"""Every effect name and what it does."""

ALL = "all"


MASK_EFFECTS = tuple(name for name in EFFECTS if name.startswith("mask_"))
"""The effects on segmentation masks (:mod:`.segmenter`): also ``dualposenet prepare --mask-effects``."""


def parse_effects(names: Iterable[str], known: Sequence[str] = tuple(EFFECTS)) -> tuple[str, ...]:
    """Checked effect names among ``known`` in their order (``all`` = every one); ``ValueError`` names
    an unknown one."""
    chosen = set()
    for name in names:
        if name == ALL:
            chosen.update(known)
        elif name in known:
            chosen.add(name)
        else:
            raise ValueError(f"unknown effect {name!r}: expected {ALL} or any of {', '.join(known)}")
    return tuple(name for name in known if name in chosen)


def depth_noise(effects: Iterable[str], base: DepthNoise = DEFAULT_DEPTH_NOISE) -> DepthNoise:
    """``base`` with the depth effects among ``effects`` turned on."""
    changes = {field: getattr(REALSENSE_DEPTH_NOISE, field)
               for name in effects for field in DEPTH_EFFECTS.get(name, ())}
    return replace(base, **changes)
