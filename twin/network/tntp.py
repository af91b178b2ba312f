"""Read networks in the TNTP format (https://github.com/bstabler/TransportationNetworks).

A TNTP network is a set of text files sharing a prefix: ``NAME_net.tntp`` (links),
``NAME_trips.tntp`` (OD demand), and optionally ``NAME_node.tntp`` (coordinates) and
``NAME_flow.tntp`` (the best-known equilibrium flows). Files start with metadata lines
(``<NUMBER OF ZONES> 24`` ... ``<END OF METADATA>``); ``~`` starts a comment; rows may be
separated by tabs or spaces and end with ``;``.

Node numbers are kept in :attr:`TNTPData.node_ids`; the :class:`~twin.network.assign.Network`
numbers nodes ``0 .. n - 1`` in increasing TNTP order, so zones ``1 .. Z`` are nodes
``0 .. Z - 1`` and ``<FIRST THRU NODE> k`` becomes ``first_thru_node`` = number of nodes below
``k``. Links keep the order of the net file and are labelled ``1 .. m`` in messages.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "toy_net.tntp").write_text(
...     "<NUMBER OF ZONES> 2\\n<NUMBER OF NODES> 3\\n<FIRST THRU NODE> 3\\n"
...     "<NUMBER OF LINKS> 2\\n<END OF METADATA>\\n"
...     "~ init term cap len fft b power speed toll type ;\\n"
...     "1\\t3\\t100\\t1\\t5\\t0.15\\t4\\t0\\t0\\t1\\t;\\n3 2 100 1 5 ;\\n")
>>> _ = (d / "toy_trips.tntp").write_text("<NUMBER OF ZONES> 2\\nOrigin 1\\n 2 : 10.0; 1 : 0;\\n")
>>> data = read_tntp(d)
>>> data.network.n_nodes, data.network.first_thru_node, data.demand.tolist()
(3, 2, [[0.0, 10.0], [0.0, 0.0]])
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from twin._errors import AssignmentError
from twin.network.assign import Network

__all__ = ["TNTPData", "TNTPLinks", "find_tntp_files", "read_flows", "read_links",
           "read_nodes", "read_tntp", "read_trips"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Link columns of a net file, in order; the first five are required.
LINK_COLUMNS = ("init_node", "term_node", "capacity", "length", "free_flow_time", "b", "power",
                "speed", "toll", "link_type")
_DEFAULTS = {"b": 0.15, "power": 4.0, "speed": 0.0, "toll": 0.0, "link_type": 1.0}
_N_REQUIRED = 5
_META = re.compile(r"^\s*<([^>]*)>\s*(.*)$")
_ORIGIN = re.compile(r"^\s*origin\b\s*(.*)$", re.IGNORECASE)
_SUFFIXES = {"net": ("_net.tntp",), "trips": ("_trips.tntp",),
             "node": ("_node.tntp", "_nodes.tntp"), "flow": ("_flow.tntp",)}


@dataclass
class TNTPLinks:
    """The link table of a net file, as written (TNTP node numbers)."""

    path: Path
    metadata: dict[str, str]
    columns: dict[str, FloatArray]
    lines: IntArray

    @property
    def init_node(self) -> IntArray:
        """Tail node number of each link."""
        return self.columns["init_node"].astype(np.int64)

    @property
    def term_node(self) -> IntArray:
        """Head node number of each link."""
        return self.columns["term_node"].astype(np.int64)


@dataclass
class TNTPData:
    """A TNTP network read by :func:`read_tntp`.

    Attributes
    ----------
    name : str
        The common file prefix, e.g. ``"SiouxFalls"``.
    network : Network
        Links with BPR parameters; ``link_ids`` are the link numbers ``1 .. m``.
    demand : ndarray
        Trips, zones x zones (row ``i`` is zone ``zone_ids[i]``).
    node_ids : ndarray
        TNTP number of each network node (zones first, in ``zone_ids`` order).
    zone_ids : ndarray
        TNTP number of each zone (row of ``demand``): ``1 .. <NUMBER OF ZONES>``, or the
        numbers the trips file uses when it numbers zones like nodes (as Munich does).
    links : TNTPLinks
        Every column of the net file (speed, toll, link_type ...) and its metadata.
    trips_metadata : dict
        Metadata of the trips file.
    coordinates : ndarray or None
        ``(n_nodes, 2)`` x, y from the node file (NaN where missing).
    best_flows, best_costs : ndarray or None
        Best-known volume and cost per link from the flow file (NaN where missing).
    files : dict
        The files read, by kind (``net``, ``trips``, ``node``, ``flow``).
    """

    name: str
    network: Network
    demand: FloatArray
    node_ids: IntArray
    zone_ids: IntArray
    links: TNTPLinks
    trips_metadata: dict[str, str]
    coordinates: FloatArray | None = None
    best_flows: FloatArray | None = None
    best_costs: FloatArray | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def best_tstt(self) -> float:
        """Total system travel time of the best-known flows (NaN without a flow file)."""
        if self.best_flows is None or self.best_costs is None:
            return math.nan
        return float(np.nansum(self.best_flows * self.best_costs))


def _fail(path: Path, lineno: int | None, what: str) -> AssignmentError:
    where = f"{path}, line {lineno}" if lineno is not None else str(path)
    return AssignmentError(f"{where}: {what}")


def _split_metadata(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Split a file into its metadata and the (line number, text) of the other non-blank lines,
    with ``~`` comments removed."""
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    in_meta = True
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, raw in enumerate(fh, 1):
                text = raw.split("~", 1)[0].strip()
                match = _META.match(text) if in_meta and text else None
                if match is None:
                    in_meta = in_meta and not text
                    body += [(lineno, text)] if text else []
                elif (key := " ".join(match.group(1).upper().split())) == "END OF METADATA":
                    in_meta = False
                else:
                    meta[key] = match.group(2).strip()
    except OSError as err:
        raise _fail(path, None, f"cannot be read ({err.strerror or err})") from err
    return meta, body


def _meta_int(path: Path, meta: dict[str, str], key: str) -> int | None:
    if key not in meta:
        return None
    value = meta[key].split()
    try:
        return int(value[0])
    except (IndexError, ValueError):
        msg = f"metadata <{key}> must be an integer (got {meta[key]!r})"
        raise _fail(path, None, msg) from None


def _number(path: Path, lineno: int, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise _fail(path, lineno, f"{what} is not a number (got {token!r})") from None
    if not math.isfinite(value):
        raise _fail(path, lineno, f"{what} must be finite (got {token!r})")
    return value


def _node_id(path: Path, lineno: int, token: str, what: str) -> int:
    value = _number(path, lineno, token, what)
    if value != int(value) or value < 1:
        raise _fail(path, lineno, f"{what} must be a whole number >= 1 (got {token!r})")
    return int(value)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _rows(path: Path, body: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """Yield tokenised rows, skipping a leading header line of words (e.g. ``From To ...``)."""
    for k, (lineno, text) in enumerate(body):
        tokens = text.split(";", 1)[0].split()
        if not tokens:
            if text.split(";", 1)[1].strip():
                raise _fail(path, lineno, f"text after ';' ({text!r})")
            continue
        if k == 0 and not _is_number(tokens[0]):
            continue
        yield lineno, tokens


def read_links(path: str | Path) -> TNTPLinks:
    """Read the link table of a ``*_net.tntp`` file.

    Columns after ``free_flow_time`` may be missing (``b`` = 0.15, ``power`` = 4, ``speed`` = 0,
    ``toll`` = 0, ``link_type`` = 1).

    Parameters
    ----------
    path : str or Path
        The net file.

    Returns
    -------
    TNTPLinks

    Raises
    ------
    AssignmentError
        Naming the file and line for a malformed row, a negative capacity or free-flow time,
        or a ``<NUMBER OF LINKS>`` that does not match the rows.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x_net.tntp"
    >>> _ = f.write_text("<NUMBER OF LINKS> 1\\n<END OF METADATA>\\n1 2 10 3 4 ;\\n")
    >>> links = read_links(f)
    >>> links.columns["power"].tolist(), links.init_node.tolist(), links.lines.tolist()
    ([4.0], [1], [3])
    """
    path = Path(path)
    meta, body = _split_metadata(path)
    rows: list[list[float]] = []
    lines: list[int] = []
    for lineno, tokens in _rows(path, body):
        if len(tokens) < _N_REQUIRED or len(tokens) > len(LINK_COLUMNS):
            msg = (f"expected {_N_REQUIRED} to {len(LINK_COLUMNS)} columns "
                   f"({' '.join(LINK_COLUMNS)}), got {len(tokens)}")
            raise _fail(path, lineno, msg)
        values = [float(_node_id(path, lineno, tokens[0], "init_node")),
                  float(_node_id(path, lineno, tokens[1], "term_node"))]
        values += [_number(path, lineno, tok, name)
                   for tok, name in zip(tokens[2:], LINK_COLUMNS[2:], strict=False)]
        values += [_DEFAULTS[name] for name in LINK_COLUMNS[len(tokens):]]
        label = f"link {len(rows) + 1} ({tokens[0]} -> {tokens[1]})"
        for col in ("capacity", "free_flow_time", "b", "power"):
            value = values[LINK_COLUMNS.index(col)]
            if value < 0:
                raise _fail(path, lineno, f"{label}: {col} must be >= 0 (got {value:g})")
        rows.append(values)
        lines.append(lineno)
    declared = _meta_int(path, meta, "NUMBER OF LINKS")
    if declared is not None and declared != len(rows):
        msg = f"<NUMBER OF LINKS> is {declared} but the file has {len(rows)} link rows"
        raise _fail(path, None, msg)
    if not rows:
        raise _fail(path, None, "no link rows")
    table = np.asarray(rows, dtype=np.float64)
    columns = {name: table[:, k].copy() for k, name in enumerate(LINK_COLUMNS)}
    return TNTPLinks(path=path, metadata=meta, columns=columns,
                     lines=np.asarray(lines, dtype=np.int64))


def _pairs(path: Path, lineno: int, text: str) -> Iterator[tuple[int, float]]:
    for piece in filter(None, (p.strip() for p in text.split(";"))):
        parts = piece.split(":")
        if len(parts) != 2:
            msg = f"expected 'destination : flow' pairs separated by ';', got {piece!r}"
            raise _fail(path, lineno, msg)
        dest = _node_id(path, lineno, parts[0].strip(), "destination")
        flow = _number(path, lineno, parts[1].strip(), f"flow to destination {dest}")
        if flow < 0:
            raise _fail(path, lineno, f"flow to destination {dest} is negative ({flow:g})")
        yield dest, flow


#: origin, destination, flow, line of the pair, line of its ``Origin``
_TripRows = tuple[IntArray, IntArray, FloatArray, IntArray, IntArray]


def _trip_rows(path: Path) -> tuple[dict[str, str], _TripRows]:
    """Metadata and every (origin, destination, flow, line) of a trips file, as written."""
    meta, body = _split_metadata(path)
    rows: list[tuple[int, int, float, int, int]] = []
    origin: int | None = None
    origin_line = 0
    for lineno, text in body:
        match = _ORIGIN.match(text)
        if match is not None:
            rest = match.group(1).split(None, 1)
            if not rest:
                raise _fail(path, lineno, "'Origin' without a zone number")
            origin, origin_line = _node_id(path, lineno, rest[0].rstrip(";"), "origin"), lineno
            text = rest[1] if len(rest) > 1 else ""
        for dest, flow in _pairs(path, lineno, text):
            if origin is None:
                raise _fail(path, lineno, "'destination : flow' pairs before any 'Origin' line")
            rows.append((origin, dest, flow, lineno, origin_line))
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return meta, (np.asarray(cols[0], dtype=np.int64), np.asarray(cols[1], dtype=np.int64),
                  np.asarray(cols[2], dtype=np.float64), np.asarray(cols[3], dtype=np.int64),
                  np.asarray(cols[4], dtype=np.int64))


def _infer_zones(n_zones: int | None, ids: IntArray, nodes: IntArray | None = None) -> IntArray:
    """Zones ``1 .. n_zones``, unless the file numbers zones like nodes (e.g. Munich): then the
    numbers used, if most lie outside ``1 .. n_zones``, there are at most ``n_zones`` of them
    and (when ``nodes`` is given) all are nodes of the network."""
    used = np.unique(ids)
    if n_zones is None:
        return used
    inside = int(np.sum((used >= 1) & (used <= n_zones)))
    if (used.size - inside > inside and used.size <= n_zones
            and (nodes is None or np.isin(used, nodes).all())):
        return used
    return np.arange(1, n_zones + 1, dtype=np.int64)


def _lookup(keys: IntArray, values: IntArray) -> tuple[IntArray, NDArray[np.bool_]]:
    """Position of each value in ``keys`` (any order) and whether it was found."""
    sorter = np.argsort(keys, kind="stable")
    pos = np.minimum(np.searchsorted(keys, values, sorter=sorter), max(keys.size - 1, 0))
    found = keys[sorter[pos]] == values if keys.size else np.zeros(values.size, dtype=bool)
    return sorter[pos], found


def _demand(path: Path, rows: _TripRows, zone_ids: IntArray) -> FloatArray:
    origins, dests, flows, lines, origin_lines = rows
    n = zone_ids.size
    what = f"(1..{n})" if np.array_equal(zone_ids, np.arange(1, n + 1)) else f"(one of {n})"
    index = []
    for name, ids, at in (("origin", origins, origin_lines), ("destination", dests, lines)):
        pos, found = _lookup(zone_ids, ids)
        if not found.all():
            k = int(np.flatnonzero(~found)[0])
            raise _fail(path, int(at[k]), f"{name} {ids[k]} is not a zone {what}")
        index.append(pos)
    demand = np.zeros((n, n))
    np.add.at(demand, (index[0], index[1]), flows)
    return demand


def read_trips(path: str | Path, zone_ids: ArrayLike | None = None,
               ) -> tuple[FloatArray, IntArray, dict[str, str]]:
    """Read a ``*_trips.tntp`` file into a dense zones x zones matrix.

    Parameters
    ----------
    path : str or Path
        The trips file: ``Origin  i`` lines, each followed by ``j : flow;`` pairs (any
        spacing, several per line). Repeated pairs are added.
    zone_ids : array-like of int, optional
        Zone number of each row and column. By default ``1 .. <NUMBER OF ZONES>``, or, when
        the file numbers zones like nodes (as Munich does), the sorted numbers it uses.

    Returns
    -------
    (ndarray, ndarray, dict)
        The matrix, the zone number of each row, and the file's metadata.

    Raises
    ------
    AssignmentError
        Naming the file and line of a malformed line, an unknown zone or a negative flow.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x_trips.tntp"
    >>> _ = f.write_text("<NUMBER OF ZONES> 2\\n<END OF METADATA>\\nOrigin 2\\n1 :5; 2: 0.0 ;\\n")
    >>> demand, zones, _ = read_trips(f)
    >>> demand.tolist(), zones.tolist()
    ([[0.0, 0.0], [5.0, 0.0]], [1, 2])
    """
    path = Path(path)
    meta, rows = _trip_rows(path)
    declared = _meta_int(path, meta, "NUMBER OF ZONES")
    if zone_ids is None:
        zones = _infer_zones(declared, np.concatenate((rows[0], rows[1])))
    else:
        zones = np.asarray(zone_ids, dtype=np.int64)
    demand = _demand(path, rows, zones)
    _check_total(path, meta, demand)
    return demand, zones, meta


def _check_total(path: Path, meta: dict[str, str], demand: FloatArray) -> None:
    total = meta.get("TOTAL OD FLOW", "").split()
    if total and _is_number(total[0]):
        want, got = float(total[0]), float(demand.sum())
        if abs(want - got) > 1e-3 * max(abs(want), 1.0):
            warnings.warn(f"{path}: <TOTAL OD FLOW> is {want:g} but the flows add up to {got:g}",
                          stacklevel=3)


def read_flows(path: str | Path) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Read a ``*_flow.tntp`` file (``From To Volume Cost`` rows; the cost may be missing).

    Returns
    -------
    (from, to, volume, cost)
        TNTP node numbers, volumes and costs (NaN when the column is absent).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x_flow.tntp"
    >>> _ = f.write_text("From\\tTo\\tVolume\\tCost\\n1\\t2\\t4.5\\t6.0\\n2 1 3.0 ;\\n")
    >>> [a.tolist() for a in read_flows(f)]
    [[1, 2], [2, 1], [4.5, 3.0], [6.0, nan]]
    """
    table = _table(Path(path), ("from", "to", "volume", "cost"), n_ids=2, n_min=3)
    return (table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2],
            table[:, 3])


def _table(path: Path, names: tuple[str, ...], n_ids: int, n_min: int) -> FloatArray:
    """A node or flow file as a float table: ``n_ids`` id columns, at least ``n_min`` columns
    (NaN for missing ones), further columns ignored."""
    _, body = _split_metadata(path)
    rows: list[list[float]] = []
    for lineno, tokens in _rows(path, body):
        if len(tokens) < n_min:
            msg = f"expected '{' '.join(names)}', got {len(tokens)} column(s)"
            raise _fail(path, lineno, msg)
        rows.append([float(_node_id(path, lineno, tok, name)) if k < n_ids else
                     _number(path, lineno, tok, name)
                     for k, (tok, name) in enumerate(zip(tokens, names, strict=False))])
        rows[-1] += [math.nan] * (len(names) - len(rows[-1]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, len(names))


def read_nodes(path: str | Path) -> tuple[IntArray, FloatArray]:
    """Read a ``*_node.tntp`` file (``Node X Y`` rows).

    Returns
    -------
    (ids, xy)
        Node numbers and an ``(n, 2)`` array of coordinates.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x_node.tntp"
    >>> _ = f.write_text("Node\\tX\\tY\\t;\\n1\\t-96.7\\t43.6\\t;\\n")
    >>> ids, xy = read_nodes(f)
    >>> ids.tolist(), xy.tolist()
    ([1], [[-96.7, 43.6]])
    """
    table = _table(Path(path), ("node", "x", "y"), n_ids=1, n_min=3)
    return table[:, 0].astype(np.int64), table[:, 1:]


def find_tntp_files(path: str | Path, *, trips: str | Path | None = None) -> dict[str, Path]:
    """Find a network's files from its directory or its net file.

    Parameters
    ----------
    path : str or Path
        A directory with exactly one ``*_net.tntp``, or the net file; siblings are found by
        the common prefix (``NAME_trips.tntp``, ``NAME_node.tntp``, ``NAME_flow.tntp``).
    trips : str or Path, optional
        The trips file to use instead (e.g. when a folder holds several).

    Returns
    -------
    dict
        ``{"net": ..., "trips": ...}`` plus ``"node"`` and ``"flow"`` when present.

    Raises
    ------
    AssignmentError
        When the net or trips file is missing or ambiguous.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ("A_net.tntp", "A_trips.tntp", "A_flow.tntp"):
    ...     _ = (d / n).write_text("")
    >>> sorted(find_tntp_files(d))
    ['flow', 'net', 'trips']
    """
    path = Path(path)
    if path.is_dir():
        nets = sorted(f for f in path.iterdir() if f.name.lower().endswith("_net.tntp"))
        if len(nets) != 1:
            what = "no *_net.tntp file" if not nets else (
                f"several net files ({', '.join(f.name for f in nets)}); pass one of them")
            raise _fail(path, None, what)
        net = nets[0]
    elif path.is_file():
        net = path
    else:
        raise _fail(path, None, "no such file or directory")
    folder = net.parent
    lower = net.name.lower()
    prefix = net.name[: -len("_net.tntp")] if lower.endswith("_net.tntp") else net.stem
    found = {"net": net}
    if trips is not None:
        if not Path(trips).is_file():
            raise _fail(Path(trips), None, "no such file")
        found["trips"] = Path(trips)
    siblings = sorted(f for f in folder.iterdir() if f.is_file())
    for kind in ("trips", "node", "flow"):
        names = {(prefix + s).lower() for s in _SUFFIXES[kind]}
        hits = [f for f in siblings if f.name.lower() in names]
        if not hits:
            hits = [f for f in siblings if f.name.lower().endswith(_SUFFIXES[kind]) or (
                kind == "trips" and "_trips" in f.name.lower() and f.suffix == ".tntp")]
            if len(hits) > 1 and kind == "trips" and "trips" not in found:
                msg = (f"several trips files ({', '.join(f.name for f in hits)}) and none "
                       f"named {prefix}_trips.tntp; pass trips=")
                raise _fail(folder, None, msg)
            hits = hits if len(hits) == 1 else []
        if hits:
            found.setdefault(kind, hits[0])
    if "trips" not in found:
        raise _fail(folder, None, f"no trips file ({prefix}_trips.tntp) beside {net.name}")
    return found


def _match_links(path: Path, links: TNTPLinks, frm: IntArray, to: IntArray) -> IntArray:
    """Index of the link of each (from, to) row; parallel links are matched in file order."""
    slots: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(zip(links.init_node.tolist(), links.term_node.tolist(),
                                strict=True)):
        slots.setdefault(key, []).append(i)
    out = np.empty(frm.size, dtype=np.int64)
    for k, key in enumerate(zip(frm.tolist(), to.tolist(), strict=True)):
        queue = slots.get(key)
        if not queue:
            msg = f"row {k + 1}: no link {key[0]} -> {key[1]} in the net file (or listed twice)"
            raise _fail(path, None, msg)
        out[k] = queue.pop(0)
    return out


def read_tntp(path: str | Path, *, trips: str | Path | None = None) -> TNTPData:
    """Read a TNTP network: links, trips and, when present, node coordinates and best flows.

    Parameters
    ----------
    path : str or Path
        A directory with one ``*_net.tntp`` file, or the net file itself.
    trips : str or Path, optional
        The trips file, when it is not ``NAME_trips.tntp`` beside the net file.

    Returns
    -------
    TNTPData

    Raises
    ------
    AssignmentError
        Naming the file (and line) of anything malformed or inconsistent.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "t_net.tntp").write_text("<NUMBER OF ZONES> 2\\n1 2 100 1 5\\n2 1 100 1 5\\n")
    >>> _ = (d / "t_trips.tntp").write_text("Origin 1\\n2 : 7;\\n")
    >>> data = read_tntp(d / "t_net.tntp")
    >>> data.name, data.network.n_links, data.network.first_thru_node, float(data.demand.sum())
    ('t', 2, 0, 7.0)
    """
    files = find_tntp_files(path, trips=trips)
    net_path = files["net"]
    links = read_links(net_path)
    meta = links.metadata
    n_zones = _meta_int(net_path, meta, "NUMBER OF ZONES")
    if n_zones is None or n_zones < 1:
        raise _fail(net_path, None, "metadata <NUMBER OF ZONES> is missing or < 1")
    ftn_id = _meta_int(net_path, meta, "FIRST THRU NODE") or 1
    trips_meta, rows = _trip_rows(files["trips"])
    trip_zones = _meta_int(files["trips"], trips_meta, "NUMBER OF ZONES")
    init, term = links.init_node, links.term_node
    zone_ids = _infer_zones(n_zones, np.concatenate((rows[0], rows[1])),
                            np.concatenate((init, term)))
    if trip_zones is not None and trip_zones != n_zones:
        warnings.warn(f"{files['trips']}: <NUMBER OF ZONES> is {trip_zones} but the net file "
                      f"says {n_zones}", stacklevel=2)
    demand = _demand(files["trips"], rows, zone_ids)
    _check_total(files["trips"], trips_meta, demand)
    # zones first (those below <FIRST THRU NODE> lead), then the other nodes by number
    node_ids = np.concatenate((zone_ids, np.setdiff1d(np.concatenate((init, term)), zone_ids)))
    declared_nodes = _meta_int(net_path, meta, "NUMBER OF NODES")
    if declared_nodes is not None and node_ids.size > declared_nodes:
        warnings.warn(f"{net_path}: <NUMBER OF NODES> is {declared_nodes} but links and zones "
                      f"use {node_ids.size} distinct nodes", stacklevel=2)
    cols = links.columns
    network = Network(
        n_nodes=int(node_ids.size), from_node=_lookup(node_ids, init)[0],
        to_node=_lookup(node_ids, term)[0], capacity=cols["capacity"],
        fft=cols["free_flow_time"], b=cols["b"], power=cols["power"], length=cols["length"],
        first_thru_node=int(np.sum(zone_ids < ftn_id)), zone_nodes=np.arange(zone_ids.size),
        link_ids=np.arange(1, init.size + 1))
    lower = net_path.name.lower()
    data = TNTPData(
        name=net_path.name[: -len("_net.tntp")] if lower.endswith("_net.tntp") else net_path.stem,
        network=network, demand=demand, node_ids=node_ids, zone_ids=zone_ids, links=links,
        trips_metadata=trips_meta, files=files)
    if "node" in files:
        ids, xy = read_nodes(files["node"])
        pos, known = _lookup(node_ids, ids)
        data.coordinates = np.full((node_ids.size, 2), np.nan)
        data.coordinates[pos[known]] = xy[known]
    if "flow" in files:
        frm, to, volume, cost = read_flows(files["flow"])
        idx = _match_links(files["flow"], links, frm, to)
        data.best_flows = np.full(init.size, np.nan)
        data.best_costs = np.full(init.size, np.nan)
        data.best_flows[idx] = volume
        data.best_costs[idx] = cost
    return data
