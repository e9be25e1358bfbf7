"""Celery tasks and the canvas that composes them."""
from .canvas import start_bundle

__all__ = ["start_bundle"]
