"""Online twins: ``twin init --place "Lucheng District, Wenzhou, China"`` through osmnx.

The place is geocoded with osmnx (Nominatim), its OSM data downloaded from the Overpass API as
XML and built by the same offline pipeline as ``--osm``. Without a network connection this fails
at once with an :class:`~twin._errors.OfflineError`, never a hang.
"""

from __future__ import annotations

import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from twin._errors import LayerError, OfflineError
from twin.layers.osm import Progress, read_osm
from twin.layers.store import Twin

__all__ = ["check_online", "twin_from_place"]

_HOSTS = (("nominatim.openstreetmap.org", 443), ("overpass-api.de", 443))
OVERPASS_URL = "https://overpass-api.de/api/interpreter"


def check_online(timeout: float = 3.0, *,
                 hosts: tuple[tuple[str, int], ...] | None = None) -> None:
    """Raise OfflineError unless the geocoder and Overpass hosts answer within ``timeout`` s.

    Examples
    --------
    >>> check_online(hosts=(("nominatim.invalid", 443),))
    Traceback (most recent call last):
    ...
    twin._errors.OfflineError: `--place` needs the internet to reach nominatim.invalid ...
    """
    for host, port in hosts or _HOSTS:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as err:
            msg = (f"`--place` needs the internet to reach {host} ({err.__class__.__name__}: "
                   f"{err}). Offline, download an extract (e.g. from download.geofabrik.de) "
                   "elsewhere and use `twin init --osm FILE.osm.pbf OUT.twin.gpkg`")
            raise OfflineError(msg) from err


def twin_from_place(place: str, *, crs: Any = None, progress: Progress | None = None,
                    timeout: float = 180.0) -> Twin:
    """Build a twin of a named place, online.

    Parameters
    ----------
    place : str
        A place name Nominatim knows, e.g. ``"Lucheng District, Wenzhou, China"``.
    crs : optional
        Projected CRS (default local UTM).

    Raises
    ------
    OfflineError
        No network connection.
    LayerError
        The place is unknown or the download fails.
    """
    check_online()
    import osmnx as ox

    step = progress or (lambda _s: None)
    step("geocoding")
    try:
        area = ox.geocode_to_gdf(place)
    except Exception as err:
        msg = f"place {place!r} could not be geocoded ({err}); check the spelling"
        raise LayerError(msg) from err
    west, south, east, north = area.total_bounds
    query = (f"[out:xml][timeout:{int(timeout)}];"
             f"(nwr({south},{west},{north},{east}););(._;>;);out meta;")
    step("downloading OSM data")
    data = urllib.parse.urlencode({"data": query}).encode()
    try:
        with urllib.request.urlopen(OVERPASS_URL, data=data, timeout=timeout) as resp:
            body = resp.read()
    except (urllib.error.URLError, TimeoutError) as err:
        msg = f"Overpass download for {place!r} failed ({err}); try again or use --osm"
        raise OfflineError(msg) from err
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "place.osm"
        path.write_bytes(body)
        return read_osm(path, name=place.split(",")[0].strip().lower().replace(" ", "-"),
                        crs=crs, progress=progress)
