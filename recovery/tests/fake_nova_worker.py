"""The engine's Celery worker as its own process, with testing/fake_nova.py's
Nova (at the openstacksdk boundary) instead of a real one.

    FAKE_NOVA='{"services": ["failed", "spare-1"], "servers": {"failed": 4}}' \\
        python recovery/tests/fake_nova_worker.py [celery worker arguments]

The fake is made before the worker forks its pool, so every pool process
starts with the same cloud: the services named (up and enabled) and that many
HA-enabled servers on each host.
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "masakari_site.settings")

import django  # noqa: E402

django.setup()

from masakari_site import nova  # noqa: E402
from masakari_site.celery import app  # noqa: E402
from testing.fake_nova import FakeCompute  # noqa: E402


def fake_cloud(spec: dict) -> FakeCompute:
    compute = FakeCompute()
    for host in spec["services"]:
        compute.add_service(host)
    for host, count in spec.get("servers", {}).items():
        for _ in range(count):
            compute.add_server(host)
    return compute


if __name__ == "__main__":
    cloud = fake_cloud(json.loads(os.environ["FAKE_NOVA"]))
    nova.open_compute = lambda **_: cloud
    app.worker_main(["worker", *sys.argv[1:]])
