"""The project-local TimescaleDB and Mosquitto that development, tests and the demo run on."""
