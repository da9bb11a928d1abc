"""Object categories: the six NOCS ones by default, or the set a checkpoint was trained on.

Class id 0 is background; ids 1..n follow the order of a :class:`CategorySet`. For the NOCS six the
order is that of the NOCS datasets and the public prediction files. The network itself does not
depend on the category (one model for all); the set names the estimates, tells which objects look
the same under a turn about their y axis (which the training targets and the errors must ignore),
and is recorded in a dataset's ``dataset.json``, an instance store's manifest and a checkpoint's
metadata (``"categories"``), so a model trained on one's own objects carries its names with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""Category names go into file names and the one-line records of ``meta.txt``: no blanks."""

SYMMETRIES: tuple[str, ...] = ("none", "y", "y_without_handle")
"""``none``: every turn is visible; ``y``: any turn about the object y axis looks the same (a can);
``y_without_handle``: like ``y`` while the handle is hidden (a mug)."""


@dataclass(frozen=True)
class Category:
    """One category: its name (what the node publishes) and its symmetry (one of :data:`SYMMETRIES`)."""

    name: str
    symmetry: str = "none"

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"category name {self.name!r} must be letters, digits, '_', '-' or '.' (no blanks), "
                             "starting with a letter or digit")
        if self.symmetry not in SYMMETRIES:
            raise ValueError(f"category {self.name!r}: symmetry {self.symmetry!r} is not one of "
                             f"{', '.join(SYMMETRIES)}")


@dataclass(frozen=True)
class CategorySet:
    """Categories in class-id order: ``categories[class_id - 1]``."""

    categories: tuple[Category, ...]

    def __post_init__(self) -> None:
        names = [category.name for category in self.categories]
        if not names:
            raise ValueError("a category set needs at least one category")
        if len(set(names)) != len(names):
            raise ValueError(f"category names must be unique: {', '.join(names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(category.name for category in self.categories)

    def __len__(self) -> int:
        return len(self.categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories)

    def __contains__(self, class_id: object) -> bool:
        """Whether ``class_id`` is a valid class id of this set."""
        try:
            return 1 <= int(class_id) <= len(self.categories)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def name(self, class_id: int) -> str:
        """The category name of ``class_id``; ``ValueError`` for an unknown id."""
        if int(class_id) not in self:
            raise ValueError(f"unknown class id {class_id}: expected 1..{len(self)} ({', '.join(self.names)})")
        return self.categories[int(class_id) - 1].name

    def class_id(self, name: str) -> int:
        """The class id of category ``name``; ``ValueError`` for an unknown name."""
        try:
            return self.names.index(name) + 1
        except ValueError:
            raise ValueError(f"unknown category {name!r}: expected one of {', '.join(self.names)}") from None

    def is_symmetric(self, class_id: int, handle_visible: bool = True) -> bool:
        """Whether rotation about the object y axis is unobservable for this instance."""
        self.name(class_id)
        symmetry = self.categories[int(class_id) - 1].symmetry
        return symmetry == "y" or (symmetry == "y_without_handle" and not handle_visible)

    def to_json(self) -> list[dict[str, str]]:
        """The form stored in ``dataset.json``, manifests and checkpoint metadata."""
        return [{"name": category.name, "symmetry": category.symmetry} for category in self.categories]

    @classmethod
    def from_json(cls, entries: Sequence[Mapping[str, Any]]) -> CategorySet:
        """Inverse of :meth:`to_json`; ``ValueError`` naming what is wrong."""
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise ValueError(f"categories must be a list of {{name, symmetry}} objects, got {entries!r}")
        try:
            return cls(tuple(Category(str(entry["name"]), str(entry.get("symmetry", "none"))) for entry in entries))
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"categories must be a list of {{name, symmetry}} objects, got {entries!r}") from None


NOCS_CATEGORIES = CategorySet((
    Category("bottle", "y"), Category("bowl", "y"), Category("camera"), Category("can", "y"), Category("laptop"),
    Category("mug", "y_without_handle"),
))
"""The six NOCS categories, the default of every dataset, store and checkpoint without a record."""

CATEGORIES: tuple[str, ...] = NOCS_CATEGORIES.names
"""NOCS category names in class-id order: ``CATEGORIES[class_id - 1]``."""

CLASS_IDS: dict[str, int] = {name: index + 1 for index, name in enumerate(CATEGORIES)}

SYMMETRIC_CATEGORIES: frozenset[str] = frozenset({"bottle", "bowl", "can"})
"""NOCS categories symmetric about their object y axis (a mug is too when its handle is hidden)."""


def categories_from_metadata(metadata: Mapping[str, Any] | None) -> CategorySet:
    """The set recorded under ``"categories"`` of a checkpoint's or a dataset's metadata, else the NOCS six."""
    entries = (metadata or {}).get("categories")
    return NOCS_CATEGORIES if entries is None else CategorySet.from_json(entries)


def category_name(class_id: int) -> str:
    """Return the NOCS category name of ``class_id`` or raise ``ValueError`` for an unknown id."""
    return NOCS_CATEGORIES.name(class_id)


def class_id(name: str) -> int:
    """Return the NOCS class id of category ``name`` or raise ``ValueError``."""
    return NOCS_CATEGORIES.class_id(name)


def is_symmetric(class_id: int, handle_visible: bool = True) -> bool:
    """Whether rotation about the object y axis is unobservable for this NOCS instance."""
    return NOCS_CATEGORIES.is_symmetric(class_id, handle_visible)


DEFAULT_CLASS_MAP = "cup: mug, coffee cup: mug, wine bottle: bottle, tin can: can, notebook: laptop"
"""The node's ``class_map`` default: COCO and common detector names -> NOCS categories (category names
map to themselves). Here, below the node's parameters and its segmentation readers, so both read one string."""
