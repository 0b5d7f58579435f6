"""Typed reading of values that come from outside (API clients send any JSON value): one place, clear errors.

Gradio hands an endpoint whatever the client sent — `"false"` for a checkbox, `"inf"` for a number box, a list
for a text box — so every endpoint argument goes through one of these before use (ui/common.user_errors does
it for the UI's endpoints, the /v1 routes call them directly). Each raises ValueError naming the field.
"""

from __future__ import annotations

import math
from typing import Any

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
MAX_TEXT = 100_000  # characters in one text field (a pasted keyword list or document stays far below)


def _label(name: str) -> str:
    return name.replace("_", " ")


def to_text(value: Any, name: str, max_chars: int = MAX_TEXT) -> str | None:
    """A text field: str or None; refuses other types, NUL characters and text over `max_chars`."""
    if value is None or isinstance(value, str):
        if value and "\0" in value:
            raise ValueError(f"{_label(name)} contains a NUL character.")
        if value and len(value) > max_chars:
            raise ValueError(f"{_label(name)} is too long ({len(value):,} characters; at most {max_chars:,}).")
        return value
    raise ValueError(f"The {_label(name)} must be text, not {type(value).__name__}.")


def to_texts(value: Any, name: str) -> list[str] | None:
    """A multi-choice field: a list of texts (or None)."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [to_text(v, name) for v in value]
    raise ValueError(f"The {_label(name)} must be a list of texts, not {type(value).__name__}.")


def to_flag(value: Any, name: str) -> bool | None:
    """A checkbox: True/False (also "true"/"false", 1/0 and the like); None or "" when not given."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return None
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
    raise ValueError(f"{_label(name)}: {value!r} is not true or false.")


def to_number(
    value: Any, name: str, low: float | None = None, high: float | None = None, integer: bool = False
) -> float | int | None:
    """A number field (a number or its text); None or "" when not given. Finite, within [low, high]."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{_label(name)}: {value!r} is not a number.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{_label(name)}: {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ValueError(f"{_label(name)}: {value!r} is not a finite number.")
    if integer:
        if number != int(number):
            raise ValueError(f"{_label(name)}: {value!r} is not a whole number.")
        number = int(number)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{_label(name)} must be between {low:g} and {high:g} (got {number:g}).")
    return number


_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}


def to_size(value: str | int, name: str = "size") -> int:
    """Bytes from '200mb', '1gb', '512kb' or a number of bytes (the units Gradio's max_file_size takes)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lower().replace(" ", "")
    unit = next((u for u in ("kb", "mb", "gb", "b") if text.endswith(u)), "b")
    number = to_number(text[: len(text) - len(unit)] if text.endswith(unit) else text, name, low=0)
    if not number:
        raise ValueError(f"{_label(name)}: {value!r} is not a size such as 200mb or 1gb.")
    return int(number * _UNITS[unit])
