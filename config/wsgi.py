"""WSGI entry point: `gunicorn config.wsgi` in production, `manage.py runserver` in development.

The watch-batch endpoints are served by a handler ahead of Django (config/dispatch.py,
settings.ROUTES_AHEAD_OF_DJANGO); every other path goes through Django as usual.
"""

import os

from django.core.wsgi import get_wsgi_application

from config.dispatch import dispatch_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# get_wsgi_application() sets Django up first: the apps have registered their lean handlers by then.
application = dispatch_application(get_wsgi_application())
