"""Station-side bridge: serial scales and barcode scanners to MQTT."""
