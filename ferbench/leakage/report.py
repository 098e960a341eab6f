"""The leakage report: one named check per way a test sample can be known in training.

A check of kind ``leak`` counts test samples that the training side of their fold already
holds in some form; any such count makes the report leaky. A check of kind ``quality`` (label
consistency) counts problems that bias scores without being leakage; it warns only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ferbench.job import plan_key

#: Check statuses: ``pass`` (nothing found), ``leak`` / ``warn`` (found), ``not checked``.
STATUSES = ("pass", "leak", "warn", "not checked")
#: The check that counts test images copied into the validation part a run selects on.
SELECTION_CHECK = "selection on copies of test images"
#: The checks that find copies of test images outside their test part.
COPY_CHECKS = ("exact duplicates", "near duplicates", SELECTION_CHECK)


@dataclass
class Check:
    """One named check: how many it found, per fold, with a few examples."""

    name: str
    description: str
    kind: str = "leak"
    leaks: int = 0
    per_fold: list[int] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    leaked: list[int] = field(default_factory=list)  # data set rows of the test images counted

    @property
    def status(self) -> str:
        """``pass``, ``leak``, ``warn`` or ``not checked`` (with ``reason``)."""
        if self.reason is not None:
            return "not checked"
        if not self.leaks:
            return "pass"
        return "leak" if self.kind == "leak" else "warn"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, with the status spelled out."""
        return {**asdict(self), "status": self.status}


@dataclass
class LeakageReport:
    """Every check of one data set under one fold plan."""

    dataset: str
    fingerprint: str
    protocol: str
    folds: int
    seed: int
    protocol_leaky: bool
    checks: list[Check]
    search: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def leaky(self) -> bool:
        """True when the protocol lets subjects or clips cross, or any leak check found one."""
        return self.protocol_leaky or any(c.status == "leak" for c in self.checks)

    def copied_rows(self) -> set[int] | None:
        """Data set rows of the test images with an exact or near copy outside their test part;
        None for a report written before the audit kept them (or without a duplicate search)."""
        checks = [c for c in self.checks if c.name in COPY_CHECKS and c.reason is None]
        if not checks or any(c.leaks and not c.leaked for c in checks):
            return None
        return {row for check in checks for row in check.leaked}

    @property
    def key(self) -> str:
        """File-name stem, the same as the fold plan's."""
        return plan_key(self.dataset, self.protocol, self.folds, self.seed)

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check {name!r}; checks: {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written by ``ferbench leakage --json`` and kept in run directories."""
        return {
            "dataset": self.dataset, "fingerprint": self.fingerprint, "protocol": self.protocol,
            "folds": self.folds, "seed": self.seed, "leaky": self.leaky,
            "protocol_leaky": self.protocol_leaky, "checks": [c.to_dict() for c in self.checks],
            "search": self.search, "seconds": round(self.seconds, 3), "settings": self.settings,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeakageReport:
        """Inverse of :meth:`to_dict`."""
        checks = [Check(**{k: v for k, v in c.items() if k != "status"}) for c in data["checks"]]
        fields = {k: v for k, v in data.items() if k not in ("checks", "leaky")}
        return cls(**fields, checks=checks)

    def summary(self, warnings: bool = True) -> list[str]:
        """One line per finding, naming its check (leaks first; quality warnings unless
        ``warnings`` is False)."""
        shown = ("leak", "warn") if warnings else ("leak",)
        lines = []
        if self.protocol_leaky:
            lines.append(f"protocol {self.protocol!r} itself puts frames of one subject and one clip "
                         "on both sides of a fold")
        for check in sorted(self.checks, key=lambda c: c.status != "leak"):
            if check.status in shown:
                folds = sum(1 for n in check.per_fold if n)
                where = f" in {folds}/{len(check.per_fold)} folds" if check.per_fold else ""
                lines.append(f"{check.name}: {check.leaks} {check.details.get('unit', 'found')}{where}")
        return lines
