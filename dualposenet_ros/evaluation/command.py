"""``dualposenet evaluate RESULTS_DIR [--json FILE] [--plot FILE] [--categories PATH]``: load, evaluate, report."""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dualposenet_ros.core.categories import NOCS_CATEGORIES, CategorySet, categories_from_metadata
from dualposenet_ros.data.nocs_io import ResultsFormatError, read_pickle
from dualposenet_ros.evaluation.metrics import evaluate_results, image_record
from dualposenet_ros.evaluation.report import format_table, write_json

RESULTS_PATTERN = "results_*.pkl"


def result_files(directory: str | Path) -> list[Path]:
    """The ``results_*.pkl`` files directly in ``directory``, sorted by name like the reference."""
    files = sorted(Path(directory).glob(RESULTS_PATTERN), key=str)
    if not files:
        raise FileNotFoundError(f"no {RESULTS_PATTERN} files in {directory}")
    return files


def load_results(directory: str | Path, progress: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """Load every results pickle of ``directory`` (a dict or a list of dicts per file).

    The files are Python pickles, which can run arbitrary code when loaded: only use this on
    results you produced or otherwise trust. Returns the dicts and a source label for each;
    a missing key raises ``ResultsFormatError`` naming the file and the key.
    """
    results: list[dict[str, Any]] = []
    sources: list[str] = []
    for path in tqdm(result_files(directory), desc="loading results", unit="file", disable=not progress):
        content = read_pickle(path)
        items = content if isinstance(content, list) else [content]
        for index, item in enumerate(items):
            source = str(path) if len(items) == 1 else f"{path}[{index}]"
            if not isinstance(item, dict):
                raise ResultsFormatError(f"{source}: expected a dict of arrays, found {type(item).__name__}")
            image_record(item, source)
            results.append(item)
            sources.append(source)
    return results, sources


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of the ``evaluate`` sub-command."""
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help=f"directory of {RESULTS_PATTERN} files")
    parser.add_argument("--json", metavar="FILE", help="write mAP and per-class metrics (in %%) as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write AP curves (3D IoU, rotation, translation) as PNG")
    parser.add_argument("--categories", metavar="PATH",
                        help="categories of a model of one's own: its checkpoint, or the dataset folder "
                             "(dataset.json) it was trained on (default: the NOCS six)")


def categories_of(path: str | Path | None) -> CategorySet:
    """The categories a checkpoint or a synthetic dataset folder records (``None``: the NOCS six)."""
    if path is None:
        return NOCS_CATEGORIES
    path = Path(path)
    if path.name == "dataset.json" or (path / "dataset.json").is_file():
        from dualposenet_ros.data.prepare import dataset_categories

        return dataset_categories(path.parent if path.name == "dataset.json" else path)
    from dualposenet_ros.model.checkpoint import read_checkpoint_config

    return categories_from_metadata(read_checkpoint_config(path)[1])


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.results_dir``, print the table, write the requested files; 0 on success."""
    try:
        categories = categories_of(args.categories)
        results, sources = load_results(args.results_dir)
        result = evaluate_results(results, sources, categories)
    except (FileNotFoundError, ResultsFormatError, pickle.UnpicklingError, ValueError,
            RuntimeError) as error:  # RuntimeError: a checkpoint's CheckpointError
        print(f"evaluate: {error}", file=sys.stderr)
        return 1
    print(f"{len(results)} images from {args.results_dir}")
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
    if args.plot:
        from dualposenet_ros.evaluation.plots import plot_ap_curves  # matplotlib only when plotting

        plot_ap_curves(result, args.plot)
    return 0
