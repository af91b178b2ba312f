"""Errors raised by twin.

Every error a user can cause derives from :class:`TwinError`; the CLI turns it into a message
without a traceback and exit code 2 (3 for :class:`EditConflict`). Each class also subclasses a
builtin so callers can catch either the precise class or the builtin.

Examples
--------
>>> from twin._errors import LayerError, TwinError
>>> try:
...     raise LayerError("roads: feature r1, field lanes: must be >= 1")
... except TwinError as err:
...     print(err)
roads: feature r1, field lanes: must be >= 1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "AssignmentError",
    "EditConflict",
    "Finding",
    "LayerError",
    "OfflineError",
    "ScenarioError",
    "SimulationError",
    "TwinError",
    "UtilityError",
    "ValidationError",
    "ViewError",
]


class TwinError(Exception):
    """Base class of every error a user of twin can cause."""

    exit_code = 2


class LayerError(TwinError, ValueError):
    """A layer, file or twin cannot be read, imported or written."""


class ScenarioError(TwinError, ValueError):
    """A scenario file is invalid (unknown key, unknown type, bad value, missing id, cycle)."""


class SimulationError(TwinError, RuntimeError):
    """A simulation cannot run on the given twin (no roads, no residents, unroutable agents)."""


class AssignmentError(TwinError, ValueError):
    """A traffic-assignment input (e.g. a TNTP file) is malformed or inconsistent."""


class UtilityError(TwinError, ValueError):
    """A power or water network cannot be built, imported or solved."""


class ViewError(TwinError, ValueError):
    """A map or report cannot be built (unknown language, missing bundle or browser)."""


class OfflineError(TwinError, ConnectionError):
    """An online feature (e.g. an osmnx place query) was used without a network connection."""


class EditConflict(TwinError):
    """An edit touches features changed after the version it was based on."""

    exit_code = 3


@dataclass(frozen=True)
class Finding:
    """One validation finding.

    Parameters
    ----------
    severity : {"error", "warning"}
    rule : str
        Short rule name, e.g. ``"required"`` or ``"dead_end"``.
    message : str
        What is wrong and how to fix it.
    layer, feature, field : str or None
        Where the problem is.
    source : str or None
        The file the layer came from.

    Examples
    --------
    >>> Finding("error", "range", "must be >= 1 (got 0)", layer="roads", feature="r1",
    ...         field="lanes").format()
    'error [range] roads / feature r1 / field lanes: must be >= 1 (got 0)'
    """

    severity: str
    rule: str
    message: str
    layer: str | None = None
    feature: str | None = None
    field: str | None = None
    source: str | None = None

    def format(self) -> str:
        """Return the finding as one line of text."""
        where = [p for p in (
            self.source,
            self.layer,
            f"feature {self.feature}" if self.feature is not None else None,
            f"field {self.field}" if self.field is not None else None,
        ) if p]
        loc = " / ".join(where)
        return f"{self.severity} [{self.rule}] {loc}: {self.message}" if loc else (
            f"{self.severity} [{self.rule}] {self.message}"
        )

    def to_dict(self) -> dict[str, str | None]:
        """Return the finding as a JSON-ready dict."""
        return {
            "severity": self.severity, "rule": self.rule, "message": self.message,
            "layer": self.layer, "feature": self.feature, "field": self.field,
            "source": self.source,
        }


@dataclass
class ValidationError(LayerError):
    """Raised once with every problem found, never one at a time.

    Examples
    --------
    >>> err = ValidationError([Finding("error", "required", "missing", layer="roads", field="u")])
    >>> "roads / field u: missing" in str(err)
    True
    """

    findings: Sequence[Finding] = field(default_factory=list)
    header: str = "validation failed"

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        errors = [f for f in self.findings if f.severity == "error"]
        lines = [f"{self.header}: {len(errors)} error(s)"]
        lines += ["  " + f.format() for f in self.findings]
        return "\n".join(lines)
