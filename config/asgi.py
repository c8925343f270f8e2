"""ASGI entry point (not used by the default deployment, which is gunicorn + WSGI).

Under ASGI every path, the watch-batch endpoints included, goes through Django's full stack (the
views in analytics/views.py share the lean WSGI handler's core, with the session's checks on top);
the lean dispatch of config/dispatch.py is WSGI only.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
