"""SmartSensor: daily weather for a grid of virtual sensors from an Open-Meteo-style API."""
