"""The six NOCS object categories and their properties.

Class id 0 is background; ids 1..6 follow the NOCS datasets and the public prediction files.
"""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = ("bottle", "bowl", "camera", "can", "laptop", "mug")
"""Category names in class-id order: ``CATEGORIES[class_id - 1]``."""

CLASS_IDS: dict[str, int] = {name: index + 1 for index, name in enumerate(CATEGORIES)}

SYMMETRIC_CATEGORIES: frozenset[str] = frozenset({"bottle", "bowl", "can"})
"""Categories symmetric about their object y axis (a mug is too when its handle is hidden)."""


def category_name(class_id: int) -> str:
    """Return the category name of ``class_id`` or raise ``ValueError`` for an unknown id."""
    if not 1 <= int(class_id) <= len(CATEGORIES):
        raise ValueError(f"unknown class id {class_id}: expected 1..{len(CATEGORIES)} ({', '.join(CATEGORIES)})")
    return CATEGORIES[int(class_id) - 1]


def class_id(name: str) -> int:
    """Return the class id of category ``name`` or raise ``ValueError``."""
    try:
        return CLASS_IDS[name]
    except KeyError:
        raise ValueError(f"unknown category {name!r}: expected one of {', '.join(CATEGORIES)}") from None


def is_symmetric(class_id: int, handle_visible: bool = True) -> bool:
    """Whether rotation about the object y axis is unobservable for this instance."""
    name = category_name(class_id)
    return name in SYMMETRIC_CATEGORIES or (name == "mug" and not handle_visible)
