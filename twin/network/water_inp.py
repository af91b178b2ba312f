"""An EPANET ``.inp`` file checked line by line, and EPANET's own error report read back.

WNTR stops at the first bad line of an ``.inp`` file with "one or more errors in input file"
(the detail is in its exception chain) or with a bare ``could not convert string to float``;
EPANET writes its ``Error 2xx`` details to a report file that WNTR never shows. Here:

- :func:`check_inp` reads the sections that make the network (junctions, reservoirs, tanks,
  pipes, pumps, valves, demands, emitters, patterns, curves, coordinates, vertices) and returns
  every problem with its section, line number, element id and field: numbers that are not
  numbers, diameters, lengths and roughness that are not positive, links to nodes that do not
  exist, duplicate ids, patterns and curves that are not defined, tank levels out of order,
  nodes without a link;
- :func:`explain_wntr_error` turns what WNTR raised into the same form (its line number, or the
  line holding the value it could not read);
- :func:`epanet_errors` opens a file with EPANET's toolkit and returns the errors of its report
  (``Error 233: unconnected node J7``), placed on their lines where the report quotes them;
- :func:`inp_error` makes one :class:`~twin._errors.UtilityError` that lists them all.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.inp"
>>> _ = p.write_text("[JUNCTIONS]\\n J1 10\\n[RESERVOIRS]\\n R1 50\\n"
...                  "[PIPES]\\n P1 R1 J1 100 0 120\\n[OPTIONS]\\n Units LPS\\n[END]\\n")
>>> problem = check_inp(p)[0]
>>> problem.format("bad.inp").split(";")[0]
'bad.inp: [PIPES] line 6, pipe P1, field Diameter: 0 is not > 0'
>>> problem.message.split("; ")[1]
"give the pipe's inner diameter in mm, or delete the pipe"
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twin._errors import UtilityError

__all__ = ["InpProblem", "check_inp", "epanet_errors", "explain_wntr_error", "inp_error"]

#: Problems listed one by one in an error message; the rest are counted.
MAX_LISTED = 10

_US = {"CFS", "GPM", "MGD", "IMGD", "AFD"}
_KIND = {"JUNCTIONS": "junction", "RESERVOIRS": "reservoir", "TANKS": "tank", "PIPES": "pipe",
         "PUMPS": "pump", "VALVES": "valve", "DEMANDS": "demand of junction",
         "EMITTERS": "emitter of junction", "PATTERNS": "pattern", "CURVES": "curve",
         "COORDINATES": "coordinates of node", "VERTICES": "vertex of link",
         "STATUS": "status of link", "OPTIONS": "option", "TIMES": "time option",
         "REPORT": "report option", "ENERGY": "energy option", "REACTIONS": "reaction",
         "QUALITY": "initial quality of node", "SOURCES": "source at node",
         "MIXING": "mixing of tank", "TAGS": "tag of", "CONTROLS": "", "RULES": "",
         "TITLE": "", "LABELS": "", "BACKDROP": ""}
_NODES = ("JUNCTIONS", "RESERVOIRS", "TANKS")
_LINKS = ("PIPES", "PUMPS", "VALVES")
_VALVES = ("PRV", "PSV", "PBV", "FCV", "TCV", "GPV")
_TOKEN = re.compile(r'"[^"]*"|\S+')
# EPANET error codes of input files, with what to do about them
_EPANET_FIX = {
    201: "check the number and order of the fields on that line",
    202: "enter a number",
    203: "correct the node id, or add the node",
    204: "correct the link id, or add the link",
    205: "add the pattern to [PATTERNS], or correct its id",
    206: "add the curve to [CURVES], or correct its id",
    207: "a check valve or general-purpose valve cannot be controlled; remove the control",
    209: "give a node property value in its valid range",
    211: "length, diameter and roughness must be > 0",
    213: "check the option's value in [OPTIONS]",
    215: "give each node and each link its own id",
    219: "a valve cannot join a tank or reservoir directly; put a pipe between them",
    220: "two valves of this type cannot share a node or be in series; move one",
    222: "the link starts and ends at the same node; correct one end",
    223: "the network needs at least one tank or reservoir and one junction",
    224: "add a tank or reservoir",
    225: "order the tank levels: MinLevel <= InitLevel <= MaxLevel",
    230: "give the curve's x values in increasing order",
    233: "connect the node with a pipe, or delete it",
}


@dataclass(frozen=True)
class InpProblem:
    """One problem of an ``.inp`` file: where it is and what to do about it."""

    section: str
    line: int | None
    element: str | None
    field: str | None
    message: str

    def format(self, name: str) -> str:
        """``FILE: [SECTION] line N, KIND ID, field F: MESSAGE`` (parts that are known)."""
        where = [f"[{self.section}]" if self.section else ""]
        if self.line is not None:
            where.append(f"line {self.line}")
        head = " ".join(w for w in where if w)
        kind = _KIND.get(self.section, "element")
        parts = [p for p in (head, f"{kind} {self.element}" if self.element and kind else "",
                             f"field {self.field}" if self.field else "") if p]
        return f"{name}: {', '.join(parts)}: {self.message}" if parts else (
            f"{name}: {self.message}")


@dataclass(frozen=True)
class _Row:
    section: str
    line: int
    tokens: list[str]
    text: str


def _rows(path: Path) -> list[_Row]:
    """Non-empty, non-comment lines with their section and 1-based line number."""
    out: list[_Row] = []
    section = ""
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.split(";", 1)[0].strip()
        if not body:
            continue
        if body.startswith("["):
            section = body.strip("[]").strip().upper()
            continue
        tokens = [t.strip('"') for t in _TOKEN.findall(body)]
        out.append(_Row(section, number, tokens, raw))
    return out


def _units(rows: list[_Row]) -> dict[str, str]:
    flow = next((r.tokens[1].upper() for r in rows if r.section == "OPTIONS"
                 and len(r.tokens) > 1 and r.tokens[0].upper() == "UNITS"), "GPM")
    us = flow in _US
    return {"flow": flow, "length": "feet" if us else "m", "diameter": "inches" if us else "mm"}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _Checker:
    """Collects the problems of one file's rows."""

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.units = _units(rows)
        self.problems: list[InpProblem] = []
        self.nodes: dict[str, tuple[str, int]] = {}
        self.links: dict[str, tuple[str, int]] = {}
        self.patterns = {r.tokens[0] for r in rows if r.section == "PATTERNS"}
        self.curves = {r.tokens[0] for r in rows if r.section == "CURVES"}
        self.linked: set[str] = set()

    def add(self, row: _Row, field: str | None, message: str, element: str | None = None
            ) -> None:
        el = element if element is not None else (row.tokens[0] if row.tokens else None)
        self.problems.append(InpProblem(row.section, row.line, el, field, message))

    def ids(self) -> None:
        for sections, table, what in ((_NODES, self.nodes, "node"), (_LINKS, self.links,
                                                                     "link")):
            for r in self.rows:
                if r.section not in sections:
                    continue
                name = r.tokens[0]
                if name in table:
                    sec, line = table[name]
                    self.add(r, "ID", f"id {name!r} is already used by the {what} on line "
                             f"{line} ([{sec}]); give each {what} its own id")
                else:
                    table[name] = (r.section, r.line)

    def enough(self, row: _Row, names: list[str]) -> bool:
        if len(row.tokens) >= len(names):
            return True
        self.add(row, names[len(row.tokens)], f"missing; the line needs {' '.join(names)} "
                 f"(found {len(row.tokens)} field(s)): complete it")
        return False

    def num(self, row: _Row, i: int, field: str, *, low: float | None = None,
            strict: bool = False, fix: str = "") -> float | None:
        value = _number(row.tokens[i])
        if value is None:
            self.add(row, field, f"{row.tokens[i]!r} is not a number; {fix or 'enter one'}")
            return None
        if low is not None and (value <= low if strict else value < low):
            sign = ">" if strict else ">="
            self.add(row, field, f"{row.tokens[i]} is not {sign} {low:g}; {fix or 'correct it'}")
        return value

    def ref(self, row: _Row, i: int, field: str, known: set[str] | dict[str, tuple[str, int]],
            what: str, fix: str) -> None:
        if row.tokens[i] not in known:
            self.add(row, field, f"{row.tokens[i]!r} is not {what} of the file; {fix}")

    def link_ends(self, row: _Row) -> None:
        for i, f in ((1, "Node1"), (2, "Node2")):
            self.ref(row, i, f, self.nodes, "a junction, reservoir or tank",
                     "correct the id, or add the node")
        if row.tokens[1] == row.tokens[2]:
            self.add(row, "Node2", f"the link starts and ends at node {row.tokens[1]!r}; "
                     "correct one end")
        self.linked.update(row.tokens[1:3])


def _junction(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["ID", "Elevation"]):
        return
    c.num(r, 1, "Elevation", fix=f"give the ground elevation in {c.units['length']}")
    if len(r.tokens) > 2:
        c.num(r, 2, "Demand", fix=f"give the base demand in {c.units['flow']}")
    if len(r.tokens) > 3:
        c.ref(r, 3, "Pattern", c.patterns, "a pattern", "add it to [PATTERNS] or clear it")


def _reservoir(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["ID", "Head"]):
        return
    c.num(r, 1, "Head", fix=f"give the total head in {c.units['length']}")
    if len(r.tokens) > 2:
        c.ref(r, 2, "Pattern", c.patterns, "a pattern", "add it to [PATTERNS] or clear it")


def _tank(c: _Checker, r: _Row) -> None:
    names = ["ID", "Elevation", "InitLevel", "MinLevel", "MaxLevel", "Diameter"]
    if not c.enough(r, names):
        return
    unit = c.units["length"]
    c.num(r, 1, "Elevation", fix=f"give the bottom elevation in {unit}")
    levels = [c.num(r, i, names[i], low=0.0, fix=f"give the level in {unit} above the bottom")
              for i in (2, 3, 4)]
    curve = r.tokens[7] if len(r.tokens) > 7 and r.tokens[7] != "*" else None
    c.num(r, 5, "Diameter", low=0.0, strict=curve is None,
          fix=f"give the tank's diameter in {unit} (> 0 without a volume curve)")
    if len(r.tokens) > 6 and r.tokens[6] != "*":
        c.num(r, 6, "MinVol", low=0.0, fix="give the volume at the minimum level")
    if curve is not None:
        c.ref(r, 7, "VolCurve", c.curves, "a curve", "add it to [CURVES] or write *")
    init, low, high = levels
    if init is not None and low is not None and high is not None and not low <= init <= high:
        c.add(r, "InitLevel", f"levels out of order (min {low:g}, initial {init:g}, max "
              f"{high:g}); order them MinLevel <= InitLevel <= MaxLevel")


def _pipe(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["ID", "Node1", "Node2", "Length", "Diameter", "Roughness"]):
        return
    c.link_ends(r)
    c.num(r, 3, "Length", low=0.0, strict=True,
          fix=f"give the pipe's length in {c.units['length']}")
    c.num(r, 4, "Diameter", low=0.0, strict=True,
          fix=f"give the pipe's inner diameter in {c.units['diameter']}, or delete the pipe")
    c.num(r, 5, "Roughness", low=0.0, strict=True,
          fix="give the roughness coefficient (Hazen-Williams C about 100-150)")
    if len(r.tokens) > 6:
        c.num(r, 6, "MinorLoss", low=0.0, fix="give a minor loss coefficient >= 0")
    if len(r.tokens) > 7 and r.tokens[7].upper() not in ("OPEN", "CLOSED", "CV"):
        c.add(r, "Status", f"{r.tokens[7]!r} is not a pipe status; use OPEN, CLOSED or CV")


def _pump(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["ID", "Node1", "Node2", "HEAD curve_id | POWER kW"]):
        return
    c.link_ends(r)
    rest = r.tokens[3:]
    keys = [k.upper() for k in rest[0::2]]
    if len(rest) % 2:
        c.add(r, rest[-1].upper(), "a keyword without its value; give HEAD curve_id, "
              "POWER kW, SPEED s or PATTERN id in pairs")
    for k, (key, value) in enumerate(zip(keys, rest[1::2], strict=False)):
        i = 3 + 2 * k + 1
        if key == "HEAD":
            c.ref(r, i, "HEAD", c.curves, "a curve", "add the pump curve to [CURVES]")
        elif key == "POWER":
            c.num(r, i, "POWER", low=0.0, strict=True, fix="give the pump's power "
                  f"in {'hp' if c.units['length'] == 'feet' else 'kW'}")
        elif key == "SPEED":
            c.num(r, i, "SPEED", low=0.0, fix="give the relative speed")
        elif key == "PATTERN":
            c.ref(r, i, "PATTERN", c.patterns, "a pattern", "add it to [PATTERNS]")
        else:
            c.add(r, key, f"{rest[2 * k]!r} is not a pump keyword (value {value!r}); use "
                  "HEAD, POWER, SPEED or PATTERN")
    if "HEAD" not in keys and "POWER" not in keys:
        c.add(r, "HEAD", "the pump has neither a HEAD curve nor a POWER; give one")


def _valve(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["ID", "Node1", "Node2", "Diameter", "Type", "Setting"]):
        return
    c.link_ends(r)
    c.num(r, 3, "Diameter", low=0.0, strict=True,
          fix=f"give the valve's diameter in {c.units['diameter']}")
    kind = r.tokens[4].upper()
    if kind not in _VALVES:
        c.add(r, "Type", f"{r.tokens[4]!r} is not a valve type; use one of "
              f"{', '.join(_VALVES)}")
    elif kind == "GPV":
        c.ref(r, 5, "Setting", c.curves, "a curve", "a GPV's setting is its head-loss curve")
    else:
        c.num(r, 5, "Setting", fix="give the valve's setting (pressure, flow or loss "
              "coefficient)")
    if len(r.tokens) > 6:
        c.num(r, 6, "MinorLoss", low=0.0, fix="give a minor loss coefficient >= 0")


def _junction_ref(c: _Checker, r: _Row) -> None:
    juncs = {n for n, (sec, _) in c.nodes.items() if sec == "JUNCTIONS"}
    c.ref(r, 0, "Junction", juncs, "a junction", "correct the id, or add the junction")


def _demand(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["Junction", "Demand"]):
        return
    _junction_ref(c, r)
    c.num(r, 1, "Demand", fix=f"give the base demand in {c.units['flow']}")
    if len(r.tokens) > 2:
        c.ref(r, 2, "Pattern", c.patterns, "a pattern", "add it to [PATTERNS] or clear it")


def _emitter(c: _Checker, r: _Row) -> None:
    if not c.enough(r, ["Junction", "Coefficient"]):
        return
    _junction_ref(c, r)
    c.num(r, 1, "Coefficient", low=0.0, fix="give the emitter coefficient")


def _numbers(fields: list[str]) -> Callable[[_Checker, _Row], None]:
    """Rows of an id and numbers: patterns (multipliers), curves, coordinates, vertices."""
    def check(c: _Checker, r: _Row) -> None:
        if not c.enough(r, ["ID", *fields]):
            return
        for i in range(1, len(r.tokens)):
            c.num(r, i, fields[min(i - 1, len(fields) - 1)])
    return check


_CHECKS: dict[str, Callable[[_Checker, _Row], None]] = {
    "JUNCTIONS": _junction, "RESERVOIRS": _reservoir, "TANKS": _tank, "PIPES": _pipe,
    "PUMPS": _pump, "VALVES": _valve, "DEMANDS": _demand, "EMITTERS": _emitter,
    "PATTERNS": _numbers(["Multiplier"]), "CURVES": _numbers(["X", "Y"]),
    "COORDINATES": _numbers(["X", "Y"]), "VERTICES": _numbers(["X", "Y"]),
}


def check_inp(path: str | Path) -> list[InpProblem]:
    """Every problem of the network sections of an EPANET ``.inp`` file, in file order.

    Parameters
    ----------
    path : str or Path
        The ``.inp`` file. Units (mm or inches, m or feet) follow its ``[OPTIONS] Units``.

    Returns
    -------
    list of InpProblem
        Empty when the file looks sound (EPANET may still refuse it: :func:`epanet_errors`).

    Examples
    --------
    >>> from twin.network.water import NET3
    >>> check_inp(NET3)
    []
    """
    c = _Checker(_rows(Path(path)))
    c.ids()
    for r in c.rows:
        check = _CHECKS.get(r.section)
        if check is not None:
            check(c, r)
    for name, (section, line) in c.nodes.items():
        if name not in c.linked:
            c.problems.append(InpProblem(section, line, name, None, "not connected to any "
                                         "pipe, pump or valve; connect it, or delete it"))
    return sorted(c.problems, key=lambda p: p.line or 0)


def inp_error(path: str | Path, problems: list[InpProblem], *, note: str = "") -> UtilityError:
    """One error listing the problems (the first :data:`MAX_LISTED`, then a count).

    Examples
    --------
    >>> str(inp_error("n.inp", [InpProblem("PIPES", 9, "P1", "Length", "0 is not > 0")]))
    'n.inp: [PIPES] line 9, pipe P1, field Length: 0 is not > 0'
    """
    name = Path(path).name
    if len(problems) == 1:
        return UtilityError(problems[0].format(name) + (f"; {note}" if note else ""))
    lines = [p.format(name) for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more problems")
    if note:
        lines.append(note)
    head = f"{name}: not a valid EPANET input file, {len(problems)} problems:"
    return UtilityError("\n".join([head, *(f"  {line}" for line in lines)]))


def _line_of(rows: list[_Row], section: str | None, text: str) -> _Row | None:
    want = " ".join(text.split(";", 1)[0].split())
    for r in rows:
        if (section is None or r.section == section) and " ".join(
                r.text.split(";", 1)[0].split()) == want:
            return r
    return None


def explain_wntr_error(path: str | Path, err: BaseException) -> list[InpProblem]:
    """Place what WNTR raised on the file: its line number, or the line with the bad value.

    Examples
    --------
    >>> explain_wntr_error("none.inp", ValueError("odd"))[0].message
    'WNTR cannot read it (ValueError: odd)'
    """
    p = Path(path)
    rows = _rows(p) if p.exists() else []
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and len(chain) < 10:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        found = re.search(r"at line (\d+)", str(e))
        line = int(found.group(1)) if found else getattr(e, "line_num", None)
        if line:
            row = next((r for r in rows if r.line == int(line)), None)
            inner = chain[-1]
            what = f"WNTR: {e} ({type(inner).__name__}: {inner})" if inner is not e else \
                f"WNTR: {e}"
            return [InpProblem(row.section if row else "", int(line),
                               row.tokens[0] if row and row.tokens else None, None,
                               f"{what}; correct the line")]
    inner = chain[-1]
    text = str(inner)
    quoted = re.search(r"'([^']+)'", text)
    if quoted:
        hits = [r for r in rows if quoted.group(1) in r.tokens]
        if hits:
            r = hits[0]
            return [InpProblem(r.section, r.line, r.tokens[0], None,
                               f"{quoted.group(1)!r} cannot be read ({type(inner).__name__}: "
                               f"{text}); correct the value")]
    return [InpProblem("", None, None, None, f"WNTR cannot read it ({type(inner).__name__}: "
                                             f"{text})")]


_REPORT = re.compile(r"Error (\d+):\s*(?:Error \d+:\s*)?(.*?)(?: in \[(\w+)\] section:)?\s*$")


def report_errors(text: str) -> list[tuple[int, str, str | None, str | None]]:
    """``(code, message, section, quoted line)`` of each error in an EPANET report.

    Examples
    --------
    >>> report_errors("  Error 233: Error 233:  unconnected node J7\\n  Error 200: one or more")
    [(233, 'unconnected node J7', None, None)]
    """
    out: list[tuple[int, str, str | None, str | None]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _REPORT.search(line)
        if not m or int(m.group(1)) == 200:
            continue
        quoted = lines[i + 1].strip() if m.group(3) and i + 1 < len(lines) else None
        out.append((int(m.group(1)), " ".join(m.group(2).split()), m.group(3), quoted))
    return out


def epanet_errors(path: str | Path) -> list[InpProblem]:
    """Open ``path`` with EPANET's toolkit (report in a temporary folder); return its errors.

    Each error of EPANET's report becomes a problem with EPANET's code and words, placed on
    the line it quotes (or on the line of the element it names) and the fix for that code.

    Examples
    --------
    >>> from twin.network.water import NET1
    >>> epanet_errors(NET1)
    []
    """
    from wntr.epanet import toolkit

    p = Path(path)
    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
        rpt, out = Path(tmp) / "check.rpt", Path(tmp) / "check.bin"
        en = toolkit.ENepanet(version=2.2)
        try:
            en.ENopen(str(p), str(rpt), str(out))
        except Exception:  # EPANET says why in its report, read below
            with contextlib.suppress(Exception):
                en.ENclose()
            text = rpt.read_text(encoding="utf-8", errors="replace") if rpt.exists() else ""
        else:
            en.ENclose()
            return []
    rows = _rows(p)
    problems = []
    for code, message, section, quoted in report_errors(text) or [(200, "one or more errors "
                                                                   "in input file", None, None)]:
        row = _line_of(rows, section, quoted) if quoted else None
        if row is None:  # "unconnected node J7": the line of J7
            name = message.split()[-1] if message else ""
            row = next((r for r in rows if r.section in (*_NODES, *_LINKS) and r.tokens
                        and r.tokens[0] == name), None)
        fix = _EPANET_FIX.get(code, "correct it, or export the model again from EPANET")
        problems.append(InpProblem(row.section if row else (section or ""),
                                   row.line if row else None,
                                   row.tokens[0] if row and row.tokens else None, None,
                                   f"EPANET Error {code}: {message}; {fix}"))
    return problems
