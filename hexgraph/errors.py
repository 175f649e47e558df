"""The one exception type of :mod:`hexgraph`."""


class HexGraphError(ValueError):
    """An inconsistent or malformed HEX graph or spec; the message names the offending part."""
