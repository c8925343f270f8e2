# Load the Celery app with Django so `@shared_task` binds to it and `.delay()` works in views.
from config.celery_app import app as celery_app

__all__ = ("celery_app",)
