"""ASGI entry point (not used by the default deployment, which is gunicorn + WSGI).

Under ASGI every path goes through Django's URL resolver: the watch-batch paths reach
analytics/views.py `watch_batch_create`, which hands the request to the one endpoint
(analytics/ingest.py `watch_ingest_respond`); the dispatch of config/dispatch.py is WSGI only.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
