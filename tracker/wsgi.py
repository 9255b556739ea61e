import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from tracker.inprocess import with_sweeps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")

# In-process mode (no broker, no beat): the first request starts the periodic sweeps (tracker/inprocess.py).
application = with_sweeps(get_wsgi_application())

# What is loaded now (Django, the apps, the URLconf and the views it imports: ~150,000 objects) lives as long as
# the process. Frozen, the garbage collector stops scanning it on every full collection, which an ingest batch
# (thousands of fresh objects) used to trigger: that was half the CPU time of decoding a batch.
get_resolver().url_patterns  # noqa: B018 - imports the views now rather than on the first request
gc.freeze()
