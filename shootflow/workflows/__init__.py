"""Celery tasks and the canvas that composes them."""
from .canvas import revoke, start_bundle

__all__ = ["revoke", "start_bundle"]
