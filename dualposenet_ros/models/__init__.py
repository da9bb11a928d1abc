"""Models shipped with the package.

``compact_synth``: the compact preset trained by this project on synthetic NOCS-layout data
(docs/models.md, "Shipped model", gives the commands that reproduce it and its accuracy).
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "compact_synth"


def default_checkpoint() -> Path:
    """Path (stem) of the shipped default checkpoint: ``<stem>.safetensors`` + ``<stem>.json``."""
    return MODELS_DIR / DEFAULT_MODEL
