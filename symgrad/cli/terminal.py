"""What the terminal can show (imports nothing heavy: the CLI's fast paths use it)."""

from __future__ import annotations

__all__ = ["use_unicode"]


def use_unicode(stream) -> bool:
    """Whether ``stream`` can show the Unicode that pretty output uses."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "∂²√⋅₀─∇×·".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
