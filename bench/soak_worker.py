"""The engine's Celery worker for bench/soak.py: a real worker whose Nova is
the soak's one fake cloud (testing/fake_nova.py), shared by every worker
through a multiprocessing manager in the soak's process. A worker killed
mid-recovery leaves Nova as it was, as a real one would.

    SOAK_NOVA=127.0.0.1:PORT SOAK_NOVA_KEY=HEX python bench/soak_worker.py [celery worker args]
"""

import os
import sys
from multiprocessing.managers import BaseManager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")

import django  # noqa: E402

django.setup()

from masakari_site import nova  # noqa: E402
from masakari_site.celery import app  # noqa: E402
from testing.fake_nova import http_error  # noqa: E402


class NovaManager(BaseManager):
    pass


NovaManager.register("nova")


class SharedCompute:
    """conn.compute as the engine calls it; every call goes to the shared
    fake, whose HTTP errors come back as (status, message) and are raised
    here as openstacksdk raises them."""

    def __init__(self, address: tuple[str, int], key: bytes):
        self._address, self._key = address, key
        self._remote = None

    def _call(self, method: str, *args, **kwargs):
        if self._remote is None:
            manager = NovaManager(address=self._address, authkey=self._key)
            manager.connect()
            self._remote = manager.nova()
        outcome, value = self._remote.call(method, args, kwargs)
        if outcome == "error":
            raise http_error(*value)
        return value

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)


if __name__ == "__main__":
    host, _, port = os.environ["SOAK_NOVA"].rpartition(":")
    key = bytes.fromhex(os.environ["SOAK_NOVA_KEY"])
    # One connection per pool process (made on its first call, after the fork).
    nova.open_compute = lambda **_: SharedCompute((host, int(port)), key)
    app.worker_main(["worker", *sys.argv[1:]])
