"""Exceptions raised by phoneiqa; each message names the file or row and the reason."""


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
