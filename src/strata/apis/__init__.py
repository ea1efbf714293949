"""Embedded stand-ins for the public APIs Strata's example pipelines call.

Each stand-in (the Open-Meteo archive, OpenWeatherMap's current weather) is a
:class:`StubServer` serving a route table on 127.0.0.1, with :class:`Faults` to inject rate
limits, server errors and latency::

    from strata.apis import Faults, open_meteo_server

    with open_meteo_server(faults=Faults(rate_429=0.1)) as server:
        ...  # point the pipeline at server.url
"""

from strata.apis.openmeteo import (
    ARCHIVE_PATH,
    DAILY_VARIABLES,
    archive_handler,
    daily_weather,
    open_meteo_routes,
    open_meteo_server,
    serve_forever,
)
from strata.apis.openweather import (
    WEATHER_PATH,
    current_weather_handler,
    openweather_routes,
    openweather_server,
    weather_for,
)
from strata.apis.server import Faults, RouteHandler, StubServer, error_body

__all__ = [
    "ARCHIVE_PATH",
    "DAILY_VARIABLES",
    "WEATHER_PATH",
    "Faults",
    "RouteHandler",
    "StubServer",
    "archive_handler",
    "current_weather_handler",
    "daily_weather",
    "error_body",
    "open_meteo_routes",
    "open_meteo_server",
    "openweather_routes",
    "openweather_server",
    "serve_forever",
    "weather_for",
]
