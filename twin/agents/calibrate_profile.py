"""The demand levers calibration turns, applied to the agent profiles, and the files it writes.

- Residents' trip rates: per resident type, a multiplier on the probability of every chain that
  leaves home (``types.<type>.chains`` in ``agents/population.yaml``); the ``home`` chain (a
  day at home) takes the rest, so the rate can rise until nobody stays home
  (:func:`rate_caps`).
- In-commuters' car trips: a multiplier on ``in_commuters.car_share`` (``agents/external.yaml``,
  at most 1).
- The departure-time profile: per-hour multipliers of the departure densities
  (``departure_hour_factor`` in ``population.yaml``): :func:`reweight_hours` moves the draws of
  a departure mixture by the monotone map between the mixture and the reweighted one, so the
  day keeps its random numbers (common random numbers between calibration rounds).
- Through traffic: level, per entry gateway and per hour (``agents/external.yaml``).

:func:`adjusted_population` and :func:`adjusted_external` apply multipliers to a profile;
:func:`population_yaml` and :func:`external_yaml` write a profile as YAML that
:func:`~twin.agents.population.load_population_config` and
:func:`~twin.agents.external.load_external_config` read.

Examples
--------
>>> comps = [{"mean_h": 8.0, "sd_h": 1.0, "weight": 1.0}]
>>> t = np.array([7.5, 8.5])
>>> reweight_hours(t, comps, {}).tolist()
[7.5, 8.5]
>>> bool((reweight_hours(t, comps, {7: 3.0}) < t).all())   # more leave in 07:00-08:00
True
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.special import ndtr

from twin.agents.external import ExternalConfig
from twin.agents.population import PopulationConfig

__all__ = [
    "IN_COMMUTER",
    "adjusted_external",
    "adjusted_population",
    "external_yaml",
    "population_yaml",
    "rate_caps",
    "reweight_hours",
    "write_text_atomic",
]

#: Group name of the in-commuters' car trips among the residents' types.
IN_COMMUTER = "in_commuter"


def _mixture_cdf(x: np.ndarray, components: list[dict[str, float]]) -> np.ndarray:
    w = np.array([c["weight"] for c in components], dtype=float)
    w = w / w.sum()
    mean = np.array([c["mean_h"] for c in components], dtype=float)
    sd = np.maximum(np.array([c["sd_h"] for c in components], dtype=float), 1e-6)
    return np.asarray(ndtr((x[..., None] - mean) / sd) @ w)


def reweight_hours(t_h: np.ndarray, components: list[dict[str, float]],
                   hour_factor: Mapping[int, float]) -> np.ndarray:
    """Move departure times drawn from a normal mixture to the mixture reweighted by hour.

    The reweighted density is the mixture's times ``hour_factor[floor(t)]`` (1 for hours not
    given), normalised. Each draw ``t`` goes to ``F*^-1(F(t))`` (``F``, ``F*``: the two
    distribution functions), so the result follows the reweighted mixture and keeps the order
    (and the random numbers) of the draws.

    Parameters
    ----------
    t_h : ndarray
        Draws from the mixture, in hours.
    components : list of dict
        ``mean_h``, ``sd_h``, ``weight`` of each normal.
    hour_factor : mapping
        Hour (0-23) -> multiplier >= 0.

    Returns
    -------
    ndarray
        The moved times, in hours (unchanged when every factor is 1 or all mass would vanish).

    Examples
    --------
    >>> comps = [{"mean_h": 8.0, "sd_h": 0.5, "weight": 1.0}]
    >>> moved = reweight_hours(np.array([8.0]), comps, {8: 0.0})
    >>> bool(7.5 < moved[0] <= 8.0)   # nobody leaves in 08:00-09:00 any more
    True
    """
    t = np.asarray(t_h, dtype=float)
    if t.size == 0 or not hour_factor or all(float(v) == 1.0 for v in hour_factor.values()):
        return t
    mean = np.array([c["mean_h"] for c in components], dtype=float)
    sd = np.array([c["sd_h"] for c in components], dtype=float)
    lo = float(np.floor(min((mean - 8 * sd).min(), t.min()))) - 1.0
    hi = float(np.ceil(max((mean + 8 * sd).max(), t.max()))) + 1.0
    hours = np.arange(lo, hi + 1.0)                       # hour edges
    fac = np.array([float(hour_factor.get(int(h), 1.0)) if 0 <= h <= 23 else 1.0
                    for h in hours[:-1]])
    f_edge = _mixture_cdf(hours, components)
    mass = np.diff(f_edge) * fac
    z = float(mass.sum())
    if z <= 0:
        return t
    cum = np.concatenate([[0.0], np.cumsum(mass)])        # reweighted mass below each edge
    grid = np.linspace(lo, hi, int((hi - lo) * 360) + 1)  # every 10 s
    k = np.clip(np.floor(grid - lo).astype(np.int64), 0, len(fac) - 1)
    f_grid = _mixture_cdf(grid, components)
    f_star = (cum[k] + fac[k] * (f_grid - f_edge[k])) / z
    return np.asarray(np.interp(_mixture_cdf(t, components), f_star, grid))


def rate_caps(config: PopulationConfig) -> dict[str, float]:
    """Largest trip-rate multiplier of each resident type: until nobody stays home.

    Examples
    --------
    >>> from twin.agents.population import load_population_config
    >>> round(rate_caps(load_population_config())["retiree"], 4)   # 35 % stay home
    1.5385
    """
    out = {}
    for name, t in config.types.items():
        away = 1.0 - float(t["chains"].get("home", 0.0))
        out[name] = 1.0 / away if away > 1e-9 else 1.0
    return out


def adjusted_population(base: PopulationConfig, rates: Mapping[str, float],
                        hour_factor: Mapping[int, float]) -> PopulationConfig:
    """``base`` with trip-rate multipliers per type and departure multipliers per hour.

    A type's rate multiplies every chain that leaves home; ``home`` takes the rest (it is
    added when missing; a rate above :func:`rate_caps` is capped). The hour multipliers
    multiply ``base.departure_hour_factor``.

    Examples
    --------
    >>> from twin.agents.population import load_population_config
    >>> p = adjusted_population(load_population_config(), {"retiree": 0.5}, {8: 1.2})
    >>> p.types["retiree"]["chains"]["home"], p.departure_hour_factor[8]
    (0.675, 1.2)
    """
    types = copy.deepcopy(base.types)
    for name, r in rates.items():
        if name not in types:
            continue
        chains = types[name]["chains"]
        away = {c: float(p) * float(r) for c, p in chains.items() if c != "home"}
        total = sum(away.values())
        if total > 1.0:
            away = {c: p / total for c, p in away.items()}
        away = {c: round(p, 7) for c, p in away.items()}
        home = max(0.0, round(1.0 - sum(away.values()), 7))
        types[name]["chains"] = {**away, "home": home}
    hf = {int(h): float(v) for h, v in base.departure_hour_factor.items()}
    for h, v in hour_factor.items():
        hf[int(h)] = round(hf.get(int(h), 1.0) * float(v), 6)
    return replace(base, types=types, departure_hour_factor=dict(sorted(hf.items())))


def adjusted_external(base: ExternalConfig, *, level: float = 1.0,
                      gateway_scale: Mapping[str, float] | None = None,
                      hour_factor: Mapping[int, float] | None = None,
                      in_commuter_rate: float = 1.0) -> ExternalConfig:
    """``base`` with the through traffic and the in-commuters' car share scaled.

    ``level`` multiplies ``peak_share_of_capacity`` (every class), ``gateway_scale`` each
    gateway's ``through_scale``, ``hour_factor`` the ``hourly_profile``; ``in_commuter_rate``
    multiplies ``in_commuters.car_share`` (at most 1).

    Examples
    --------
    >>> from twin.agents.external import load_external_config
    >>> e = adjusted_external(load_external_config(), level=2.0, in_commuter_rate=1.5)
    >>> e.through_traffic["peak_share_of_capacity"]["primary"], e.in_commuters["car_share"]
    (0.36, 0.3)
    """
    tt = copy.deepcopy(base.through_traffic)
    tt["peak_share_of_capacity"] = {k: round(float(v) * level, 6)
                                    for k, v in tt["peak_share_of_capacity"].items()}
    hf = hour_factor or {}
    tt["hourly_profile"] = {int(h): round(float(v) * hf.get(int(h), 1.0), 6)
                            for h, v in tt["hourly_profile"].items()}
    gw = copy.deepcopy(base.gateways)
    for gid, s in (gateway_scale or {}).items():
        over = dict(gw.get(gid, {}))
        over["through_scale"] = round(float(over.get("through_scale", 1.0)) * s, 6)
        gw[gid] = over
    ic = dict(base.in_commuters)
    ic["car_share"] = round(min(1.0, float(ic["car_share"]) * in_commuter_rate), 6)
    return ExternalConfig(in_commuters=ic, out_commuters=dict(base.out_commuters),
                          through_traffic=tt, gateways=gw, path=base.path)


def population_yaml(config: PopulationConfig, header: str) -> str:
    """``config`` as the text of a population profile (``header``: comment lines).

    Examples
    --------
    >>> from twin.agents.population import load_population_config
    >>> text = population_yaml(load_population_config(), "# a copy")
    >>> text.splitlines()[0], "departure_hour_factor" in text
    ('# a copy', False)
    """
    doc: dict[str, Any] = {k: getattr(config, k) for k in (
        "types", "activities", "destinations", "modes", "choice", "route_choice", "kpis")}
    if config.departure_hour_factor:
        doc["departure_hour_factor"] = dict(config.departure_hour_factor)
    return _with_header(header, doc)


def external_yaml(config: ExternalConfig, header: str) -> str:
    """``config`` as the text of an external-demand profile (``header``: comment lines).

    Examples
    --------
    >>> from twin.agents.external import load_external_config
    >>> "through_traffic:" in external_yaml(load_external_config(), "# a copy")
    True
    """
    doc = {"in_commuters": config.in_commuters, "out_commuters": config.out_commuters,
           "through_traffic": config.through_traffic, "gateways": config.gateways}
    return _with_header(header, doc)


def _with_header(header: str, doc: Mapping[str, Any]) -> str:
    lines = [ln if ln.startswith("#") else f"# {ln}" for ln in header.strip().splitlines()]
    body = yaml.safe_dump(dict(doc), sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Examples
    --------
    >>> # write_text_atomic("agents/population-calibrated.yaml", text)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p
