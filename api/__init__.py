"""Gudang's HTTP API and supervisors' dashboard (FastAPI)."""
