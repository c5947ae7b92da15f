"""Gudang's floor services: MQTT in, InfluxDB written, live state and alerts out."""
