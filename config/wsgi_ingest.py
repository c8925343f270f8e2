"""WSGI entry point of the ingest process: only the watch-batch paths (config/serve_ingest.py).

Django is set up (settings, apps: the handler reads the catalogue snapshot through the ORM) but no
request handler, middleware or URLconf is built: analytics.ingest answers these paths itself.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from config.dispatch import routes_ahead_of_django_application  # noqa: E402 (needs the apps loaded)

application = routes_ahead_of_django_application()
