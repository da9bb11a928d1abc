"""What a segmentation network makes of the exact masks: the segmentation results of a dataset.

A real Mask R-CNN (the masks the public NOCS results hold) is off at the boundary by a few pixels,
predicts masks on a coarse grid over the box, bleeds into the background and into neighbours,
misses part of an object or splits one object in two. :func:`segmenter_masks` applies the chosen
effects (names of :mod:`.effects`) to each exact mask; without any it erodes or dilates each mask
by one pixel at random (or not), as the generator always did. A mask is never emptied.

``dualposenet synth`` uses it for the segmentation results the test phase reads; ``dualposenet
prepare --mask-effects`` (:func:`segmenter_mask`) for the masks that cut
the training instances' inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import cv2
import numpy as np

PARTIAL_PROBABILITY = 0.15
SPLIT_PROBABILITY = 0.1
SPLIT_MIN_PIXELS = 400
MASK_GRID = 28  # Mask R-CNN's mask head resolution


def _morph(mask: np.ndarray, pixels: int, grow: bool) -> np.ndarray:
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    changed = (cv2.dilate if grow else cv2.erode)(mask.astype(np.uint8), kernel).astype(bool)
    return changed if changed.any() else mask


def _boundary(mask: np.ndarray, rng: np.random.Generator, max_pixels: int) -> np.ndarray:
    """Eroded or dilated by 1..max_pixels, or unchanged, at random."""
    choice = rng.integers(3)
    if choice == 0:
        return mask
    pixels = int(rng.integers(1, max_pixels + 1)) if max_pixels > 1 else 1  # no draw: 1 px as ever
    return _morph(mask, pixels, grow=choice == 1)


def _bleed(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The mask joined with itself shifted 2-5 px to one side (into background and neighbours)."""
    angle = rng.uniform(0.0, 2.0 * np.pi)
    distance = rng.uniform(2.0, 5.0)
    shift = np.float32([[1, 0, distance * np.cos(angle)], [0, 1, distance * np.sin(angle)]])
    moved = cv2.warpAffine(mask.astype(np.uint8), shift, mask.shape[::-1], flags=cv2.INTER_NEAREST)
    return mask | moved.astype(bool)


def _coarse(mask: np.ndarray) -> np.ndarray:
    """The mask on a 28x28 grid over its box and back (Mask R-CNN's blobby, rounded outlines)."""
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = mask[top:bottom, left:right].astype(np.float32)
    grid = cv2.resize(crop, (MASK_GRID, MASK_GRID), interpolation=cv2.INTER_AREA)
    back = cv2.resize(grid, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR) >= 0.5
    coarse = np.zeros_like(mask)
    coarse[top:bottom, left:right] = back
    return coarse if coarse.any() else mask


def _line_side(mask: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    """Pixels of ``mask`` on one side of a random line placed so that about ``keep`` of them stay."""
    rows, cols = np.nonzero(mask)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    along = cols * np.cos(angle) + rows * np.sin(angle)
    threshold = np.quantile(along, 1.0 - keep)
    side = np.zeros_like(mask)
    side[rows[along >= threshold], cols[along >= threshold]] = True
    return side


def segmenter_masks(masks: Sequence[np.ndarray], rng: np.random.Generator, effects: Collection[str] = ()
                    ) -> list[tuple[int, np.ndarray]]:
    """(index of the exact mask it comes from, predicted mask) per detection; a split mask gives two."""
    detections = []
    for index, exact in enumerate(masks):
        mask = _boundary(exact, rng, 3 if "mask_boundary" in effects else 1)
        if "mask_bleed" in effects:
            mask = _bleed(mask, rng)
        if "mask_coarse" in effects and mask.any():
            mask = _coarse(mask)
        if "mask_partial" in effects and rng.random() < PARTIAL_PROBABILITY and mask.sum() > 1:
            mask = _line_side(mask, rng, rng.uniform(0.5, 0.85))
        if "mask_split" in effects and rng.random() < SPLIT_PROBABILITY and mask.sum() >= SPLIT_MIN_PIXELS:
            first = _line_side(mask, rng, rng.uniform(0.3, 0.7))
            detections += [(index, first), (index, mask & ~first)]
            continue
        detections.append((index, mask))
    return detections


def segmenter_mask(exact: np.ndarray, rng: np.random.Generator, effects: Collection[str]) -> np.ndarray:
    """One object's exact mask as a segmenter gives it (:func:`segmenter_masks`); of a split, either piece at
    random (training sees what one detection of a split object holds)."""
    pieces = segmenter_masks([exact], rng, effects)
    return pieces[int(rng.integers(len(pieces)))][1] if len(pieces) > 1 else pieces[0][1]
