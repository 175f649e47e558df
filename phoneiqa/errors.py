"""Exceptions raised by phoneiqa; each message names the file or row and the reason."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable


class PhoneIQAError(Exception):
    """Base class of every phoneiqa error."""


class ImageError(PhoneIQAError, ValueError):
    """An input that cannot be used as an image (unreadable, empty, truncated, too large, ...)."""


class DataFormatError(PhoneIQAError, ValueError):
    """A label CSV, spec or checkpoint that does not follow the documented format."""


class ConfigError(PhoneIQAError, ValueError):
    """A training config or option with an unknown key, a missing field or a value of the wrong kind."""


class ModelNotFoundError(PhoneIQAError, FileNotFoundError):
    """A model name that is not shipped and is not the path of a checkpoint file."""


class ParameterError(PhoneIQAError, ValueError):
    """A function parameter or command-line option given a value outside what it accepts."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to a mistyped ``name``, ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_count(name: str, value: object, minimum: int, optional: bool = False) -> int | None:
    """``value`` if it is an integer of at least ``minimum`` (or ``None`` when ``optional``), else
    :class:`ParameterError` naming the parameter and the value."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_real(name: str, value: object, minimum: float, strict: bool = False) -> float:
    """``value`` if it is a real number of at least ``minimum`` (above it when ``strict``), else
    :class:`ParameterError` naming the parameter and the value."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (value > minimum if strict else value >= minimum)
    ):
        raise ParameterError(f"{name} must be a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)
