"""Gudang: warehouse inventory IoT — the shared core (wire contract, settings, MQTT)."""

__version__ = "0.1.0"
