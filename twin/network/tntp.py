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
from numpy.typing import NDArray

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
        Trips, zones x zones (row ``i`` is zone ``i + 1``).
    node_ids : ndarray
        TNTP number of each network node.
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


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) with comments removed, skipping blank lines."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, raw in enumerate(fh, 1):
                text = raw.split("~", 1)[0].strip()
                if text:
                    yield lineno, text
    except OSError as err:
        msg = f"{path}: cannot be read ({err.strerror or err})"
        raise AssignmentError(msg) from err


def _split_metadata(path: Path) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Split a file into its metadata and the (line number, text) of the body."""
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    in_meta = True
    for lineno, text in _lines(path):
        match = _META.match(text) if in_meta else None
        if match is None:
            in_meta = False
            body.append((lineno, text))
            continue
        key = " ".join(match.group(1).upper().split())
        if key == "END OF METADATA":
            in_meta = False
        else:
            meta[key] = match.group(2).strip()
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
    pieces = text.split(";")
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        parts = piece.split(":")
        if len(parts) != 2:
            msg = f"expected 'destination : flow' pairs separated by ';', got {piece!r}"
            raise _fail(path, lineno, msg)
        dest = _node_id(path, lineno, parts[0].strip(), "destination")
        flow = _number(path, lineno, parts[1].strip(), f"flow to destination {dest}")
        if flow < 0:
            raise _fail(path, lineno, f"flow to destination {dest} is negative ({flow:g})")
        yield dest, flow


def read_trips(path: str | Path, n_zones: int | None = None) -> tuple[FloatArray, dict[str, str]]:
    """Read a ``*_trips.tntp`` file into a dense zones x zones matrix.

    Parameters
    ----------
    path : str or Path
        The trips file: ``Origin  i`` lines, each followed by ``j : flow;`` pairs (any
        spacing, several per line). Repeated pairs are added.
    n_zones : int, optional
        Number of zones (the net file's); defaults to the file's ``<NUMBER OF ZONES>``.

    Returns
    -------
    (ndarray, dict)
        The matrix (row ``i`` is zone ``i + 1``) and the file's metadata.

    Raises
    ------
    AssignmentError
        Naming the file and line of a malformed line, a zone out of range or a negative flow.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x_trips.tntp"
    >>> _ = f.write_text("<NUMBER OF ZONES> 2\\n<END OF METADATA>\\nOrigin 2\\n1 :5; 2: 0.0 ;\\n")
    >>> read_trips(f)[0].tolist()
    [[0.0, 0.0], [5.0, 0.0]]
    """
    path = Path(path)
    meta, body = _split_metadata(path)
    declared = _meta_int(path, meta, "NUMBER OF ZONES")
    if n_zones is None:
        if declared is None:
            raise _fail(path, None, "metadata <NUMBER OF ZONES> is missing")
        n_zones = declared
    elif declared is not None and declared != n_zones:
        msg = f"<NUMBER OF ZONES> is {declared} but the net file has {n_zones} zones"
        raise _fail(path, None, msg)
    demand = np.zeros((n_zones, n_zones))
    origin: int | None = None
    for lineno, text in body:
        match = _ORIGIN.match(text)
        if match is not None:
            rest = match.group(1).split(None, 1)
            if not rest:
                raise _fail(path, lineno, "'Origin' without a zone number")
            origin = _node_id(path, lineno, rest[0].rstrip(";"), "origin")
            if origin > n_zones:
                raise _fail(path, lineno, f"origin {origin} is not a zone (1..{n_zones})")
            text = rest[1] if len(rest) > 1 else ""
        for dest, flow in _pairs(path, lineno, text):
            if origin is None:
                raise _fail(path, lineno, "'destination : flow' pairs before any 'Origin' line")
            if dest > n_zones:
                raise _fail(path, lineno, f"destination {dest} is not a zone (1..{n_zones})")
            demand[origin - 1, dest - 1] += flow
    total = meta.get("TOTAL OD FLOW")
    if total is not None and _is_number(total.split()[0] if total.split() else ""):
        want, got = float(total.split()[0]), float(demand.sum())
        if abs(want - got) > 1e-3 * max(abs(want), 1.0):
            warnings.warn(f"{path}: <TOTAL OD FLOW> is {want:g} but the flows add up to {got:g}",
                          stacklevel=2)
    return demand, meta


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
    path = Path(path)
    _, body = _split_metadata(path)
    rows: list[tuple[int, int, float, float]] = []
    for lineno, tokens in _rows(path, body):
        if len(tokens) < 3:
            raise _fail(path, lineno, f"expected 'from to volume [cost]', got {len(tokens)} "
                        "column(s)")
        volume = _number(path, lineno, tokens[2], "volume")
        cost = _number(path, lineno, tokens[3], "cost") if len(tokens) > 3 else math.nan
        rows.append((_node_id(path, lineno, tokens[0], "from node"),
                     _node_id(path, lineno, tokens[1], "to node"), volume, cost))
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return (np.asarray(cols[0], dtype=np.int64), np.asarray(cols[1], dtype=np.int64),
            np.asarray(cols[2], dtype=np.float64), np.asarray(cols[3], dtype=np.float64))


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
    path = Path(path)
    _, body = _split_metadata(path)
    ids: list[int] = []
    xy: list[tuple[float, float]] = []
    for lineno, tokens in _rows(path, body):
        if len(tokens) < 3:
            raise _fail(path, lineno, f"expected 'node x y', got {len(tokens)} column(s)")
        ids.append(_node_id(path, lineno, tokens[0], "node"))
        xy.append((_number(path, lineno, tokens[1], "x"), _number(path, lineno, tokens[2], "y")))
    return np.asarray(ids, dtype=np.int64), np.asarray(xy, dtype=np.float64).reshape(-1, 2)


def find_tntp_files(path: str | Path) -> dict[str, Path]:
    """Find a network's files from its directory or its net file.

    Parameters
    ----------
    path : str or Path
        A directory with exactly one ``*_net.tntp``, or the net file; siblings are found by
        the common prefix (``NAME_trips.tntp``, ``NAME_node.tntp``, ``NAME_flow.tntp``).

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
    siblings = sorted(f for f in folder.iterdir() if f.is_file())
    for kind in ("trips", "node", "flow"):
        names = {(prefix + s).lower() for s in _SUFFIXES[kind]}
        hits = [f for f in siblings if f.name.lower() in names]
        if not hits:
            hits = [f for f in siblings if f.name.lower().endswith(_SUFFIXES[kind])]
            if len(hits) > 1:
                if kind == "trips":
                    msg = (f"several trips files ({', '.join(f.name for f in hits)}) and none "
                           f"named {prefix}_trips.tntp")
                    raise _fail(folder, None, msg)
                hits = []
        if hits:
            found[kind] = hits[0]
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


def read_tntp(path: str | Path) -> TNTPData:
    """Read a TNTP network: links, trips and, when present, node coordinates and best flows.

    Parameters
    ----------
    path : str or Path
        A directory with one ``*_net.tntp`` file, or the net file itself.

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
    files = find_tntp_files(path)
    net_path = files["net"]
    links = read_links(net_path)
    meta = links.metadata
    n_zones = _meta_int(net_path, meta, "NUMBER OF ZONES")
    if n_zones is None or n_zones < 1:
        raise _fail(net_path, None, "metadata <NUMBER OF ZONES> is missing or < 1")
    ftn_id = _meta_int(net_path, meta, "FIRST THRU NODE")
    ftn_id = 1 if ftn_id is None else ftn_id
    init, term = links.init_node, links.term_node
    node_ids = np.unique(np.concatenate([init, term, np.arange(1, n_zones + 1)]))
    declared_nodes = _meta_int(net_path, meta, "NUMBER OF NODES")
    if declared_nodes is not None and node_ids.size > declared_nodes:
        msg = (f"<NUMBER OF NODES> is {declared_nodes} but links and zones use "
               f"{node_ids.size} distinct nodes")
        raise _fail(net_path, None, msg)
    cols = links.columns
    network = Network(
        n_nodes=int(node_ids.size),
        from_node=np.searchsorted(node_ids, init), to_node=np.searchsorted(node_ids, term),
        capacity=cols["capacity"], fft=cols["free_flow_time"], b=cols["b"],
        power=cols["power"], length=cols["length"],
        first_thru_node=int(np.searchsorted(node_ids, ftn_id)),
        zone_nodes=np.arange(n_zones), link_ids=np.arange(1, init.size + 1))
    demand, trips_meta = read_trips(files["trips"], n_zones)
    data = TNTPData(name=net_path.name[: -len("_net.tntp")] if net_path.name.lower().endswith(
        "_net.tntp") else net_path.stem, network=network, demand=demand, node_ids=node_ids,
        links=links, trips_metadata=trips_meta, files=files)
    if "node" in files:
        ids, xy = read_nodes(files["node"])
        coords = np.full((node_ids.size, 2), np.nan)
        pos = np.searchsorted(node_ids, ids)
        known = (pos < node_ids.size) & (node_ids[np.minimum(pos, node_ids.size - 1)] == ids)
        coords[pos[known]] = xy[known]
        data.coordinates = coords
    if "flow" in files:
        frm, to, volume, cost = read_flows(files["flow"])
        idx = _match_links(files["flow"], links, frm, to)
        data.best_flows = np.full(init.size, np.nan)
        data.best_costs = np.full(init.size, np.nan)
        data.best_flows[idx] = volume
        data.best_costs[idx] = cost
    return data
