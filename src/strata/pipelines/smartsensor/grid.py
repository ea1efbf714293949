"""The virtual sensor grid: N sensors on a square grid around a centre, grouped into regions."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Sensor:
    sensor_id: str
    region: str
    latitude: float
    longitude: float


def sensor_grid(
    count: int, centre_lat: float, centre_lon: float, span: float = 0.5, region_size: int = 2
) -> list[Sensor]:
    """`count` sensors row by row on a ceil(√count)-wide grid spanning `span` degrees.

    The seed put every sensor in its own region, so its "regional" aggregates were just the
    sensor's own values; here a region is a `region_size` x `region_size` block of cells.
    """
    side = math.ceil(math.sqrt(count))
    step = span / side
    lat0, lon0 = centre_lat - span / 2, centre_lon - span / 2
    sensors = []
    for k in range(count):
        i, j = divmod(k, side)
        sensors.append(
            Sensor(
                sensor_id=f"SENSOR_{k + 1:04d}",
                region=f"ZONE_{i // region_size}_{j // region_size}",
                latitude=round(lat0 + i * step, 4),
                longitude=round(lon0 + j * step, 4),
            )
        )
    return sensors
