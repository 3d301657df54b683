"""WSGI entry point for gunicorn or any other server: `numeraloop.wsgi:app`."""

from .app import create_app

app = create_app()
