"""``emodub serve``: the web studio (FastAPI app, SQLite job store, worker pool, the page)."""

from emodub.service.app import create_app

__all__ = ["create_app"]
