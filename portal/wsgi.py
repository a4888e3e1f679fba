"""WSGI entry point for gunicorn; refuses to start without collected static files."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()

# With DEBUG off, a server started before `collectstatic` would answer a 500 on every page:
# fail now, saying what to run (portal/deploy_checks.py).
from portal.deploy_checks import require_collected_static  # noqa: E402

require_collected_static()
