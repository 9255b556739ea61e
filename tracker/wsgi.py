import os

from django.core.wsgi import get_wsgi_application

from tracker.inprocess import with_sweeps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

# In-process mode (no broker, no beat): the first request starts the periodic sweeps (tracker/inprocess.py).
application = with_sweeps(get_wsgi_application())
