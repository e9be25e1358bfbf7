"""The one place an app is built at import: `app` for the web server, `celery_app` for workers."""
from shootflow import create_app

app = create_app()
celery_app = app.extensions["celery"]
