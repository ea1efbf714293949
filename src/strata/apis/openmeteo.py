"""Embedded stand-in for the Open-Meteo *archive* API (``GET /v1/archive``).

The SmartSensor pipeline enriches sensor readings with daily weather. Tests and demos must not
depend on the real service, so this module serves the same JSON from a deterministic synthetic
climate:

* every value is a pure function of (grid cell, date) — asking for a day inside a long range or
  on its own gives the same number, on any machine, in any process;
* the grid is 0.1° like ERA5-Land, so the response echoes the snapped cell coordinates (as the
  real API does) and sensors in one cell share their weather;
* temperature = latitude/elevation climatology + seasonal cycle + a *synoptic* anomaly shared
  over a ~7.5° region (so neighbours agree) + small per-cell noise; max and min straddle the
  mean by a diurnal range that shrinks on cloudy, wet days;
* precipitation comes from a smooth regional wetness signal, so rain arrives in spells of
  several days, with a heavy-tailed amount on wet days;
* about 0.2 % of values per variable are ``null``, as real archives have gaps.

Randomness is a splitmix64 hash over uint64 numpy arrays, so a year for one location costs well
under a millisecond and nothing depends on a random generator's state.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from strata.apis.server import (
    Faults,
    JsonBody,
    Query,
    RouteHandler,
    StubServer,
    error_body,
    serve_in_foreground,
)
from strata.errors import ConfigError

__all__ = [
    "ARCHIVE_PATH",
    "DAILY_UNITS",
    "DAILY_VARIABLES",
    "FIRST_DATE",
    "LAST_DATE",
    "archive_handler",
    "daily_weather",
    "open_meteo_routes",
    "open_meteo_server",
    "serve_forever",
]

ARCHIVE_PATH = "/v1/archive"
DAILY_VARIABLES = ("temperature_2m_max", "temperature_2m_min", "precipitation_sum")
DAILY_UNITS = {
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "precipitation_sum": "mm",
}
# The real archive starts in 1940 and ends a few days ago. A fixed upper bound keeps the stub
# independent of today's date, so tests never start failing on their own.
FIRST_DATE = dt.date(1940, 1, 1)
LAST_DATE = dt.date(2099, 12, 31)

_UTC_NAMES = frozenset({"utc", "gmt", "etc/utc", "etc/gmt"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U64 = NDArray[np.uint64]

# --- deterministic hashing ----------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB


def _mix(x: int) -> int:
    """splitmix64 on one Python int, for building per-stream / per-cell keys."""
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK64
    return z ^ (z >> 31)


def _key(*parts: int) -> int:
    """A well-mixed 64-bit key from small signed ints (stream id, cell indices, …)."""
    key = 0
    for part in parts:
        key = _mix(key ^ (part & _MASK64))
    return key


def _splitmix64(x: U64) -> U64:
    """splitmix64 over a uint64 array; numpy wraps uint64 arithmetic modulo 2**64 as wanted."""
    z = x + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
    return z ^ (z >> np.uint64(31))


def _uniform(keys: U64, x: I64) -> F64:
    """Uniform [0, 1) numbers, one per broadcast (key, x) pair."""
    z = _splitmix64(keys ^ x.astype(np.uint64))
    # The top 53 bits fill a double's mantissa exactly.
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _keys(*keys: int) -> U64:
    """Keys as a column vector, so ``_uniform(keys, days)`` gives one row per key."""
    return np.array(keys, dtype=np.uint64)[:, None]


def _smoothstep(f: F64) -> F64:
    return f * f * (3.0 - 2.0 * f)


def _smooth(f: float) -> float:
    return f * f * (3.0 - 2.0 * f)


# --- the synthetic climate ----------------------------------------------------------------

_GRID_DEG = 0.1  # ERA5-Land-like resolution; responses echo the snapped cell centre
_SYN_DEG = 7.5  # size of a "weather system" region shared by nearby sensors
_SYN_LON_CELLS = round(360 / _SYN_DEG)
_SUMMER_PEAK = dt.date(2000, 7, 20).toordinal()  # warmest day lags the solstice by a month
_YEAR_DAYS = 365.2425
_UNIX_EPOCH = dt.date(1970, 1, 1).toordinal()  # datetime64[D] counts days from here
_NULL_RATE = 0.002

# Random streams: fixed ids, never Python's hash(), which is salted per process.
_S_TEMP_SYN, _S_WET_SYN = 1, 2
_S_TEMP_LOCAL, _S_DTR_LOCAL, _S_WET_LOCAL = 10, 20, 30  # each uses 3 consecutive ids
_S_AMOUNT = 40
_S_NULL = 50  # one id per variable: 50, 51, 52

# (period in days, weight) of the two value-noise octaves behind each regional signal. Wetness
# varies faster than temperature: rainy spells last days, warm spells a week or two.
_TEMP_OCTAVES = ((7.0, 1.0), (2.8, 0.6))
_WET_OCTAVES = ((5.5, 1.0), (2.2, 0.45))
# Measured std of the blended two-octave noise (value noise loses variance between knots);
# dividing by it gives the regional signals unit variance.
_REGIONAL_STD = 0.5


@dataclass(frozen=True)
class _Cell:
    """A 0.1° grid cell: what the weather is actually keyed on."""

    i: int
    j: int

    @classmethod
    def at(cls, latitude: float, longitude: float) -> _Cell:
        return cls(round(latitude / _GRID_DEG), round(longitude / _GRID_DEG))

    @property
    def latitude(self) -> float:
        return round(self.i * _GRID_DEG, 4)

    @property
    def longitude(self) -> float:
        return round(self.j * _GRID_DEG, 4)

    @property
    def elevation(self) -> float:
        """Synthetic terrain in metres: smooth hills and plains, clipped at sea level."""
        lat, lon = math.radians(self.latitude), math.radians(self.longitude)
        hills = 420.0 * math.sin(3.1 * lat) * math.cos(2.3 * lon)
        ridges = 230.0 * math.sin(5.7 * lon + 1.3 * lat)
        return float(round(max(0.0, 260.0 + hills + ridges)))


def _season(days: I64, latitude: float) -> F64:
    """+1 at the local height of summer, -1 in deep winter; damped toward the equator."""
    phase = 2.0 * np.pi * (days - _SUMMER_PEAK) / _YEAR_DAYS
    return math.tanh(latitude / 5.0) * np.cos(phase)


def _regional(stream: int, cell: _Cell, days: I64, octaves: Sequence[tuple[float, float]]) -> F64:
    """A unit-variance signal smooth in time and shared across a ~7.5° region.

    Each corner of the coarse region grid carries its own value noise in time; a location
    blends its four corners. Dividing by the weights' norm keeps the variance from dipping in
    the middle of a region, so no place is systematically calmer than another.
    """
    y, x = cell.latitude / _SYN_DEG, cell.longitude / _SYN_DEG
    i0, j0 = math.floor(y), math.floor(x)
    fy, fx = _smooth(y - i0), _smooth(x - j0)
    corners = [(i0, j0), (i0, j0 + 1), (i0 + 1, j0), (i0 + 1, j0 + 1)]
    weights = np.array([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
    weights /= np.sqrt(np.sum(weights**2))
    total = np.zeros(days.shape, dtype=np.float64)
    for octave, (period, amplitude) in enumerate(octaves):
        ids = [_key(stream, ci, cj % _SYN_LON_CELLS, octave) for ci, cj in corners]
        total += amplitude * (weights @ _time_noise(ids, days, period))
    return total / math.hypot(*(amplitude for _, amplitude in octaves)) / _REGIONAL_STD


def _time_noise(ids: Sequence[int], days: I64, period: float) -> F64:
    """Value noise in [-1, 1] per key: hashed knots every ``period`` days, smoothly joined."""
    keys = _keys(*ids)
    # A per-key phase keeps the knots of different corners from lining up.
    phase = (keys[:, 0] >> np.uint64(11)).astype(np.float64) * 2.0**-53 * period
    t = (days[None, :] + phase[:, None]) / period
    knot = np.floor(t)
    frac = _smoothstep(t - knot)
    knot_i = knot.astype(np.int64)
    left, right = _uniform(keys, knot_i), _uniform(keys, knot_i + 1)
    return 2.0 * (left + (right - left) * frac) - 1.0


def _local_normals(stream: int, cell: _Cell, days: I64) -> F64:
    """Approximately standard-normal per-cell daily noise (Irwin-Hall sum of 3 uniforms)."""
    keys = _keys(*(_key(stream + k, cell.i, cell.j) for k in range(3)))
    return (_uniform(keys, days).sum(axis=0) - 1.5) * 2.0


def _wetness(cell: _Cell, days: I64, season: F64) -> tuple[F64, F64]:
    """(wet index, rain threshold): a day is wet when the index exceeds the threshold.

    The threshold is the local climate: ~45 % wet days in mid-latitudes, a dry subtropical
    belt, and a tropical rainy season in local summer.
    """
    abs_lat = abs(cell.latitude)
    regional = _regional(_S_WET_SYN, cell, days, _WET_OCTAVES)
    index = regional + 0.35 * _local_normals(_S_WET_LOCAL, cell, days)
    subtropical_dryness = 1.0 * math.exp(-(((abs_lat - 26.0) / 8.0) ** 2))
    monsoon = 0.6 * math.exp(-(((abs_lat - 12.0) / 8.0) ** 2)) * season
    threshold = 0.12 + subtropical_dryness - monsoon
    return index, threshold


def _precipitation(cell: _Cell, days: I64, season: F64, index: F64, threshold: F64) -> F64:
    """Daily totals in mm: 0 on dry days, a heavy-tailed (Weibull k≈0.7) amount on wet days."""
    abs_lat = abs(cell.latitude)
    excess = np.clip(index - threshold, 0.0, None)
    # Wetter spells rain harder; summer and the tropics add convective intensity.
    tropical = 1.0 + 1.5 * math.exp(-((abs_lat / 12.0) ** 2))
    scale = 1.6 * tropical * (1.0 + 0.3 * np.clip(season, 0.0, None)) * (0.5 + excess)
    u = _uniform(_keys(_key(_S_AMOUNT, cell.i, cell.j)), days)[0]
    amount = scale * (-np.log1p(-u)) ** 1.45
    return np.where(index > threshold, amount, 0.0)


def _temperatures(
    cell: _Cell, days: I64, season: F64, index: F64, threshold: F64
) -> tuple[F64, F64]:
    """(max, min) in °C around a daily mean, split by a weather-dependent diurnal range."""
    abs_lat = abs(cell.latitude)
    annual = 28.0 - 0.40 * max(abs_lat - 12.0, 0.0) - 0.0065 * cell.elevation  # lapse rate
    amplitude = 0.5 + 0.18 * abs_lat
    # Day-to-day variability grows poleward: ~1 °C in the tropics, ~3.5 °C at 45° and beyond.
    variability = 1.0 + 2.5 * min(abs_lat / 45.0, 1.0)
    anomaly = _regional(_S_TEMP_SYN, cell, days, _TEMP_OCTAVES)
    cloudiness = np.clip((index - threshold + 0.3) / 0.8, 0.0, 1.0)
    mean = (
        annual
        + amplitude * season
        + variability * anomaly
        + 0.6 * _local_normals(_S_TEMP_LOCAL, cell, days)
        - 1.2 * cloudiness * np.clip(season, 0.0, None)  # cloudy summer days stay cooler
    )
    base_range = 7.5 + 4.0 * math.exp(-(((abs_lat - 25.0) / 12.0) ** 2)) + 2.5 * season
    diurnal = base_range * (1.0 - 0.5 * cloudiness) + 0.8 * _local_normals(_S_DTR_LOCAL, cell, days)
    # At least 1 °C, so max > min survives rounding to 0.1.
    diurnal = np.clip(diurnal, 1.0, None)
    return mean + diurnal / 2.0, mean - diurnal / 2.0


def _simulate(cell: _Cell, days: I64) -> dict[str, F64]:
    season = _season(days, cell.latitude)
    index, threshold = _wetness(cell, days, season)
    t_max, t_min = _temperatures(cell, days, season, index, threshold)
    return {
        "temperature_2m_max": t_max,
        "temperature_2m_min": t_min,
        "precipitation_sum": _precipitation(cell, days, season, index, threshold),
    }


def _to_json_list(values: F64, missing: NDArray[np.bool_]) -> list[float | None]:
    # Adding 0.0 turns -0.0 into 0.0, which Open-Meteo never prints.
    out: list[float | None] = (np.round(values, 1) + 0.0).tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


def _check_coordinates(latitude: float, longitude: float) -> None:
    # Wording follows Open-Meteo's own 400 reasons.
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise ConfigError(f"Latitude must be in range of -90 to 90°. Given: {latitude}.")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise ConfigError(f"Longitude must be in range of -180 to 180°. Given: {longitude}.")


def daily_weather(
    latitude: float, longitude: float, start: dt.date, end: dt.date
) -> dict[str, list[Any]]:
    """Daily weather for the 0.1° cell holding (latitude, longitude), ``start``..``end`` inclusive.

    Returns ``{"time": ["YYYY-MM-DD", …], "temperature_2m_max": […], "temperature_2m_min":
    […], "precipitation_sum": […]}`` with values rounded to 0.1 and occasional ``None`` gaps.
    Deterministic: a given cell and day always yield the same values.

    Raises:
        ConfigError: coordinates out of range, or ``start`` after ``end``.
    """
    _check_coordinates(latitude, longitude)
    if start > end:
        raise ConfigError("End-date must be larger or equals than start-date")
    cell = _Cell.at(latitude, longitude)
    days = np.arange(start.toordinal(), end.toordinal() + 1, dtype=np.int64)
    fields = _simulate(cell, days)
    null_keys = _keys(*(_key(_S_NULL + n, cell.i, cell.j) for n in range(len(DAILY_VARIABLES))))
    missing = _uniform(null_keys, days) < _NULL_RATE
    dates = (days - _UNIX_EPOCH).astype("datetime64[D]")
    result: dict[str, list[Any]] = {"time": dates.astype(str).tolist()}
    for n, name in enumerate(DAILY_VARIABLES):
        result[name] = _to_json_list(fields[name], missing[n])
    return result


# --- the HTTP handler ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ArchiveRequest:
    latitude: float
    longitude: float
    start: dt.date
    end: dt.date
    daily: tuple[str, ...] | None


def _first(query: Query, name: str) -> str:
    values = query.get(name)
    if not values:
        raise ConfigError(f"Parameter '{name}' is required")
    return values[0].strip()


def _parse_float(query: Query, name: str) -> float:
    raw = _first(query, name)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(
            f"Value of type 'Float' required for key '{name}'. Given: {raw!r}"
        ) from None


def _parse_date(query: Query, name: str) -> dt.date:
    raw = _first(query, name)
    # date.fromisoformat also takes "20240101" and week dates; Open-Meteo does not.
    try:
        if not _ISO_DATE.fullmatch(raw):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"Invalid date format for '{name}': {raw!r}. Make sure to use 'YYYY-MM-DD'"
        ) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ConfigError(
            f"Parameter '{name}' is out of allowed range from {FIRST_DATE} to {LAST_DATE}"
        )
    return day


def _parse_daily(query: Query) -> tuple[str, ...] | None:
    if "daily" not in query:
        return None  # like Open-Meteo: no daily block at all
    # Both "daily=a,b" and "daily=a&daily=b" are accepted, as upstream does.
    names = [n.strip() for value in query["daily"] for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError("Parameter 'daily' must name at least one variable")
    for name in names:
        if name not in DAILY_VARIABLES:
            raise ConfigError(
                f"Cannot initialize ArchiveDailyVariable from invalid String value {name}. "
                f"This stub serves: {', '.join(DAILY_VARIABLES)}"
            )
    return tuple(dict.fromkeys(names))  # drop repeats, keep the order asked for


def _parse_archive_query(query: Query) -> _ArchiveRequest:
    latitude = _parse_float(query, "latitude")
    longitude = _parse_float(query, "longitude")
    _check_coordinates(latitude, longitude)
    if "start_date" not in query or "end_date" not in query:
        raise ConfigError("Both 'start_date' and 'end_date' must be set in the url")
    start, end = _parse_date(query, "start_date"), _parse_date(query, "end_date")
    if start > end:
        raise ConfigError("End-date must be larger or equals than start-date")
    timezone = query.get("timezone", ["GMT"])[0].strip()
    if timezone.lower() not in _UTC_NAMES:
        raise ConfigError(f"Invalid timezone {timezone!r}: this stub serves UTC/GMT only")
    return _ArchiveRequest(latitude, longitude, start, end, _parse_daily(query))


def archive_handler(query: Query) -> tuple[int, JsonBody]:
    """Route handler for ``GET /v1/archive``: (200, Open-Meteo body) or (400, error body)."""
    try:
        request = _parse_archive_query(query)
    except ConfigError as exc:
        return 400, error_body(str(exc))
    started = time.perf_counter()
    cell = _Cell.at(request.latitude, request.longitude)
    body: JsonBody = {
        "latitude": cell.latitude,
        "longitude": cell.longitude,
        "generationtime_ms": 0.0,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": cell.elevation,
    }
    if request.daily is not None:
        weather = daily_weather(request.latitude, request.longitude, request.start, request.end)
        body["daily_units"] = {"time": "iso8601"} | {n: DAILY_UNITS[n] for n in request.daily}
        body["daily"] = {"time": weather["time"]} | {n: weather[n] for n in request.daily}
    body["generationtime_ms"] = (time.perf_counter() - started) * 1000.0
    return 200, body


def open_meteo_routes() -> dict[str, RouteHandler]:
    """The route table of the Open-Meteo stand-in (merge it into another to co-host)."""
    return {ARCHIVE_PATH: archive_handler}


def open_meteo_server(
    host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
) -> StubServer:
    """A (not yet started) :class:`StubServer` answering like the Open-Meteo archive API."""
    return StubServer(open_meteo_routes(), host=host, port=port, faults=faults)


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    *,
    stop_event: threading.Event | None = None,
) -> None:
    """Run the stub in the foreground, print its URL, and block until Ctrl-C.

    ``stop_event`` lets an embedding caller (or a test) end it without a signal.
    """
    example = (
        f"{ARCHIVE_PATH}?latitude=52.52&longitude=13.41"
        f"&start_date=2024-01-01&end_date=2024-01-07&daily={','.join(DAILY_VARIABLES)}"
        "&timezone=UTC"
    )
    serve_in_foreground(
        open_meteo_server(host, port, faults), "Open-Meteo archive stub", example, stop_event
    )
