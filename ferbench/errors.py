"""The one exception type for mistakes a user can fix.

The CLI catches :class:`UserError` once, in ``ferbench.cli.main``, and prints its message
without a traceback; every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input: the message names what was wrong and how to fix it."""


def unknown_name_error(kind: str, name: str, known: Iterable[str], hint: str = "") -> UserError:
    """A ``UserError`` for an unknown ``kind`` name, with close matches and the known names."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    message = f"unknown {kind} {name!r}."
    if close:
        message += f" Did you mean {', '.join(repr(c) for c in close)}?"
    message += f" Known {kind}s: {', '.join(known) if known else '(none)'}."
    if hint:
        message += f" {hint}"
    return UserError(message)
