"""Population synthesis: residents from buildings, their types, and where they work or study.

Residents (``buildings.residents``) are split into the types of ``agents/population.yaml``
(workers, students, retirees, others) by share; each draws a car, an activity chain and, for a
chain with work or school, a place: a doubly constrained gravity model on free-flow network
travel time (deterrence ``exp(-beta * minutes)``) fills the twin's jobs and school places without
exceeding them; the type's ``outside_share`` and whatever the twin cannot hold go out through a
gateway. Every draw comes from the ``numpy.random.Generator`` passed in (the model's).
The gravity models work on :class:`Zones` (the places' road nodes, or grid cells on large
twins); places are those of :mod:`twin.agents.model`.

Examples
--------
>>> cfg = load_population_config()
>>> sorted(cfg.types), round(sum(t["share"] for t in cfg.types.values()), 6)
(['other', 'retiree', 'student', 'worker'], 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from twin._errors import SimulationError
from twin._resources import data_dir
from twin.network.roads import RoadGraph
from twin.network.routing import CLOSED_COST, travel_time_matrix

if TYPE_CHECKING:
    from twin.agents.model import Places

__all__ = [
    "ACTIVITIES",
    "Population",
    "PopulationConfig",
    "Zones",
    "check_config",
    "constrained_gravity",
    "draw_gateways",
    "draw_rows",
    "load_population_config",
    "make_zones",
    "pick_places",
    "read_yaml",
    "synthesize",
]

ACTIVITIES = ("home", "work", "school", "errand")

_NUM = (int, float)
_SCHEMA: dict[str, Any] = {
    "types": {"*": {"share": _NUM, "age": list, "car_available": _NUM,
                    "value_of_time_eur_per_h": _NUM, "outside_share": _NUM,
                    "chains": {"*": _NUM}}},
    "activities": {"*": {"departure": list,
                         "duration_h": {"mean": _NUM, "sd": _NUM, "min": _NUM}}},
    "destinations": {"work_beta_per_min": _NUM, "school_beta_per_min": _NUM,
                     "errand_beta_per_min": _NUM, "gateway_beta_per_min": _NUM,
                     "school_m2_per_pupil": _NUM, "max_zones": _NUM,
                     "errand_attraction": {"facility": {"*": _NUM},
                                           "building_jobs": {"*": _NUM}}},
    "modes": {
        "car": {"asc": _NUM, "cost_per_km_eur": _NUM, "access_min": _NUM,
                "parking_eur": {"*": _NUM}},
        "transit": {"asc": _NUM, "fare_eur": _NUM, "walk_speed_kph": _NUM,
                    "max_access_m": _NUM, "stops_per_place": _NUM, "wait_weight": _NUM,
                    "walk_weight": _NUM},
        "walk": {"asc": _NUM, "speed_kph": _NUM, "weight": _NUM, "max_km": _NUM},
        "bike": {"asc": _NUM, "speed_kph": _NUM, "weight": _NUM, "max_km": _NUM},
    },
    "choice": {"cost_coefficient_per_eur": _NUM},
    "route_choice": {"class_factor": {"*": _NUM}},
    "kpis": {"co2_g_per_vehicle_km": _NUM, "congested_vc": _NUM, "congested_time_ratio": _NUM},
}


def check_config(data: Any, spec: Mapping[str, Any], where: str) -> list[str]:
    """Problems of ``data`` against ``spec``: nested dict of key -> type or dict (``"*"``: any key).

    Examples
    --------
    >>> check_config({"a": 1, "b": 2}, {"a": int}, "f.yaml")
    ["f.yaml: unknown key 'b' (valid: a)"]
    """
    if not isinstance(data, Mapping):
        return [f"{where}: expected a mapping, got {type(data).__name__}"]
    problems = []
    if "*" in spec:
        for key, value in data.items():
            problems += _check_value(value, spec["*"], f"{where}.{key}")
        return problems
    for key in data:
        if key not in spec:
            problems.append(f"{where}: unknown key {key!r} (valid: {', '.join(spec)})")
    for key, sub in spec.items():
        if key not in data:
            problems.append(f"{where}: missing key {key!r}")
        else:
            problems += _check_value(data[key], sub, f"{where}.{key}")
    return problems


def _check_value(value: Any, sub: Any, where: str) -> list[str]:
    if isinstance(sub, Mapping):
        return check_config(value, sub, where)
    if isinstance(value, bool) or not isinstance(value, sub):
        return [f"{where}: expected {getattr(sub, '__name__', 'a number')}, got {value!r}"]
    return []


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; a SimulationError naming the file if it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        msg = f"{path}: cannot read ({err})"
        raise SimulationError(msg) from err


@dataclass(frozen=True)
class PopulationConfig:
    """The validated contents of ``agents/population.yaml`` (see the comments there)."""

    types: dict[str, dict[str, Any]]
    activities: dict[str, dict[str, Any]]
    destinations: dict[str, Any]
    modes: dict[str, dict[str, Any]]
    choice: dict[str, Any]
    route_choice: dict[str, Any]
    kpis: dict[str, Any]
    #: Optional (calibration): hour -> multiplier of every departure density in that hour.
    departure_hour_factor: dict[int, float] = field(default_factory=dict)
    path: str = ""


def _semantic(raw: dict[str, Any], where: str) -> list[str]:
    problems = []
    shares = [t["share"] for t in raw["types"].values()]
    if abs(sum(shares) - 1.0) > 1e-6 or min(shares, default=0) < 0:
        problems.append(f"{where}.types: shares must be >= 0 and sum to 1 (got {sum(shares)})")
    for name, t in raw["types"].items():
        for key in ("car_available", "outside_share"):
            if not 0 <= t[key] <= 1:
                problems.append(f"{where}.types.{name}.{key}: must be in [0, 1]")
        probs = list(t["chains"].values())
        if abs(sum(probs) - 1.0) > 1e-6 or min(probs, default=0) < 0:
            problems.append(f"{where}.types.{name}.chains: probabilities must sum to 1")
        for chain in t["chains"]:
            steps = str(chain).split("-")
            bad = [s for s in steps if s not in ACTIVITIES]
            if bad or steps[0] != "home" or steps[-1] != "home":
                problems.append(f"{where}.types.{name}.chains: {chain!r} must run home-...-home "
                                f"over {', '.join(ACTIVITIES)}")
            if sum(s in ("work", "school") for s in steps) > 1:
                problems.append(f"{where}.types.{name}.chains: {chain!r} has more than one "
                                "work/school activity")
    bad_f = [k for k, v in raw["route_choice"]["class_factor"].items() if not v > 0]
    if bad_f:
        problems.append(f"{where}.route_choice.class_factor: factors must be > 0 ({bad_f})")
    for act in ("work", "school", "errand"):
        if act not in raw["activities"]:
            problems.append(f"{where}.activities: missing {act!r}")
            continue
        for comp in raw["activities"][act]["departure"]:
            if not (isinstance(comp, Mapping) and set(comp) == {"mean_h", "sd_h", "weight"}):
                problems.append(f"{where}.activities.{act}.departure: each entry needs exactly "
                                "mean_h, sd_h, weight")
    return problems


def load_population_config(path: str | Path | None = None) -> PopulationConfig:
    """Read and validate ``agents/population.yaml`` (or ``path``).

    Raises
    ------
    SimulationError
        Listing every unknown or missing key, wrong type and inconsistent share.

    Examples
    --------
    >>> load_population_config().modes["walk"]["speed_kph"]
    4.8
    """
    file = Path(path) if path is not None else data_dir("agents") / "population.yaml"
    raw = read_yaml(file)
    hour_factor = raw.pop("departure_hour_factor", None) if isinstance(raw, dict) else None
    problems = check_config(raw, _SCHEMA, file.name)
    if not problems:
        problems = _semantic(raw, file.name)
    raw_hf = hour_factor if isinstance(hour_factor, Mapping) else {}
    bad = [h for h, v in raw_hf.items() if not (isinstance(h, int) and 0 <= h <= 23)
           or isinstance(v, bool) or not isinstance(v, _NUM) or not 0 <= v <= 100]
    if bad or not (hour_factor is None or isinstance(hour_factor, Mapping)):
        problems.append(f"{file.name}.departure_hour_factor: give hour (0-23) -> multiplier "
                        f"(0-100) (bad: {bad or hour_factor!r})")
    if problems:
        msg = f"{file}: invalid agent profiles:\n  " + "\n  ".join(problems)
        raise SimulationError(msg)
    return PopulationConfig(**raw, departure_hour_factor={int(h): float(v) for h, v in
                                                         raw_hf.items()}, path=str(file))


@dataclass(frozen=True)
class Zones:
    """Groups of places for the gravity model: road nodes, or grid cells on large twins.

    Attributes
    ----------
    of_place : ndarray of int
        Zone of each place.
    node : ndarray of int
        Representative road node of each zone.
    minutes : ndarray (n_zones, n_zones)
        Free-flow travel time between zones (crow-fly at 15 km/h x 2 where no road path).
    linked : ndarray of bool (n_zones, n_zones)
        Where a road path exists.
    """

    of_place: np.ndarray
    node: np.ndarray
    minutes: np.ndarray
    linked: np.ndarray

    @property
    def n(self) -> int:
        """Number of zones."""
        return len(self.node)


def make_zones(places: Places, graph: RoadGraph, cost: np.ndarray, *,
               max_zones: int) -> Zones:
    """Zones of the places (their road nodes; grid cells when there would be > max_zones).

    Examples
    --------
    >>> # make_zones(places, graph, graph.fft_s, max_zones=1500).minutes.shape
    """
    used, of_place = np.unique(places.node, return_inverse=True)
    cell = 0.0
    if len(used) > max_zones:
        lo = places.xy.min(axis=0)
        span = np.ptp(places.xy, axis=0) + 1.0
        cell = float(np.sqrt(span[0] * span[1] / max_zones))
        while True:
            ij = np.floor((places.xy - lo) / cell).astype(np.int64)
            key = ij[:, 0] * (int(span[1] // cell) + 2) + ij[:, 1]
            _, of_place = np.unique(key, return_inverse=True)
            if of_place.max() + 1 <= max_zones:
                break
            cell *= 1.1
        n = int(of_place.max()) + 1
        centre = np.zeros((n, 2))
        np.add.at(centre, of_place, places.xy)
        centre /= np.bincount(of_place, minlength=n)[:, None]
        dist = np.linalg.norm(places.xy - centre[of_place], axis=1)
        order = np.lexsort((dist, of_place))
        first = order[np.r_[True, of_place[order][1:] != of_place[order][:-1]]]
        rep = places.node[first]
    else:
        rep = used
    minutes = travel_time_matrix(graph, rep, rep, cost=cost) / 60.0
    linked = minutes < CLOSED_COST / 10 / 60
    crow = np.linalg.norm(graph.xy[rep][:, None, :] - graph.xy[rep][None, :, :], axis=2)
    fallback = crow / (15 / 3.6) / 60.0 * 2.0
    minutes = np.where(linked, minutes, fallback)
    intra = max(1.0, cell / 2 / (20 / 3.6) / 60.0)
    np.fill_diagonal(minutes, np.maximum(np.diag(minutes), intra))
    return Zones(of_place=of_place.astype(np.int64), node=rep, minutes=minutes, linked=linked)


def constrained_gravity(origins: np.ndarray, capacity: np.ndarray, deterrence: np.ndarray,
                        *, iterations: int = 200, tol: float = 1e-7) -> np.ndarray:
    """Trips between zones, rows summing to ``origins`` and columns at most ``capacity``.

    A doubly constrained gravity model whose destination balancing factors stay <= 1: columns
    that would be over-filled are scaled down, the others keep their plain attraction.
    ``origins.sum()`` must not exceed ``capacity.sum()``.

    Examples
    --------
    >>> t = constrained_gravity(np.array([10.0, 10.0]), np.array([12.0, 100.0]),
    ...                         np.array([[1.0, 0.01], [1.0, 0.01]]))
    >>> np.round(t.sum(axis=0), 3).tolist(), np.round(t.sum(axis=1), 3).tolist()
    ([12.0, 8.0], [10.0, 10.0])
    """
    cap = np.asarray(capacity, dtype=float)
    o = np.asarray(origins, dtype=float)
    balance = np.ones(len(cap))
    trips = np.zeros_like(deterrence, dtype=float)
    for _ in range(iterations):
        w = deterrence * (balance * cap)[None, :]
        rs = w.sum(axis=1)
        trips = w * np.divide(o, rs, out=np.zeros_like(o), where=rs > 0)[:, None]
        col = trips.sum(axis=0)
        ratio = np.divide(cap, col, out=np.full_like(cap, np.inf), where=col > 0)
        new = np.minimum(1.0, balance * ratio)
        if np.max(np.abs(new - balance)) < tol:
            break
        balance = new
    return trips


def draw_rows(prob: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one column per entry of ``rows`` from the row's weights (-1 where a row is all 0).

    Examples
    --------
    >>> draw_rows(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([0, 1, 0]),
    ...           np.random.default_rng(0)).tolist()
    [1, -1, 1]
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.full(len(rows), -1, dtype=np.int64)
    if len(rows) == 0 or prob.shape[1] == 0:
        return out
    total = prob.sum(axis=1)
    ok = total[rows] > 0
    cum = np.cumsum(prob, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    cum[:, -1] = 1.0
    ncol = prob.shape[1]
    flat = (cum + np.arange(len(prob))[:, None]).ravel()
    u = rng.random(len(rows))
    pick = np.searchsorted(flat, rows + np.minimum(u, 1 - 1e-12), side="right")
    col = pick - rows * ncol
    out[ok] = np.minimum(col[ok], ncol - 1)
    return out


def draw_gateways(minutes: np.ndarray, weight: np.ndarray, rows: np.ndarray, beta: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A gateway per entry of ``rows`` by ``weight x exp(-beta x minutes[row])``.

    Rows with no finite time to any gateway draw by ``weight`` alone (-1 if all weights are 0).

    Examples
    --------
    >>> draw_gateways(np.array([[1.0, np.inf]]), np.array([1.0, 5.0]), np.array([0, 0]), 0.1,
    ...               np.random.default_rng(0)).tolist()
    [0, 0]
    """
    pick = draw_rows(np.exp(-beta * minutes) * weight[None, :], rows, rng)
    lost = pick < 0
    if lost.any():
        pick[lost] = draw_rows(np.asarray(weight, float)[None, :],
                               np.zeros(int(lost.sum()), np.int64), rng)
    return pick


def _fill(dest: np.ndarray, rows: np.ndarray, prob: np.ndarray, cap: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """Redraw agents of over-full columns among columns with room until none is over-full."""
    dest = dest.copy()
    for _ in range(50):
        count = np.bincount(dest[dest >= 0], minlength=len(cap))
        over = np.flatnonzero(count > cap)
        if over.size == 0:
            break
        redo = []
        for c in over:  # one loop per over-full zone, not per agent
            members = np.flatnonzero(dest == c)
            redo.append(rng.permutation(members)[: count[c] - int(cap[c])])
        idx = np.sort(np.concatenate(redo))
        count = np.bincount(dest[dest >= 0], minlength=len(cap))
        room = cap - count + np.bincount(dest[idx], minlength=len(cap))
        open_ = (room > 0).astype(float)
        dest[idx] = draw_rows(prob * open_[None, :], rows[idx], rng)
    return dest


def pick_places(zone_of_agent: np.ndarray, place_zone: np.ndarray, weight: np.ndarray,
                rng: np.random.Generator, *, slots: bool) -> np.ndarray:
    """A place inside each agent's zone: by weight, or filling integer ``weight`` slots.

    Examples
    --------
    >>> pick_places(np.array([0, 0]), np.array([0, 1, 0]), np.array([1, 5, 1]),
    ...             np.random.default_rng(1), slots=True).tolist()
    [0, 2]
    """
    n = len(zone_of_agent)
    out = np.full(n, -1, dtype=np.int64)
    live = np.flatnonzero(zone_of_agent >= 0)
    if live.size == 0:
        return out
    if slots:
        w = np.maximum(np.asarray(weight), 0).astype(np.int64)
        slot_place = np.repeat(np.arange(len(w)), w)
        slot_zone = place_zone[slot_place]
        so = np.lexsort((rng.random(len(slot_place)), slot_zone))
        slot_place, slot_zone = slot_place[so], slot_zone[so]
        nz = int(max(place_zone.max(initial=0), zone_of_agent.max(initial=0))) + 1
        start = np.searchsorted(slot_zone, np.arange(nz))
        stock = np.bincount(slot_zone, minlength=nz)
        ao = live[np.lexsort((rng.random(live.size), zone_of_agent[live]))]
        z = zone_of_agent[ao]
        rank = np.arange(len(ao)) - np.searchsorted(z, z)
        ok = rank < stock[z]
        out[ao[ok]] = slot_place[start[z[ok]] + rank[ok]]
        return out
    w = np.asarray(weight, dtype=float)
    nz = int(max(place_zone.max(initial=0), zone_of_agent.max(initial=0))) + 1
    members = np.flatnonzero(w > 0)
    if members.size == 0:
        return out
    order = members[np.argsort(place_zone[members], kind="stable")]
    pz = place_zone[order]
    start = np.searchsorted(pz, np.arange(nz))
    end = np.searchsorted(pz, np.arange(nz), side="right")
    cw = np.cumsum(w[order])
    base = np.concatenate([[0.0], cw])
    z = zone_of_agent[live]
    has = end[z] > start[z]
    lo, hi = base[start[z]], base[end[z]]
    target = lo + rng.random(live.size) * (hi - lo)
    k = np.clip(np.searchsorted(cw, target, side="right"), start[z], np.maximum(end[z] - 1, 0))
    out[live[has]] = order[k[has]]
    return out


@dataclass
class Population:
    """Residents as arrays (index = agent).

    Attributes
    ----------
    agent_id : ndarray of str
        ``p1``, ``p2``, ... numbered over all residents (also when sampling).
    kind : ndarray of str
        Type from the profiles (worker, student, retiree, other).
    home : ndarray of int
        Place index of the home building.
    car : ndarray of bool
        A car is available.
    vot : ndarray of float
        Value of time (EUR/h).
    chain : ndarray of str
        Activity chain, e.g. ``home-work-errand-home``.
    main : ndarray of int
        Place of the work or school activity (-1 when the chain has none).
    unplaced : dict
        Reason -> number of agents whose work or school place could not be found (their
        chain drops that activity).
    """

    agent_id: np.ndarray
    kind: np.ndarray
    home: np.ndarray
    car: np.ndarray
    vot: np.ndarray
    chain: np.ndarray
    main: np.ndarray
    unplaced: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of agents."""
        return len(self.agent_id)


def _main_activity(chains: np.ndarray) -> np.ndarray:
    return np.array(["work" if "-work-" in c else "school" if "-school-" in c else ""
                     for c in chains], dtype=object)


def synthesize(places: Places, zones: Zones, config: PopulationConfig, rng: np.random.Generator,
               *, sample: float = 1.0, gateway_minutes: np.ndarray | None = None,
               gateway_weight: np.ndarray | None = None) -> Population:
    """Draw the residents, their types, cars, chains and work / school places.

    Parameters
    ----------
    places : Places
    zones : Zones
    config : PopulationConfig
    rng : numpy Generator
        Every draw comes from it.
    sample : float
        Share of residents simulated (0 < sample <= 1); ids stay those of the full population.
    gateway_minutes : ndarray (n_zones, n_gateways), optional
        Free-flow minutes from each zone to each gateway (outside work and school).
    gateway_weight : ndarray (n_gateways,), optional
        Attraction of each gateway for trips leaving the twin (its exit capacity).

    Returns
    -------
    Population

    Examples
    --------
    >>> # synthesize(places, zones, load_population_config(), np.random.default_rng(1))
    """
    counts = places.residents
    home_all = np.repeat(np.arange(places.n), counts)
    keep = rng.random(len(home_all)) < sample if sample < 1.0 else np.ones(len(home_all), bool)
    ids = np.char.add("p", (np.flatnonzero(keep) + 1).astype(str)).astype(object)
    home = home_all[keep]
    n = len(home)
    if n == 0:
        msg = f"no resident left after sampling {sample:g} of {len(home_all)}; raise --sample"
        raise SimulationError(msg)
    names = list(config.types)
    tprob = np.array([config.types[t]["share"] for t in names])
    kind_i = rng.choice(len(names), size=n, p=tprob / tprob.sum())
    kind = np.array(names, dtype=object)[kind_i]
    car_p = np.array([config.types[t]["car_available"] for t in names])[kind_i]
    car = rng.random(n) < car_p
    vot = np.array([config.types[t]["value_of_time_eur_per_h"] for t in names],
                   dtype=float)[kind_i]
    chain = np.empty(n, dtype=object)
    for i, t in enumerate(names):
        m = np.flatnonzero(kind_i == i)
        ch = list(config.types[t]["chains"])
        p = np.array([config.types[t]["chains"][c] for c in ch], dtype=float)
        chain[m] = np.array(ch, dtype=object)[rng.choice(len(ch), size=m.size, p=p / p.sum())]
    outside_p = np.array([config.types[t]["outside_share"] for t in names])[kind_i]
    main = np.full(n, -1, dtype=np.int64)
    act = _main_activity(chain)
    unplaced: dict[str, int] = {}
    gw_places = places.of_kind("gateway")
    for activity, cap, beta in (
            ("work", places.jobs, config.destinations["work_beta_per_min"]),
            ("school", places.pupils, config.destinations["school_beta_per_min"])):
        who = np.flatnonzero(act == activity)
        if who.size == 0:
            continue
        outside = rng.random(who.size) < outside_p[who]
        if len(gw_places) == 0:  # a twin without gateways is a closed city
            outside[:] = False
        inside = who[~outside]
        slots = (cap if sample >= 1 else np.floor(cap * sample + rng.random(len(cap)))
                 ).astype(np.int64)
        if inside.size > slots.sum():
            extra = rng.permutation(inside)[: inside.size - int(slots.sum())]
            outside[np.isin(who, extra)] = True
            inside = who[~outside]
        placed = _gravity_place(zones.of_place[home[inside]], zones, slots, beta, rng)
        main[inside] = placed
        lost = inside[placed < 0]
        go_out = np.concatenate([who[outside], lost])
        if go_out.size and len(gw_places) and gateway_minutes is not None:
            weight = np.ones(len(gw_places)) if gateway_weight is None else gateway_weight
            g = draw_gateways(gateway_minutes, weight, zones.of_place[home[go_out]],
                              config.destinations["gateway_beta_per_min"], rng)
            main[go_out[g >= 0]] = gw_places[g[g >= 0]]
            go_out = go_out[g < 0]
        if go_out.size:
            reason = (f"no {activity} place: the twin has too few "
                      f"{'jobs' if activity == 'work' else 'school places'} and no gateway "
                      "to leave by")
            unplaced[reason] = int(go_out.size)
            chain[go_out] = np.array([_drop(c, activity) for c in chain[go_out]], dtype=object)
    return Population(agent_id=ids, kind=kind, home=home, car=car, vot=vot, chain=chain,
                      main=main, unplaced=unplaced)


def _drop(chain: str, activity: str) -> str:
    steps = [s for s in chain.split("-") if s != activity]
    out = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    return "-".join(out) if len(out) > 1 else "home"


def _gravity_place(origin_zone: np.ndarray, zones: Zones, slots: np.ndarray, beta: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Place agents (by origin zone) in capacity-constrained zones, then in their buildings."""
    out = np.full(len(origin_zone), -1, dtype=np.int64)
    zcap = np.bincount(zones.of_place, weights=slots, minlength=zones.n)
    if len(origin_zone) == 0 or zcap.sum() <= 0:
        return out
    cols = np.flatnonzero(zcap > 0)
    rows, row_of = np.unique(origin_zone, return_inverse=True)
    det = np.exp(-beta * zones.minutes[np.ix_(rows, cols)])
    o = np.bincount(row_of, minlength=len(rows)).astype(float)
    trips = constrained_gravity(o, zcap[cols], det)
    dest = draw_rows(trips, row_of, rng)
    dest = _fill(dest, row_of, det * zcap[cols][None, :], zcap[cols], rng)
    zone = np.where(dest >= 0, cols[np.maximum(dest, 0)], -1)
    return pick_places(zone, zones.of_place, slots, rng, slots=True)
