"""Strict JSON for model files: parsing that refuses what a writer never produces."""

from __future__ import annotations

import json
import math

from ._exceptions import ModelFormatError

# Longest number literal accepted: no stored value needs more, and converting
# very long literals to int or float takes super-linear time.
_MAX_NUMBER_CHARS = 40


def dumps(obj) -> str:
    """Compact ASCII JSON; NaN and infinities are refused (``ValueError``)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def check_fields(obj: dict, required: set[str], optional: set[str], where: str) -> None:
    """Raise ModelFormatError naming any missing or unknown key of ``obj``."""
    missing = sorted(required - obj.keys())
    if missing:
        raise ModelFormatError(f"{where} lacks the field(s) {', '.join(map(repr, missing))}")
    unknown = sorted(obj.keys() - required - optional)
    if unknown:
        raise ModelFormatError(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")


class _JSONError(ValueError):
    pass


def loads_json(text: str, what: str):
    """Parse ``text`` as strict JSON, raising ModelFormatError about ``what``.

    Stricter than :func:`json.loads`: duplicate keys, NaN and Infinity, numbers
    that overflow a float and number literals of more than 40 characters are
    errors, and so is nesting too deep to parse.
    """
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError
        raise ModelFormatError(f"{what} is not valid JSON: {exc}") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _JSONError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str):
    raise _JSONError(f"{name} is not a JSON number")


def _parse_int(literal: str) -> int:
    if len(literal) > _MAX_NUMBER_CHARS:
        raise _JSONError(f"integer literal of {len(literal)} characters")
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > _MAX_NUMBER_CHARS:
        raise _JSONError(f"number literal of {len(literal)} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise _JSONError(f"number {literal} is out of range")
    return value


def is_int(value) -> bool:
    """True for a JSON integer (a Python int that is not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)
