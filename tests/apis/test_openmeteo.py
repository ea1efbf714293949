"""The Open-Meteo archive stand-in: real HTTP against the stub on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from strata.apis import (
    ARCHIVE_PATH,
    DAILY_VARIABLES,
    Faults,
    StubServer,
    daily_weather,
    open_meteo_server,
    serve_forever,
)
from strata.errors import ConfigError, StrataError

BERLIN = {"latitude": 52.52, "longitude": 13.41}
ALL_DAILY = ",".join(DAILY_VARIABLES)


def archive_params(start: str, end: str, daily: str = ALL_DAILY, **where: Any) -> dict[str, Any]:
    return {
        **(where or BERLIN),
        "start_date": start,
        "end_date": end,
        "daily": daily,
        "timezone": "UTC",
    }


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with open_meteo_server() as running:
        yield running


@pytest.fixture
def client(server: StubServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http


def fetch(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get(ARCHIVE_PATH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def as_array(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def sensors(count: int, seed: int = 7) -> list[tuple[float, float]]:
    """Sensor sites scattered over central Europe, reproducibly."""
    rng = np.random.default_rng(seed)
    lats, lons = rng.uniform(47.0, 55.0, count), rng.uniform(5.0, 15.0, count)
    return list(zip(lats.tolist(), lons.tolist(), strict=True))


# --- response shape ---------------------------------------------------------------------


def test_archive_answers_open_meteo_shape(client: httpx.Client) -> None:
    response = client.get(ARCHIVE_PATH, params=archive_params("2024-01-01", "2024-01-31"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["content-length"]) == len(response.content)
    body = response.json()
    assert set(body) == {
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
        "daily_units",
        "daily",
    }
    assert (body["utc_offset_seconds"], body["timezone"], body["timezone_abbreviation"]) == (
        0,
        "GMT",
        "GMT",
    )
    assert body["latitude"] == pytest.approx(52.5) and body["longitude"] == pytest.approx(13.4)
    assert isinstance(body["elevation"], float) and isinstance(body["generationtime_ms"], float)
    assert body["daily_units"] == {
        "time": "iso8601",
        "temperature_2m_max": "°C",
        "temperature_2m_min": "°C",
        "precipitation_sum": "mm",
    }
    daily = body["daily"]
    assert list(daily) == ["time", *DAILY_VARIABLES]
    assert daily["time"][0] == "2024-01-01" and daily["time"][-1] == "2024-01-31"
    assert all(len(values) == 31 for values in daily.values())
    for name in DAILY_VARIABLES:
        assert all(v is None or isinstance(v, float) for v in daily[name])
        assert all(v is None or round(v, 1) == v for v in daily[name])


def test_only_requested_variables_appear(client: httpx.Client) -> None:
    body = fetch(client, **archive_params("2024-03-01", "2024-03-02", daily="precipitation_sum"))
    assert list(body["daily"]) == ["time", "precipitation_sum"]
    assert list(body["daily_units"]) == ["time", "precipitation_sum"]

    repeated = client.get(
        ARCHIVE_PATH,
        params=[
            ("latitude", "52.52"),
            ("longitude", "13.41"),
            ("start_date", "2024-03-01"),
            ("end_date", "2024-03-01"),
            ("daily", "temperature_2m_min"),
            ("daily", "temperature_2m_max"),
        ],
    ).json()
    assert list(repeated["daily"]) == ["time", "temperature_2m_min", "temperature_2m_max"]


def test_http_answers_match_daily_weather(client: httpx.Client) -> None:
    body = fetch(client, **archive_params("2023-06-01", "2023-06-30"))
    assert body["daily"] == daily_weather(52.52, 13.41, dt.date(2023, 6, 1), dt.date(2023, 6, 30))


def test_keep_alive_serves_many_requests_on_one_client(client: httpx.Client) -> None:
    for day in range(1, 6):
        date = f"2024-05-0{day}"
        response = client.get(ARCHIVE_PATH, params=archive_params(date, date))
        assert response.status_code == 200
        assert response.http_version == "HTTP/1.1"
        assert response.headers.get("connection", "").lower() != "close"


# --- determinism ------------------------------------------------------------------------


def test_sub_range_equals_slice_of_larger_range(client: httpx.Client) -> None:
    year = fetch(client, **archive_params("2023-01-01", "2023-12-31"))["daily"]
    march = fetch(client, **archive_params("2023-03-10", "2023-03-20"))["daily"]
    first, last = year["time"].index("2023-03-10"), year["time"].index("2023-03-20") + 1
    for name, values in march.items():
        assert values == year[name][first:last]


def test_two_servers_give_the_same_values() -> None:
    params = archive_params("2022-02-01", "2022-04-30", latitude=45.76, longitude=4.84)
    bodies = []
    for _ in range(2):
        with open_meteo_server() as server, httpx.Client(base_url=server.url) as http:
            body = http.get(ARCHIVE_PATH, params=params).json()
        del body["generationtime_ms"]  # wall-clock, like upstream
        bodies.append(body)
    assert bodies[0] == bodies[1]


def test_different_places_and_days_differ() -> None:
    day = dt.date(2024, 1, 15)
    berlin = daily_weather(52.52, 13.41, day, day + dt.timedelta(days=30))
    madrid = daily_weather(40.42, -3.70, day, day + dt.timedelta(days=30))
    assert berlin["temperature_2m_max"] != madrid["temperature_2m_max"]
    assert len(set(berlin["temperature_2m_max"])) > 10


# --- plausibility -----------------------------------------------------------------------


def test_max_exceeds_min_every_day() -> None:
    for lat, lon in [*sensors(20), (1.35, 103.8), (-33.9, 151.2), (69.6, 18.9)]:
        weather = daily_weather(lat, lon, dt.date(2020, 1, 1), dt.date(2021, 12, 31))
        t_max, t_min = (
            as_array(weather["temperature_2m_max"]),
            as_array(weather["temperature_2m_min"]),
        )
        both = ~np.isnan(t_max) & ~np.isnan(t_min)
        assert np.all(t_max[both] > t_min[both])


def test_seasonal_cycle_and_latitude_gradient() -> None:
    def monthly_mean_max(lat: float, lon: float, month: int) -> float:
        start = dt.date(2015, month, 1)
        end = (start + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)
        means = [
            np.nanmean(
                as_array(
                    daily_weather(lat, lon, start.replace(year=y), end.replace(year=y))[
                        "temperature_2m_max"
                    ]
                )
            )
            for y in range(2015, 2020)
        ]
        return float(np.mean(means))

    assert monthly_mean_max(52.0, 10.0, 7) > monthly_mean_max(52.0, 10.0, 1) + 10.0
    # Southern hemisphere: the other way round.
    assert monthly_mean_max(-35.0, 150.0, 1) > monthly_mean_max(-35.0, 150.0, 7) + 5.0
    # Warmer toward the equator.
    assert monthly_mean_max(5.0, 10.0, 1) > monthly_mean_max(52.0, 10.0, 1) + 15.0


def test_nearby_sensors_are_similar_distant_ones_less_so() -> None:
    start, end = dt.date(2023, 1, 1), dt.date(2023, 12, 31)

    def t_max(lat: float, lon: float) -> np.ndarray:
        return as_array(daily_weather(lat, lon, start, end)["temperature_2m_max"])

    here, near, far = t_max(52.0, 10.0), t_max(52.3, 10.3), t_max(40.0, -75.0)
    near_gap = np.nanmean(np.abs(here - near))
    far_gap = np.nanmean(np.abs(here - far))
    assert near_gap < 2.0
    assert far_gap > 2 * near_gap


def test_nulls_exist_but_are_rare() -> None:
    start, end = dt.date(2023, 1, 1), dt.date(2023, 12, 31)
    weathers = [daily_weather(lat, lon, start, end) for lat, lon in sensors(100)]
    for name in DAILY_VARIABLES:
        values = [v for weather in weathers for v in weather[name]]
        share = sum(v is None for v in values) / len(values)
        assert 0.0 < share < 0.006, (name, share)


def test_rain_comes_in_spells_with_dry_days_and_heavy_days() -> None:
    start, end = dt.date(2021, 1, 1), dt.date(2023, 12, 31)
    rain = np.concatenate(
        [
            as_array(daily_weather(lat, lon, start, end)["precipitation_sum"])
            for lat, lon in sensors(30)
        ]
    )
    rain = rain[~np.isnan(rain)]
    wet = rain >= 0.1
    assert 0.2 < wet.mean() < 0.7
    assert (rain == 0.0).mean() > 0.3  # many days exactly dry
    assert (rain > 10.0).any()  # sometimes heavy
    assert (rain > 50.0).mean() < 0.005  # rarely extreme
    assert rain.min() >= 0.0

    # Spells: today's wetness predicts tomorrow's far better than chance.
    one_site = as_array(daily_weather(50.0, 8.0, start, end)["precipitation_sum"]) >= 0.1
    lag1 = np.corrcoef(one_site[:-1], one_site[1:])[0, 1]
    assert lag1 > 0.3


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"longitude": "13.4", "start_date": "2024-01-01", "end_date": "2024-01-02"}, "latitude"),
        ({**archive_params("2024-01-01", "2024-01-02"), "latitude": "north"}, "latitude"),
        ({**archive_params("2024-01-01", "2024-01-02"), "latitude": "91"}, "Latitude"),
        ({**archive_params("2024-01-01", "2024-01-02"), "longitude": "nan"}, "Longitude"),
        ({**archive_params("2024-01-01", "2024-01-02"), "start_date": "2024/01/01"}, "date"),
        ({**archive_params("2024-01-01", "2024-01-02"), "end_date": "2024-02-30"}, "date"),
        ({**archive_params("2024-01-01", "2024-01-02"), "end_date": None}, "end_date"),
        (archive_params("2024-01-10", "2024-01-02"), "End-date"),
        (archive_params("1900-01-01", "1900-01-02"), "out of allowed range"),
        (archive_params("2024-01-01", "2024-01-02", daily="snowfall_sum"), "snowfall_sum"),
        ({**archive_params("2024-01-01", "2024-01-02"), "timezone": "Europe/Berlin"}, "timezone"),
    ],
)
def test_bad_requests_answer_400_with_open_meteo_error(
    client: httpx.Client, params: dict[str, Any], fragment: str
) -> None:
    response = client.get(ARCHIVE_PATH, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True
    assert fragment in body["reason"]


def test_unknown_path_answers_404_json(client: httpx.Client) -> None:
    response = client.get("/v1/forecast")
    assert response.status_code == 404
    assert response.json()["error"] is True


def test_daily_weather_validates_its_arguments() -> None:
    with pytest.raises(ConfigError, match="End-date"):
        daily_weather(52.5, 13.4, dt.date(2024, 2, 1), dt.date(2024, 1, 1))
    with pytest.raises(ConfigError, match="Latitude"):
        daily_weather(95.0, 13.4, dt.date(2024, 1, 1), dt.date(2024, 1, 1))


# --- fault injection --------------------------------------------------------------------


def statuses(server: StubServer, count: int) -> list[int]:
    params = archive_params("2024-01-01", "2024-01-03")
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        return [http.get(ARCHIVE_PATH, params=params).status_code for _ in range(count)]


def test_fail_first_answers_503_then_recovers() -> None:
    with open_meteo_server(faults=Faults(fail_first=2)) as server:
        assert statuses(server, 4) == [503, 503, 200, 200]
        assert server.request_count == 4
        assert server.status_counts == {503: 2, 200: 2}


def test_always_status_simulates_an_api_that_is_down() -> None:
    with open_meteo_server(faults=Faults(always_status=500)) as server:
        assert statuses(server, 3) == [500, 500, 500]
        assert server.status_counts == {500: 3}


def test_rate_429_sends_retry_after_and_open_meteo_body() -> None:
    with (
        open_meteo_server(faults=Faults(rate_429=1.0, retry_after=0.05)) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        response = http.get(ARCHIVE_PATH, params=archive_params("2024-01-01", "2024-01-02"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0.05"
    body = response.json()
    assert body["error"] is True and "Too many requests" in body["reason"]


def test_rate_5xx_answers_server_errors() -> None:
    with open_meteo_server(faults=Faults(rate_5xx=1.0)) as server:
        assert all(500 <= status <= 599 for status in statuses(server, 5))


def test_random_faults_are_reproducible_with_a_seed() -> None:
    faults = Faults(rate_429=0.3, rate_5xx=0.2, seed=42)
    runs = []
    for _ in range(2):
        with open_meteo_server(faults=faults) as server:
            runs.append(statuses(server, 30))
    assert runs[0] == runs[1]
    assert {200, 429} <= set(runs[0])


def test_latency_does_not_break_answers() -> None:
    with open_meteo_server(faults=Faults(latency_ms=5)) as server:
        assert statuses(server, 2) == [200, 200]


def test_faults_can_change_while_running() -> None:
    with open_meteo_server() as server:
        assert statuses(server, 1) == [200]
        server.faults = Faults(always_status=503)
        assert statuses(server, 1) == [503]
        server.faults = Faults(fail_first=1)  # counts from the change, not from startup
        assert statuses(server, 2) == [503, 200]
        assert server.request_count == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_429": 1.5},
        {"rate_5xx": -0.1},
        {"latency_ms": -1},
        {"fail_first": -1},
        {"always_status": 42},
    ],
)
def test_faults_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Faults(**bad)


# --- server lifecycle -------------------------------------------------------------------


def test_server_binds_loopback_on_a_free_port() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        open_meteo_server(host="0.0.0.0")
    server = open_meteo_server()
    with pytest.raises(StrataError):
        _ = server.url
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert server.url == url and server.start() == url
    finally:
        server.stop()
    server.stop()  # idempotent


def test_stop_does_not_hang_on_an_open_keep_alive_connection() -> None:
    server = open_meteo_server()
    server.start()
    with httpx.Client(base_url=server.url) as http:
        assert http.get(ARCHIVE_PATH, params=archive_params("2024-01-01", "2024-01-01")).is_success
        server.stop()  # the client still holds its connection open


def test_serve_forever_prints_url_and_stops_on_event(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    stop.set()  # already set: serve_forever starts, prints, and returns at once
    serve_forever(faults=Faults(), stop_event=stop)
    assert "http://127.0.0.1:" in capsys.readouterr().out


def test_concurrent_requests_are_all_counted() -> None:
    params = archive_params("2024-01-01", "2024-01-31")
    with open_meteo_server() as server, httpx.Client(base_url=server.url) as http:
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: http.get(ARCHIVE_PATH, params=params), range(40)))
        codes = [response.status_code for response in responses]
        assert codes == [200] * 40
        assert server.request_count == 40
        assert server.status_counts == {200: 40}
