"""Mobility KPIs of a simulated day (DESIGN.md: livelihood, economy, government groups).

Computed from the trips and link-hour tables of :func:`twin.agents.simulate.simulate`; totals
are per day and scaled back to the full population when a sample was simulated.

- commute time (mean, p90): door-to-door duration of the trips to work or school and back
  home from them, of residents and in-commuters (the part of the trip inside the twin for
  those crossing its edge); unfinished trips excluded;
- vehicle-km: vehicles entering each link x its length; vehicle-hours: time cars spent on the
  network (a car still driving at the end of the day counts until then); delay hours: that
  time minus the free-flow time of the routes driven;
- congested link-hours: link-hours with volume / effective capacity above ``congested_vc`` or
  a mean time above ``congested_time_ratio`` x free flow (queues, spillback); spillback hours:
  time links spent full;
- mode shares: of the residents' trips; CO2: vehicle-km x ``co2_g_per_vehicle_km``
  (``agents/population.yaml``, ``kpis``).

Examples
--------
>>> KPI_UNITS["commute_time_p90_min"], KPI_UNITS["co2_t"]
('min', 't CO2/day')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["KPI_UNITS", "MOBILITY_KPIS", "mobility_kpis"]

KPI_UNITS: dict[str, str] = {
    "commute_time_mean_min": "min",
    "commute_time_p90_min": "min",
    "vehicle_km": "veh-km/day",
    "vehicle_hours": "veh-h/day",
    "delay_hours": "veh-h/day",
    "congested_link_hours": "link-h/day",
    "spillback_hours": "link-h/day",
    "max_vc": "ratio",
    "mode_share_car": "share of residents' trips",
    "mode_share_transit": "share of residents' trips",
    "mode_share_walk": "share of residents' trips",
    "mode_share_bike": "share of residents' trips",
    "co2_t": "t CO2/day",
    "trips": "trips/day",
    "car_trips": "vehicle trips/day",
    "unfinished_trips": "trips/day",
    "unrouted_agents": "agents",
}
#: The KPIs :func:`mobility_kpis` returns (KPI_UNITS also holds the units that day analyses
#: register, :func:`twin.agents.analysis.register_day_analysis`).
MOBILITY_KPIS: tuple[str, ...] = tuple(KPI_UNITS)


def mobility_kpis(trips: pd.DataFrame, link_hours: pd.DataFrame, *, sample: float,
                  end_s: float, co2_g_per_vehicle_km: float, spillback_s: float = 0.0,
                  unrouted_agents: int = 0) -> dict[str, float]:
    """The mobility KPIs (keys and units in :data:`KPI_UNITS`).

    Parameters
    ----------
    trips : DataFrame
        One row per simulated trip with ``mode``, ``resident`` (bool), ``commute`` (bool),
        ``depart``, ``arrive`` (NaN if unfinished), ``duration``, ``free_flow`` (s).
    link_hours : DataFrame
        One row per link and hour with ``volume`` (veh/h, full scale), ``length_m``, ``vc``
        and ``congested`` (bool).
    sample : float
        Share of the population simulated (trip counts are divided by it).
    end_s : float
        End of the simulated day (s), for cars still driving then.
    co2_g_per_vehicle_km : float
    spillback_s : float
        Seconds links spent full, summed over links (simulated scale is fine: storage is
        scaled with the sample).
    unrouted_agents : int
        Agents that could not be routed (full scale).

    Examples
    --------
    >>> trips = pd.DataFrame({"mode": ["car", "walk"], "resident": [True, True],
    ...     "commute": [True, True], "depart": [0.0, 0.0], "arrive": [600.0, 1200.0],
    ...     "duration": [600.0, 1200.0], "free_flow": [300.0, np.nan]})
    >>> links = pd.DataFrame({"volume": [1.0], "length_m": [5000.0], "vc": [0.5],
    ...                       "congested": [False]})
    >>> k = mobility_kpis(trips, links, sample=1.0, end_s=3600.0, co2_g_per_vehicle_km=160)
    >>> k["commute_time_mean_min"], k["delay_hours"], k["co2_t"], k["mode_share_car"]
    (15.0, 0.0833, 0.0008, 0.5)
    """
    scale = 1.0 / sample
    car = trips[trips["mode"] == "car"]
    commute = trips[trips["commute"].astype(bool) & trips["arrive"].notna()]["duration"] / 60.0
    on_net = (car["arrive"].fillna(end_s).clip(upper=end_s) - car["depart"]).clip(lower=0)
    delay = (on_net - car["free_flow"].fillna(0.0)).clip(lower=0)
    vkm = float((link_hours["volume"] * link_hours["length_m"]).sum() / 1000.0)
    res = trips[trips["resident"].astype(bool)]
    shares = res["mode"].value_counts(normalize=True) if len(res) else pd.Series(dtype=float)
    out = {
        "commute_time_mean_min": float(commute.mean()) if len(commute) else 0.0,
        "commute_time_p90_min": float(np.percentile(commute, 90)) if len(commute) else 0.0,
        "vehicle_km": vkm,
        "vehicle_hours": float(on_net.sum() / 3600.0 * scale),
        "delay_hours": float(delay.sum() / 3600.0 * scale),
        "congested_link_hours": float(link_hours["congested"].astype(bool).sum()),
        "spillback_hours": float(spillback_s / 3600.0),
        "max_vc": float(link_hours["vc"].max()) if len(link_hours) else 0.0,
        "mode_share_car": float(shares.get("car", 0.0)),
        "mode_share_transit": float(shares.get("transit", 0.0)),
        "mode_share_walk": float(shares.get("walk", 0.0)),
        "mode_share_bike": float(shares.get("bike", 0.0)),
        "co2_t": vkm * co2_g_per_vehicle_km / 1e6,
        "trips": float(len(trips) * scale),
        "car_trips": float(len(car) * scale),
        "unfinished_trips": float(car["arrive"].isna().sum() * scale),
        "unrouted_agents": float(unrouted_agents),
    }
    return {k: round(v, 4) for k, v in out.items()}
