"""Embedded stand-in for OpenWeatherMap's *current weather* API (``GET /data/2.5/weather``).

The Weather & Sales pipeline asks, per store, for the weather at the store's coordinates
(the seed's Lambda2: ``lat``, ``lon``, ``appid``, ``units=metric``). Tests and demos must not
depend on the real service or an API key, so this module answers with the real JSON shape
from a deterministic synthetic climate:

* every value is a pure function of (latitude and longitude rounded to 3 decimals, UTC day):
  asking twice, from two servers or two processes, gives the same numbers;
* the climate is Thailand's tropical monsoon: 28-36 °C, humidity 55-95 %, a hot season
  peaking in April, a rainy season peaking in September (about half the days wet), a cooler
  and drier season around December. It is used everywhere; outside 21° of latitude it only
  cools by 0.6 °C per degree, so other places get plausible but not realistic weather;
* part of each day's weather is shared over a ~2° region (blended between grid corners), so
  neighbouring stores tend to see the same rain, and part is local to the store;
* ``weather[0].main`` is Clear, Clouds, Rain or Thunderstorm, with OpenWeatherMap's condition
  ids, descriptions and icons (``01d``…``11n``); cloud cover, rain volume, visibility and
  humidity agree with it.

The current-weather API has no date parameter. This stand-in accepts an extra
``date=YYYY-MM-DD`` (the real API ignores unknown parameters and answers "now"), so a
pipeline can ask for the weather of a past sales day; ``dt`` is then noon UTC of that day.
Without it the day is today (UTC) and ``dt`` is the current time.

Errors follow the real API: a missing or empty ``appid`` answers 401 (any non-empty key is
accepted), missing coordinates 400 "Nothing to geocode", bad ones 400 "wrong latitude" /
"wrong longitude". Faults (429 with Retry-After, 5xx, latency) come from :class:`Faults`, as
for every stand-in; their bodies are the shared stub's (``{"error": true, "reason": …}``),
not OpenWeatherMap's ``{"cod": …, "message": …}``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from strata.apis.server import (
    Faults,
    JsonBody,
    Query,
    RouteHandler,
    StubServer,
    serve_in_foreground,
)
from strata.errors import ConfigError

__all__ = [
    "UNITS",
    "WEATHER_PATH",
    "current_weather_handler",
    "openweather_routes",
    "openweather_server",
    "serve_forever",
    "weather_for",
]

WEATHER_PATH = "/data/2.5/weather"
# OpenWeatherMap's unit systems; anything else (or none) means "standard", as upstream does.
UNITS = ("standard", "metric", "imperial")

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INVALID_KEY = "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info."

# --- deterministic hashing (splitmix64, as in the Open-Meteo stand-in) -----------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_NORMAL = statistics.NormalDist()


def _mix(x: int) -> int:
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK64
    return z ^ (z >> 31)


def _key(*parts: int) -> int:
    """A well-mixed 64-bit key from small signed ints (never Python's salted hash())."""
    key = 0
    for part in parts:
        key = _mix(key ^ (part & _MASK64))
    return key


def _uniform(*parts: int) -> float:
    """A uniform number in (0, 1) per key (never exactly 0, so inv_cdf is safe)."""
    return ((_key(*parts) >> 11) + 0.5) * 2.0**-53


def _normal(*parts: int) -> float:
    return _NORMAL.inv_cdf(_uniform(*parts))


def _smooth(f: float) -> float:
    return f * f * (3.0 - 2.0 * f)


# Random streams: fixed ids per quantity.
_S_WET, _S_TEMP, _S_PRESSURE = 1, 2, 3  # regional (shared over ~2°)
_S_WET_LOCAL, _S_TEMP_LOCAL, _S_STORM, _S_SPREAD_LO, _S_SPREAD_HI = 10, 11, 12, 13, 14
_S_HUMIDITY, _S_WIND, _S_DEG, _S_CLOUDS, _S_STATION = 15, 16, 17, 18, 19

_REGION_DEG = 2.0
_THAILAND = (5.5, 20.5, 97.3, 105.7)  # lat min, lat max, lon min, lon max
_THAI_OFFSET_S = 7 * 3600
# A few Thai places for the response's `name` (nearest within _NAME_RADIUS_DEG).
_PLACES = (
    ("Bangkok", 13.754, 100.501),
    ("Sathon", 13.708, 100.526),
    ("Rangsit", 13.987, 100.617),
    ("Chiang Mai", 18.788, 98.985),
    ("Mae Rim", 18.914, 98.944),
    ("Hat Yai", 7.008, 100.474),
    ("Songkhla", 7.190, 100.595),
    ("Khon Kaen", 16.441, 102.836),
    ("Si Racha", 13.174, 100.930),
    ("Chon Buri", 13.361, 100.985),
    ("Pattaya", 12.927, 100.877),
    ("Hua Hin", 12.570, 99.958),
    ("Ubon Ratchathani", 15.244, 104.847),
    ("Surat Thani", 9.140, 99.333),
    ("Phitsanulok", 16.828, 100.261),
    ("Nakhon Ratchasima", 14.970, 102.102),
    ("Udon Thani", 17.415, 102.787),
    ("Phuket", 7.890, 98.398),
    ("Nakhon Si Thammarat", 8.430, 99.963),
)
_NAME_RADIUS_DEG = 0.5


@dataclass(frozen=True)
class _Site:
    """Where the weather is keyed: coordinates rounded to 3 decimals (~100 m)."""

    milli_lat: int
    milli_lon: int

    @classmethod
    def at(cls, latitude: float, longitude: float) -> _Site:
        return cls(round(latitude * 1000), round(longitude * 1000))

    @property
    def latitude(self) -> float:
        return self.milli_lat / 1000

    @property
    def longitude(self) -> float:
        return self.milli_lon / 1000

    def local(self, stream: int, day: int) -> tuple[int, ...]:
        return (stream, self.milli_lat, self.milli_lon, day)

    def regional(self, stream: int, day: int) -> float:
        """A standard normal shared over a ~2° region, blended between the grid corners."""
        y, x = self.latitude / _REGION_DEG, self.longitude / _REGION_DEG
        i0, j0 = math.floor(y), math.floor(x)
        fy, fx = _smooth(y - i0), _smooth(x - j0)
        corners = (
            ((1 - fy) * (1 - fx), i0, j0),
            ((1 - fy) * fx, i0, j0 + 1),
            (fy * (1 - fx), i0 + 1, j0),
            (fy * fx, i0 + 1, j0 + 1),
        )
        total = sum(w * _normal(stream, i, j, day) for w, i, j in corners)
        # Dividing by the weights' norm keeps unit variance in the middle of a cell too.
        return total / math.sqrt(sum(w * w for w, _, _ in corners))


# --- the synthetic climate -------------------------------------------------------------------

_YEAR_DAYS = 365.2425
_UNIX_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class _Condition:
    id: int
    main: str
    description: str
    icon: str  # without the d/n suffix


def _cloud_condition(cover: int) -> _Condition:
    if cover <= 10:
        return _Condition(800, "Clear", "clear sky", "01")
    if cover <= 25:
        return _Condition(801, "Clouds", "few clouds", "02")
    if cover <= 50:
        return _Condition(802, "Clouds", "scattered clouds", "03")
    if cover <= 84:
        return _Condition(803, "Clouds", "broken clouds", "04")
    return _Condition(804, "Clouds", "overcast clouds", "04")


def _wet_condition(intensity: float, storm: bool) -> _Condition:
    level = 0 if intensity < 0.4 else 1 if intensity < 0.8 else 2
    if storm:
        descriptions = (
            "thunderstorm with light rain",
            "thunderstorm with rain",
            "thunderstorm with heavy rain",
        )
        return _Condition(200 + level, "Thunderstorm", descriptions[level], "11")
    descriptions = ("light rain", "moderate rain", "heavy intensity rain")
    return _Condition(500 + level, "Rain", descriptions[level], "10")


def _check_coordinates(latitude: float, longitude: float) -> None:
    # Wording follows OpenWeatherMap's own 400 messages.
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        raise ConfigError("wrong latitude")
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        raise ConfigError("wrong longitude")


def _sun_times(latitude: float, longitude: float, day: dt.date) -> tuple[int, int]:
    """(sunrise, sunset) in epoch seconds: NOAA's approximation, good to a few minutes."""
    n = day.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2.0 * math.pi * (284 + n) / 365.0)
    b = 2.0 * math.pi * (n - 81) / 364.0
    equation_of_time = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)  # min
    lat = math.radians(latitude)
    cos_h = (math.sin(math.radians(-0.833)) - math.sin(lat) * math.sin(declination)) / (
        math.cos(lat) * math.cos(declination) or 1e-12
    )
    half_day_min = math.degrees(math.acos(min(1.0, max(-1.0, cos_h)))) * 4.0
    noon_min = 720.0 - 4.0 * longitude - equation_of_time
    midnight = (day - _UNIX_EPOCH).days * 86_400
    return (
        midnight + round((noon_min - half_day_min) * 60),
        midnight + round((noon_min + half_day_min) * 60),
    )


def _apparent_temperature(temp_c: float, humidity: int, wind_ms: float) -> float:
    """Steadman's apparent temperature (Australian BoM form), a fair 'feels like'."""
    vapour_hpa = humidity / 100.0 * 6.105 * math.exp(17.27 * temp_c / (237.7 + temp_c))
    return temp_c + 0.33 * vapour_hpa - 0.70 * wind_ms - 4.0


def _place(site: _Site) -> tuple[str, str]:
    """(name, country) as OpenWeatherMap would label the point; ("", "") far from any place."""
    lat, lon = site.latitude, site.longitude
    lat_min, lat_max, lon_min, lon_max = _THAILAND
    country = "TH" if lat_min <= lat <= lat_max and lon_min <= lon <= lon_max else ""
    nearest = min(_PLACES, key=lambda p: math.hypot(p[1] - lat, p[2] - lon))
    if math.hypot(nearest[1] - lat, nearest[2] - lon) > _NAME_RADIUS_DEG:
        return "", country
    return nearest[0], country


def _convert(temp_c: float, units: str) -> float:
    if units == "metric":
        return round(temp_c, 2)
    if units == "imperial":
        return round(temp_c * 9.0 / 5.0 + 32.0, 2)
    return round(temp_c + 273.15, 2)


def _speed(ms: float, units: str) -> float:
    return round(ms * 2.236936 if units == "imperial" else ms, 2)


def _body(latitude: float, longitude: float, day: dt.date, observed: int, units: str) -> JsonBody:
    site = _Site.at(latitude, longitude)
    ordinal = day.toordinal()
    doy = day.timetuple().tm_yday
    heat = math.cos(2.0 * math.pi * (doy - 110) / _YEAR_DAYS)  # +1 in late April
    rainy = max(0.0, math.cos(2.0 * math.pi * (doy - 250) / _YEAR_DAYS))  # +1 in September
    cooling = 0.6 * max(abs(site.latitude) - 21.0, 0.0)

    # Wet or dry: a standard normal (regional + local) against the season's rain chance.
    z_wet = 0.8 * site.regional(_S_WET, ordinal) + 0.6 * _normal(*site.local(_S_WET_LOCAL, ordinal))
    u_wet = _NORMAL.cdf(z_wet)
    p_rain = 0.15 + 0.35 * rainy
    wet = u_wet < p_rain
    if wet:
        intensity = 1.0 - u_wet / p_rain  # the further below the threshold, the harder it rains
        storm = _uniform(*site.local(_S_STORM, ordinal)) < 0.3 + 0.25 * max(heat, 0.0)
        condition = _wet_condition(intensity, storm)
        cover = 75 + int(25 * _uniform(*site.local(_S_CLOUDS, ordinal)))
        chill = 1.0 + 2.0 * intensity
    else:
        intensity, storm = 0.0, False
        cloudiness = 1.0 - (u_wet - p_rain) / (1.0 - p_rain)  # cloudier close to raining
        cover = min(100, round(100 * cloudiness**2))
        condition = _cloud_condition(cover)
        chill = 0.8 * cloudiness

    lo, hi = 28.0 - cooling, 36.0 - cooling
    temp = (
        31.8
        - cooling
        + 1.8 * heat
        + 1.2 * site.regional(_S_TEMP, ordinal)
        + 0.5 * _normal(*site.local(_S_TEMP_LOCAL, ordinal))
        - chill
    )
    # A soft squash instead of a clip: extremes get rarer near the edges, never pile up there.
    middle, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    temp = middle + half * math.tanh((temp - middle) / half)
    temp_min = temp - 0.3 - 1.2 * _uniform(*site.local(_S_SPREAD_LO, ordinal))
    temp_max = temp + 0.3 + 1.2 * _uniform(*site.local(_S_SPREAD_HI, ordinal))

    humidity = 64.0 + 10.0 * rainy - 2.5 * (temp - 31.0) + cover / 12.0
    humidity += 14.0 * intensity + (8.0 if wet else 0.0)
    humidity += 4.0 * _normal(*site.local(_S_HUMIDITY, ordinal))
    humidity_pct = int(min(95, max(55, round(humidity))))

    wind = 1.0 + 3.5 * _uniform(*site.local(_S_WIND, ordinal)) + (1.8 if storm else 0.0)
    prevailing = 225.0 if rainy > 0.0 else 45.0  # SW monsoon in the wet season, NE otherwise
    deg = round(prevailing + 50.0 * _normal(*site.local(_S_DEG, ordinal))) % 360
    pressure = round(1008.0 - 2.0 * rainy + 1.5 * site.regional(_S_PRESSURE, ordinal))
    # Metres, capped at 10 km like upstream; rain and storms cut it.
    visibility = round((9000 if storm else 10000) - 6000 * intensity, -2) if wet else 10000

    sunrise, sunset = _sun_times(site.latitude, site.longitude, day)
    suffix = "d" if sunrise <= observed < sunset else "n"
    name, country = _place(site)
    sys: JsonBody = {"sunrise": sunrise, "sunset": sunset}
    if country:
        station = (
            2_000_000 + _key(_S_STATION, site.milli_lat // 100, site.milli_lon // 100) % 99_999
        )
        sys = {"type": 2, "id": station, "country": country, **sys}
    wind_body: JsonBody = {"speed": _speed(wind, units), "deg": deg}
    if storm:
        wind_body["gust"] = _speed(wind * 1.6, units)

    body: JsonBody = {
        "coord": {"lon": round(longitude, 4), "lat": round(latitude, 4)},
        "weather": [
            {
                "id": condition.id,
                "main": condition.main,
                "description": condition.description,
                "icon": condition.icon + suffix,
            }
        ],
        "base": "stations",
        "main": {
            "temp": _convert(temp, units),
            "feels_like": _convert(_apparent_temperature(temp, humidity_pct, wind), units),
            "temp_min": _convert(temp_min, units),
            "temp_max": _convert(temp_max, units),
            "pressure": pressure,
            "humidity": humidity_pct,
            "sea_level": pressure,
            "grnd_level": pressure - 1,
        },
        "visibility": int(visibility),
        "wind": wind_body,
    }
    if wet:
        body["rain"] = {"1h": round(0.2 + 14.0 * intensity**2, 2)}
    body |= {
        "clouds": {"all": cover},
        "dt": observed,
        "sys": sys,
        "timezone": _THAI_OFFSET_S if country else round(longitude / 15.0) * 3600,
        "id": 1_000_000 + _key(site.milli_lat // 50, site.milli_lon // 50) % 8_999_999,
        "name": name,
        "cod": 200,
    }
    return body


def _noon_utc(day: dt.date) -> int:
    return (day - _UNIX_EPOCH).days * 86_400 + 12 * 3600


def weather_for(lat: float, lon: float, day: dt.date, *, units: str = "metric") -> dict[str, Any]:
    """The current-weather body the stand-in answers for (lat, lon) on ``day``, with ``dt``
    at noon UTC of that day (what ``…&date=YYYY-MM-DD`` returns over HTTP).

    Deterministic: the same coordinates (to 3 decimals) and day always give the same body.

    Raises:
        ConfigError: coordinates out of range, or ``units`` not one of :data:`UNITS`.
    """
    _check_coordinates(lat, lon)
    if units not in UNITS:
        raise ConfigError(f"units must be one of {', '.join(UNITS)}, got {units!r}")
    return _body(lat, lon, day, _noon_utc(day), units)


# --- the HTTP handler ------------------------------------------------------------------------


def _owm_error(status: int, message: str) -> tuple[int, JsonBody]:
    # OpenWeatherMap's quirk: `cod` is a number on 401 but a string on 400/404.
    return status, {"cod": status if status == 401 else str(status), "message": message}


def _first(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0].strip() if values else None


def _coordinate(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"wrong {name}") from None


def current_weather_handler(query: Query) -> tuple[int, JsonBody]:
    """Route handler for ``GET /data/2.5/weather``: (200, body), or 401/400 as upstream."""
    if not _first(query, "appid"):
        return _owm_error(401, _INVALID_KEY)
    raw_lat, raw_lon = _first(query, "lat"), _first(query, "lon")
    if not raw_lat or not raw_lon:
        return _owm_error(400, "Nothing to geocode")
    try:
        latitude = _coordinate(raw_lat, "latitude")
        longitude = _coordinate(raw_lon, "longitude")
        _check_coordinates(latitude, longitude)
    except ConfigError as exc:
        return _owm_error(400, str(exc))
    units = (_first(query, "units") or "standard").lower()
    if units not in UNITS:
        units = "standard"  # upstream ignores an unknown unit system
    raw_date = _first(query, "date")
    if raw_date:
        try:
            if not _ISO_DATE.fullmatch(raw_date):
                raise ValueError(raw_date)
            day = dt.date.fromisoformat(raw_date)
        except ValueError:
            return _owm_error(400, f"wrong date {raw_date!r}: this stand-in takes YYYY-MM-DD")
        observed = _noon_utc(day)
    else:
        observed = int(time.time())
        day = dt.datetime.fromtimestamp(observed, dt.UTC).date()
    return 200, _body(latitude, longitude, day, observed, units)


def openweather_routes() -> dict[str, RouteHandler]:
    """The route table of the OpenWeatherMap stand-in (merge it into another to co-host)."""
    return {WEATHER_PATH: current_weather_handler}


def openweather_server(
    host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None
) -> StubServer:
    """A (not yet started) :class:`StubServer` answering like OpenWeatherMap's current weather."""
    return StubServer(openweather_routes(), host=host, port=port, faults=faults)


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
    example = f"{WEATHER_PATH}?lat=13.725&lon=100.52&appid=any-key&units=metric&date=2026-01-10"
    serve_in_foreground(
        openweather_server(host, port, faults),
        "OpenWeatherMap current-weather stub",
        example,
        stop_event,
    )
