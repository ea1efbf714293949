"""The OpenWeatherMap current-weather stand-in: real HTTP against the stub on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from strata.apis import Faults, StubServer, openweather_server, weather_for
from strata.apis.openweather import WEATHER_PATH, serve_forever
from strata.errors import ConfigError

SATHORN = {"lat": 13.725, "lon": 100.52}
# The seed's ten stores (dim_store.csv).
STORES = [
    (13.725, 100.52),
    (18.892, 98.98),
    (7.009, 100.47),
    (16.4385, 102.833),
    (13.167, 100.95),
    (12.5681, 99.9575),
    (15.225, 104.85),
    (9.135, 99.316),
    (16.825, 100.26),
    (14.0381, 100.6152),
]
DESCRIPTIONS = {
    "Clear": {"clear sky"},
    "Clouds": {"few clouds", "scattered clouds", "broken clouds", "overcast clouds"},
    "Rain": {"light rain", "moderate rain", "heavy intensity rain"},
    "Thunderstorm": {
        "thunderstorm with light rain",
        "thunderstorm with rain",
        "thunderstorm with heavy rain",
    },
}


def params(**extra: Any) -> dict[str, Any]:
    return {**SATHORN, "appid": "test-key", "units": "metric", **extra}


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with openweather_server() as running:
        yield running


@pytest.fixture
def client(server: StubServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http


def fetch(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    response = client.get(WEATHER_PATH, params=params(**extra))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def days(count: int, first: dt.date = dt.date(2025, 1, 1)) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range(count)]


# --- response shape and values ---------------------------------------------------------------


def test_answers_the_current_weather_shape(client: httpx.Client) -> None:
    response = client.get(WEATHER_PATH, params=params(date="2026-01-10"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert {
        "coord",
        "weather",
        "base",
        "main",
        "visibility",
        "wind",
        "clouds",
        "dt",
        "sys",
        "timezone",
        "id",
        "name",
        "cod",
    } <= set(body)
    assert body["coord"] == {"lon": 100.52, "lat": 13.725}
    assert body["cod"] == 200 and body["base"] == "stations"
    (condition,) = body["weather"]
    assert set(condition) == {"id", "main", "description", "icon"}
    assert {"temp", "feels_like", "temp_min", "temp_max", "pressure", "humidity"} <= set(
        body["main"]
    )
    assert {"speed", "deg"} <= set(body["wind"])
    assert body["sys"]["country"] == "TH" and body["timezone"] == 7 * 3600
    # dt is noon UTC of the asked day, in epoch seconds (the seed's silver reads it as such).
    assert body["dt"] == int(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC).timestamp())
    assert body["sys"]["sunrise"] < body["sys"]["sunset"]
    assert body == weather_for(13.725, 100.52, dt.date(2026, 1, 10))


def test_values_are_realistic_for_thailand() -> None:
    seen: Counter[str] = Counter()
    for day in days(365):
        for lat, lon in STORES[::3]:
            body = weather_for(lat, lon, day)
            main, (condition,) = body["main"], body["weather"]
            assert 28.0 <= main["temp"] <= 36.0
            assert main["temp_min"] < main["temp"] < main["temp_max"]
            assert 55 <= main["humidity"] <= 95
            assert 995 <= main["pressure"] <= 1020
            assert 0 <= body["wind"]["deg"] < 360 and 0 < body["wind"]["speed"] < 15
            assert 0 <= body["clouds"]["all"] <= 100
            assert condition["description"] in DESCRIPTIONS[condition["main"]]
            assert condition["icon"][:2] in {"01", "02", "03", "04", "10", "11"}
            wet = condition["main"] in {"Rain", "Thunderstorm"}
            assert ("rain" in body) == wet
            if condition["main"] == "Clear":
                assert body["clouds"]["all"] <= 10
            seen[condition["main"]] += 1
    assert set(seen) == set(DESCRIPTIONS)
    assert all(count > 20 for count in seen.values()), seen


def test_the_rainy_season_is_wetter_than_the_dry_season() -> None:
    def wet_share(month: int) -> float:
        mains = [
            weather_for(lat, lon, day)["weather"][0]["main"]
            for day in days(28, dt.date(2025, month, 1))
            for lat, lon in STORES
        ]
        return sum(m in {"Rain", "Thunderstorm"} for m in mains) / len(mains)

    assert wet_share(9) > wet_share(1) + 0.15


def test_deterministic_per_place_and_day(client: httpx.Client) -> None:
    first = fetch(client, date="2025-09-01")
    assert fetch(client, date="2025-09-01") == first
    # Coordinates are keyed to 3 decimals: a sub-metre nudge is the same place.
    nudged = fetch(client, date="2025-09-01", lat=13.7250004)
    assert nudged["main"] == first["main"] and nudged["weather"] == first["weather"]
    with openweather_server() as other, httpx.Client(base_url=other.url) as http:
        assert http.get(WEATHER_PATH, params=params(date="2025-09-01")).json() == first


def test_different_days_and_places_differ() -> None:
    temps = {weather_for(13.725, 100.52, day)["main"]["temp"] for day in days(30)}
    assert len(temps) > 25
    places = {weather_for(lat, lon, dt.date(2025, 6, 1))["main"]["temp"] for lat, lon in STORES}
    assert len(places) > 5


def test_units_convert_like_upstream() -> None:
    day = dt.date(2025, 4, 15)
    metric = weather_for(13.725, 100.52, day)
    imperial = weather_for(13.725, 100.52, day, units="imperial")
    standard = weather_for(13.725, 100.52, day, units="standard")
    assert imperial["main"]["temp"] == pytest.approx(metric["main"]["temp"] * 9 / 5 + 32, abs=0.02)
    assert standard["main"]["temp"] == pytest.approx(metric["main"]["temp"] + 273.15, abs=0.02)
    assert imperial["wind"]["speed"] == pytest.approx(metric["wind"]["speed"] * 2.237, rel=0.01)
    assert standard["main"]["humidity"] == metric["main"]["humidity"]


def test_without_units_answers_kelvin_like_upstream(client: httpx.Client) -> None:
    query: dict[str, Any] = {**SATHORN, "appid": "k", "date": "2025-04-15"}
    body = client.get(WEATHER_PATH, params=query).json()
    assert body["main"]["temp"] > 273.15


def test_without_date_answers_today_now(client: httpx.Client) -> None:
    before = int(time.time())
    body = fetch(client)
    after = int(time.time())
    assert before <= body["dt"] <= after
    today = dt.datetime.fromtimestamp(body["dt"], dt.UTC).date()
    expected = weather_for(13.725, 100.52, today)
    assert (
        body["main"] == expected["main"]
        and body["weather"][0]["id"] == (expected["weather"][0]["id"])
    )


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("appid", [None, "", "  "])
def test_missing_or_empty_appid_answers_401(client: httpx.Client, appid: str | None) -> None:
    query: dict[str, Any] = {**SATHORN, "units": "metric"}
    if appid is not None:
        query["appid"] = appid
    response = client.get(WEATHER_PATH, params=query)
    assert response.status_code == 401
    body = response.json()
    assert body["cod"] == 401 and body["message"].startswith("Invalid API key")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"lat": 91}, "wrong latitude"),
        ({"lat": "north"}, "wrong latitude"),
        ({"lon": -181}, "wrong longitude"),
        ({"lat": ""}, "Nothing to geocode"),
    ],
)
def test_bad_coordinates_answer_400(
    client: httpx.Client, where: dict[str, Any], message: str
) -> None:
    response = client.get(WEATHER_PATH, params=params(**where))
    assert response.status_code == 400
    assert response.json() == {"cod": "400", "message": message}


def test_bad_date_answers_400(client: httpx.Client) -> None:
    response = client.get(WEATHER_PATH, params=params(date="20250101"))
    assert response.status_code == 400 and response.json()["cod"] == "400"


def test_unknown_path_answers_404(client: httpx.Client) -> None:
    assert client.get("/data/2.5/forecast", params=params()).status_code == 404


def test_weather_for_validates_its_arguments() -> None:
    with pytest.raises(ConfigError, match="wrong latitude"):
        weather_for(-91, 0, dt.date(2025, 1, 1))
    with pytest.raises(ConfigError, match="units"):
        weather_for(0, 0, dt.date(2025, 1, 1), units="kelvin")


# --- faults ----------------------------------------------------------------------------------


def test_rate_429_sends_retry_after() -> None:
    with (
        openweather_server(faults=Faults(rate_429=1.0, retry_after=0.05)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        response = http.get(WEATHER_PATH, params=params())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.05"


def test_server_errors_and_recovery() -> None:
    with (
        openweather_server(faults=Faults(always_status=500)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        assert http.get(WEATHER_PATH, params=params()).status_code == 500
        server.faults = Faults(fail_first=1)
        assert http.get(WEATHER_PATH, params=params()).status_code == 503
        assert http.get(WEATHER_PATH, params=params()).status_code == 200
        assert server.status_counts == {500: 1, 503: 1, 200: 1}


def test_latency_slows_but_answers() -> None:
    with (
        openweather_server(faults=Faults(latency_ms=50)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        started = time.perf_counter()
        response = http.get(WEATHER_PATH, params=params())
        assert response.status_code == 200
        assert time.perf_counter() - started >= 0.05


def test_serve_forever_prints_url_and_stops_on_event(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    stop.set()  # already set: serve_forever starts, prints, and returns at once
    serve_forever(faults=Faults(), stop_event=stop)
    printed = capsys.readouterr().out
    assert "listening on http://127.0.0.1:" in printed and WEATHER_PATH in printed
