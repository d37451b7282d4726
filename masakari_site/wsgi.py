import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")
application = get_wsgi_application()

# Big lists allocate many short-lived containers: keep the loaded app out of
# the cyclic collector's way and let it run less often (request tails).
gc.freeze()
gc.set_threshold(50_000, 20, 20)
