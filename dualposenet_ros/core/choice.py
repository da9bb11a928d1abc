"""String-valued options (refinement mode, backend, precision) parsed the same way everywhere."""

from __future__ import annotations

import re
from enum import Enum
from typing import TypeVar

ChoiceT = TypeVar("ChoiceT", bound="Choice")


class Choice(str, Enum):
    """Base of the package's string options: a member is its value, so it compares equal to the
    text users type, and :meth:`parse` accepts that text in any case and with surrounding spaces."""

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The accepted texts, in declaration order (argparse ``choices``, parameter descriptors)."""
        return tuple(member.value for member in cls)

    @classmethod
    def parse(cls: type[ChoiceT], value: ChoiceT | str) -> ChoiceT:
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        for member in cls:
            if member.value == text:
                return member
        label = re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()  # RefineMode -> "refine mode"
        raise ValueError(f"{label} must be one of {', '.join(cls.values())}, got {value!r}")
