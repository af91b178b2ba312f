"""External demand: in-commuters who fill the jobs residents leave, and through traffic.

A district is part of a city. Gateways (``road_nodes.gateway``: where major roads cross the
twin's edge) are where the rest of the city comes in and goes out:

- in-commuters take ``share_of_unfilled_jobs`` of the jobs the twin's residents do not fill;
  they enter through a gateway chosen by its entry capacity x ``exp(-beta x minutes)`` to the
  job, leave through one chosen the same way, and drive with probability ``car_share``;
- through traffic enters at each gateway at ``capacity x peak_share_of_capacity[class] x
  hourly_profile[hour]`` vehicles per hour (less where the crossing is longer than
  ``reference_crossing_m``: few trips go on that far) and leaves at a gateway across the twin
  (at least ``min_crossing_m`` and ``min_crossing_share`` of the twin's extent away), chosen by
  exit capacity and directness.

Volumes come from ``agents/external.yaml`` (per-gateway overrides by road-node id). Every draw
comes from the ``numpy.random.Generator`` passed in.

Examples
--------
>>> cfg = load_external_config()
>>> cfg.in_commuters["car_share"], cfg.through_traffic["hourly_profile"][8]
(0.2, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._errors import SimulationError
from twin._resources import data_dir
from twin.agents.population import check_config, draw_gateways, draw_rows, read_yaml
from twin.network.roads import RoadGraph

if TYPE_CHECKING:
    from twin.agents.model import Places

__all__ = [
    "ExternalConfig",
    "ExternalDemand",
    "Gateways",
    "external_demand",
    "gateway_table",
    "load_external_config",
]

_NUM = (int, float)
_SCHEMA: dict[str, Any] = {
    "in_commuters": {"share_of_unfilled_jobs": _NUM, "car_share": _NUM},
    "out_commuters": {"car_share_if_car_available": _NUM},
    "through_traffic": {"min_crossing_m": _NUM, "min_crossing_share": _NUM, "detour_beta": _NUM,
                        "reference_crossing_m": _NUM, "trip_length_m": _NUM,
                        "peak_share_of_capacity": {"*": _NUM},
                        "hourly_profile": {"*": _NUM}},
    "gateways": {"*": {"*": _NUM}},
}
_OVERRIDES = ("through_scale", "entry_weight", "exit_weight")


@dataclass(frozen=True)
class ExternalConfig:
    """The validated contents of ``agents/external.yaml`` (see the comments there)."""

    in_commuters: dict[str, float]
    out_commuters: dict[str, float]
    through_traffic: dict[str, Any]
    gateways: dict[str, dict[str, float]]
    path: str = ""


def load_external_config(path: str | Path | None = None) -> ExternalConfig:
    """Read and validate ``agents/external.yaml`` (or ``path``).

    Raises
    ------
    SimulationError
        Listing unknown or missing keys, wrong types and out-of-range values.

    Examples
    --------
    >>> load_external_config().through_traffic["min_crossing_m"]
    400.0
    """
    file = Path(path) if path is not None else data_dir("agents") / "external.yaml"
    raw = read_yaml(file)
    problems = check_config(raw, _SCHEMA, file.name)
    if not problems:
        for key in ("share_of_unfilled_jobs", "car_share"):
            if not 0 <= raw["in_commuters"][key] <= 1:
                problems.append(f"{file.name}.in_commuters.{key}: must be in [0, 1]")
        if not 0 <= raw["out_commuters"]["car_share_if_car_available"] <= 1:
            problems.append(f"{file.name}.out_commuters.car_share_if_car_available: "
                            "must be in [0, 1]")
        prof = raw["through_traffic"]["hourly_profile"]
        bad = [h for h in prof if not (isinstance(h, int) and 0 <= h <= 23) or prof[h] < 0]
        if bad:
            problems.append(f"{file.name}.through_traffic.hourly_profile: hours must be "
                            f"0..23 with values >= 0 (bad: {bad})")
        for gid, over in (raw["gateways"] or {}).items():
            unknown = sorted(set(over) - set(_OVERRIDES))
            if unknown:
                problems.append(f"{file.name}.gateways.{gid}: unknown key(s) {unknown} "
                                f"(valid: {', '.join(_OVERRIDES)})")
    if problems:
        msg = f"{file}: invalid external demand:\n  " + "\n  ".join(problems)
        raise SimulationError(msg)
    return ExternalConfig(in_commuters=raw["in_commuters"], out_commuters=raw["out_commuters"],
                          through_traffic=raw["through_traffic"],
                          gateways={str(k): v for k, v in (raw["gateways"] or {}).items()},
                          path=str(file))


@dataclass(frozen=True)
class Gateways:
    """The twin's gateways (index = gateway).

    Attributes
    ----------
    place : ndarray of int
        Place index (kind ``gateway``).
    node : ndarray of int
        Road-graph node.
    entry_vph, exit_vph : ndarray of float
        Capacity of the links leaving / entering the gateway node.
    highway : ndarray of str
        Class of the widest link leaving the gateway (entering it when there is none).
    entry_weight, exit_weight, through_scale : ndarray of float
        From the per-gateway overrides (default 1).
    """

    place: np.ndarray
    node: np.ndarray
    entry_vph: np.ndarray
    exit_vph: np.ndarray
    highway: np.ndarray
    entry_weight: np.ndarray
    exit_weight: np.ndarray
    through_scale: np.ndarray

    @property
    def n(self) -> int:
        """Number of gateways."""
        return len(self.node)


def gateway_table(graph: RoadGraph, places: Places, config: ExternalConfig) -> Gateways:
    """Capacities, classes and weights of the twin's gateways.

    Raises
    ------
    SimulationError
        An override names a road node that is not a gateway.

    Examples
    --------
    >>> # gateway_table(graph, places, load_external_config()).entry_vph
    """
    place = places.of_kind("gateway")
    node = places.node[place]
    entry = np.bincount(graph.from_node, weights=graph.capacity_vph, minlength=graph.n_nodes)
    exit_ = np.bincount(graph.to_node, weights=graph.capacity_vph, minlength=graph.n_nodes)
    highway = np.empty(len(node), dtype=object)
    for k, nd in enumerate(node):  # one loop per gateway (a few dozen)
        out = np.flatnonzero(graph.from_node == nd)
        cand = out if out.size else np.flatnonzero(graph.to_node == nd)
        highway[k] = str(graph.highway[cand[np.argmax(graph.capacity_vph[cand])]]) \
            if cand.size else "road"
    ids = [str(i) for i in graph.node_ids[node]]
    unknown = sorted(set(config.gateways) - set(ids))
    if unknown:
        msg = (f"{config.path or 'external.yaml'}: gateways {unknown} are not gateway nodes of "
               f"this twin; gateways: {', '.join(ids) or 'none'}")
        raise SimulationError(msg)
    weights = {key: np.array([float(config.gateways.get(i, {}).get(key, 1.0)) for i in ids])
               for key in _OVERRIDES}
    return Gateways(place=place, node=node, entry_vph=entry[node], exit_vph=exit_[node],
                    highway=highway, entry_weight=weights["entry_weight"],
                    exit_weight=weights["exit_weight"], through_scale=weights["through_scale"])


@dataclass
class ExternalDemand:
    """In-commuters (agents ``c1``, ``c2``, ...) and through trips (``x1``, ``x2``, ...).

    Attributes
    ----------
    commuter_id : ndarray of str
    commuter_job, commuter_entry, commuter_exit : ndarray of int
        Place of the job, and the gateway places they come in and leave by.
    commuter_car : ndarray of bool
        Drives (else comes by transit).
    through_id : ndarray of str
    through_entry, through_exit : ndarray of int
        Gateway places.
    through_depart_s : ndarray of float
    """

    commuter_id: np.ndarray
    commuter_job: np.ndarray
    commuter_entry: np.ndarray
    commuter_exit: np.ndarray
    commuter_car: np.ndarray
    through_id: np.ndarray
    through_entry: np.ndarray
    through_exit: np.ndarray
    through_depart_s: np.ndarray


def external_demand(places: Places, gateways: Gateways, graph: RoadGraph,
                    zone_of_place: np.ndarray, minutes_in: np.ndarray, minutes_out: np.ndarray,
                    metres_gw: np.ndarray, filled_jobs: np.ndarray, config: ExternalConfig,
                    beta: float, rng: np.random.Generator, *, sample: float = 1.0,
                    hours: tuple[int, int] = (5, 24)) -> ExternalDemand:
    """Draw the in-commuters and the through trips of one day.

    Parameters
    ----------
    places : Places
    gateways : Gateways
    graph : RoadGraph
    zone_of_place : ndarray of int
        Gravity zone of each place.
    minutes_in : ndarray (n_gateways, n_zones)
        Free-flow minutes from each gateway to each zone (``inf`` where unreachable).
    minutes_out : ndarray (n_zones, n_gateways)
        Free-flow minutes from each zone to each gateway.
    metres_gw : ndarray (n_gateways, n_gateways)
        Shortest road distance between gateways (``inf`` where there is no path).
    filled_jobs : ndarray of int
        Jobs per place taken by the simulated residents.
    config : ExternalConfig
    beta : float
        Gateway deterrence per minute.
    rng : numpy Generator
    sample : float
        Share of the demand simulated.
    hours : (int, int)
        Simulated hours [first, last).

    Examples
    --------
    >>> # external_demand(places, gws, graph, zones.of_place, t_in, t_out, m_gw, filled, cfg,
    >>> #                 0.1, rng)
    """
    n_gw = gateways.n
    empty_i = np.zeros(0, np.int64)
    if n_gw == 0:
        return ExternalDemand(np.zeros(0, object), empty_i, empty_i, empty_i,
                              np.zeros(0, bool), np.zeros(0, object), empty_i, empty_i,
                              np.zeros(0))
    unfilled = np.maximum(places.jobs - filled_jobs / sample, 0.0)
    share = config.in_commuters["share_of_unfilled_jobs"] * sample
    count = rng.binomial(np.round(unfilled).astype(np.int64), min(share, 1.0))
    job = np.repeat(np.arange(places.n), count)
    zone = zone_of_place[job]
    entry = draw_gateways(minutes_in.T, gateways.entry_vph * gateways.entry_weight, zone,
                             beta, rng)
    exit_ = draw_gateways(minutes_out, gateways.exit_vph * gateways.exit_weight, zone,
                             beta, rng)
    car = rng.random(len(job)) < config.in_commuters["car_share"]
    cid = np.char.add("c", np.arange(1, len(job) + 1).astype(str)).astype(object)
    # through traffic, per entry gateway and hour
    tt = config.through_traffic
    prof = np.zeros(24)
    for h, v in tt["hourly_profile"].items():
        prof[int(h)] = float(v)
    prof[: hours[0]] = 0.0
    prof[hours[1]:] = 0.0
    xy = graph.xy[gateways.node]
    crow = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    reach = max(float(tt["min_crossing_m"]),
                float(tt["min_crossing_share"]) * float(crow.max(initial=0.0)))
    far = (crow >= reach) & np.isfinite(metres_gw)
    with np.errstate(divide="ignore", invalid="ignore"):
        detour = np.where(far, metres_gw / np.maximum(crow, 1.0), np.inf)
    direct = np.exp(-float(tt["detour_beta"]) * np.maximum(detour - 1.0, 0.0))
    exit_w = np.where(far, direct, 0.0) * (gateways.exit_vph * gateways.exit_weight)[None, :]
    # the share of entering vehicles whose trip goes on across the twin to their exit
    total = exit_w.sum(axis=1)
    decay = np.minimum(np.exp(-(crow - float(tt["reference_crossing_m"]))
                              / float(tt["trip_length_m"])), 1.0)
    carry = np.divide((exit_w * decay).sum(axis=1), total, out=np.zeros(n_gw), where=total > 0)
    share_cls = np.array([float(tt["peak_share_of_capacity"].get(h, 0.0))
                          for h in gateways.highway])
    vph = (gateways.entry_vph * share_cls * carry * gateways.through_scale)[:, None] \
        * prof[None, :]
    expected = vph * sample
    n_gh = np.floor(expected).astype(np.int64) + (rng.random(expected.shape)
                                                  < expected - np.floor(expected))
    g_in = np.repeat(np.repeat(np.arange(n_gw), 24), n_gh.ravel())
    hour = np.repeat(np.tile(np.arange(24), n_gw), n_gh.ravel())
    g_out = draw_rows(exit_w.astype(float), g_in, rng)
    ok = g_out >= 0
    depart = hour * 3600.0 + rng.random(len(hour)) * 3600.0
    order = np.argsort(depart[ok], kind="stable")
    xid = np.char.add("x", np.arange(1, int(ok.sum()) + 1).astype(str)).astype(object)
    return ExternalDemand(
        commuter_id=cid, commuter_job=job, commuter_entry=gateways.place[entry],
        commuter_exit=gateways.place[exit_], commuter_car=car, through_id=xid,
        through_entry=gateways.place[g_in[ok][order]],
        through_exit=gateways.place[g_out[ok][order]], through_depart_s=depart[ok][order])
