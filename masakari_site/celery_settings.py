"""Celery's configuration: the CELERY_* Django settings as one plain mapping.

Celery looks several settings up for every task it sends. Read through
Django's lazy settings object under the CELERY namespace, each lookup tries
a few spellings in a few places, every miss a raised exception: about 7 % of a
notification create. From a plain dict it is a couple of dictionary misses.
"""

from django.conf import settings

CONFIG = {name.removeprefix("CELERY_").lower(): getattr(settings, name)
          for name in dir(settings) if name.startswith("CELERY_")}
