"""What a loader skipped, converted and dropped: the :class:`LoadReport` every loader fills.

A loader creates one report per load, passes it to the folder and image helpers, and calls
:meth:`LoadReport.skip` for each item it rejects itself (a bad label line, a file name it cannot
parse). The report becomes the Dataset's ``notes`` and one log line per kind on the
``ferbench.data`` logger, e.g. ``ferplus: skipped 2 files (zero-byte: a.png, b.png)``.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from ferbench.errors import UserError
from ferbench.loading.faces import crop as facecrop

log = logging.getLogger("ferbench.data")


class LoadReport:
    """What a loader skipped, converted and dropped, with counts.

    ``strict=True`` turns each skip into a :class:`~ferbench.errors.UserError` naming the file.
    Conversions and label-rule drops are not skips: they are reported, never errors.
    """

    def __init__(self, dataset: str, strict: bool = False):
        self.dataset = dataset
        self.strict = strict
        self.skipped: dict[str, list[str]] = defaultdict(list)
        self.converted: Counter[str] = Counter()
        self.resized: Counter[str] = Counter()
        self.resized_to = ""
        self.dropped: Counter[str] = Counter()
        self.faces: Counter[str] = Counter()
        self.face_settings = ""
        self.extra: list[str] = []

    def skip(self, reason: str, item: str, fix: str = "") -> None:
        """Count ``item`` (a file, or ``file, line N``) as skipped for ``reason``."""
        if self.strict:
            raise UserError(
                f"data set {self.dataset!r}: {item}: {reason}. "
                f"{fix or 'Fix or remove it'}, or leave out --strict (strict=False) to skip "
                "such items and count them."
            )
        self.skipped[reason].append(item)

    def convert(self, kind: str, count: int = 1) -> None:
        """Count a conversion, e.g. ``"RGBA images to grayscale"``."""
        self.converted[kind] += count

    def drop(self, reason: str, count: int) -> None:
        """Count samples a labelling rule drops (not an error, even with ``strict``)."""
        if count:
            self.dropped[reason] += count

    def note(self, text: str) -> None:
        """A free-form line for the notes and the log."""
        self.extra.append(text)

    @property
    def n_skipped(self) -> int:
        """Items skipped, all reasons together."""
        return sum(map(len, self.skipped.values()))

    def lines(self) -> tuple[str, ...]:
        """One line per kind of event, in a stable order."""
        out = []
        for reason, items in self.skipped.items():
            shown = ", ".join(items[:5]) + (f", … ({len(items) - 5} more)" if len(items) > 5 else "")
            out.append(f"skipped {_plural(len(items), 'item' if 'line' in reason else 'file')} "
                       f"({reason}: {shown})")
        for kind, count in self.converted.items():
            out.append(f"converted {count} {kind}")
        if self.resized:
            sizes = ", ".join(f"{size}: {count}" for size, count in sorted(self.resized.items()))
            out.append(f"resized {_plural(sum(self.resized.values()), 'image')} to "
                       f"{self.resized_to} (from {sizes})")
        if self.face_settings:
            out.append(f"face crop ({self.face_settings}): " + self.face_counts())
        for reason, count in self.dropped.items():
            out.append(f"dropped {_plural(count, 'sample')} ({reason})")
        return tuple(out + self.extra)

    def face_counts(self) -> str:
        """How many images had each face-crop outcome, e.g. ``970 cropped by landmarks, ...``."""
        impossible = () if self.face_settings.startswith("landmarks") else ("landmarks", "fallback")
        shown = [key for key in facecrop.OUTCOMES
                 if key not in impossible and (key != "several" or self.faces[key])]
        return ", ".join(f"{self.faces[key]} {facecrop.OUTCOMES[key]}" for key in shown)

    def log(self) -> None:
        """Log every line on the ``ferbench.data`` logger (skips as warnings)."""
        for line in self.lines():
            level = logging.WARNING if line.startswith("skipped") else logging.INFO
            log.log(level, "%s: %s", self.dataset, line)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
