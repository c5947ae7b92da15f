"""Benchmarks of Gudang against the ceilings of the machine it runs on."""
