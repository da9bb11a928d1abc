"""``dualposenet synth``: write a synthetic dataset in the NOCS CAMERA layout."""

from __future__ import annotations

import argparse
import os
import sys

from ...core.categories import SYMMETRIES
from .effects import EFFECTS, parse_effects
from .mesh_files import MeshCategory


def _image_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    try:
        width, height = (int(value) for value in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError("image size must be at least 16x16")
    return width, height


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of the ``synth`` sub-command."""
    parser.add_argument("--out", required=True, help="output folder (the dataset root)")
    parser.add_argument("--train-scenes", type=_count, default=50, help="scenes in CAMERA/train (default 50)")
    parser.add_argument("--val-scenes", type=_count, default=10, help="scenes in CAMERA/val (default 10)")
    parser.add_argument("--images-per-scene", type=_count, default=4, help="camera views per scene (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="the output depends only on this (default 0)")
    parser.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes (default min(2, CPUs))"
    )
    parser.add_argument(
        "--image-size",
        type=_image_size,
        default=(640, 480),
        help="WIDTHxHEIGHT (default 640x480; other sizes rescale the CAMERA intrinsics, see dataset.json)",
    )
    parser.add_argument("--encoded-depth", action="store_true", help="write depth in the 3-channel CAMERA encoding")
    parser.add_argument("--exact-masks", action="store_true", help="segmentation results use the exact rendered masks")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--effects", nargs="+", default=[], metavar="EFFECT",
                        help="realism effects to turn on: all, or any of " + "; ".join(
                            f"{name} ({text})" for name, text in EFFECTS.items()).replace("%", "%%"))
    own = parser.add_argument_group(
        "categories of one's own (instead of the NOCS six): repeat --meshes/--category/--symmetry per category")
    own.add_argument("--meshes", action="append", default=[], metavar="FOLDER",
                     help="folder of mesh files (OBJ, PLY, GLB, STL, OFF) of one category, y up")
    own.add_argument("--category", action="append", default=[], metavar="NAME", help="its category name")
    own.add_argument("--symmetry", action="append", default=[], choices=SYMMETRIES,
                     help="none; y: looks the same turned about its y axis (a can); y_without_handle (a mug)")
    own.add_argument("--size-range", type=float, nargs=2, default=(0.1, 0.3), metavar=("LOW", "HIGH"),
                     help="object size: box diagonal in metres (default 0.1 0.3)")
    own.add_argument("--stretch", type=float, default=0.1,
                     help="per-axis random stretch for shape variety (default 0.1 = up to 10%%)")
    own.add_argument("--up", choices=("y", "z"), default="y", help="up axis of the mesh files (default y)")


def mesh_categories(args: argparse.Namespace) -> tuple[MeshCategory, ...]:
    """The categories of one's own the options describe (empty: the NOCS six)."""
    counts = {len(args.meshes), len(args.category)}
    if len(counts) > 1 or (args.symmetry and len(args.symmetry) != len(args.meshes)):
        raise ValueError("give --meshes and --category (and --symmetry, default none) once per category")
    symmetries = args.symmetry or ["none"] * len(args.meshes)
    return tuple(MeshCategory(name, symmetry, folder, tuple(args.size_range), args.stretch, args.up)
                 for folder, name, symmetry in zip(args.meshes, args.category, symmetries, strict=True))


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and print a one-line summary per split."""
    from .writer import SynthSettings, generate_dataset

    try:
        own = mesh_categories(args)
        effects = parse_effects(args.effects)
    except ValueError as error:
        print(f"dualposenet synth: error: {error}", file=sys.stderr)
        return 2
    settings = SynthSettings(
        seed=args.seed,
        images_per_scene=args.images_per_scene,
        image_size=tuple(args.image_size),
        encoded_depth=args.encoded_depth,
        exact_masks=args.exact_masks,
        mesh_categories=own,
        effects=effects,
    )
    try:
        summary = generate_dataset(
            args.out,
            {"train": args.train_scenes, "val": args.val_scenes},
            settings,
            workers=max(1, args.workers),
            progress=not args.quiet,
        )
    except ValueError as error:  # a mesh folder without meshes, a broken mesh file
        print(f"dualposenet synth: error: {error}", file=sys.stderr)
        return 2
    for split, counts in summary["splits"].items():
        print(f"{split}: {counts['scenes']} scenes, {counts['images']} images, {counts['instances']} instances")
    print(f"wrote {os.path.join(args.out, 'dataset.json')}")
    return 0
