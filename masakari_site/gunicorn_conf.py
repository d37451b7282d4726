"""gunicorn's hooks for the web process (`manage.py serve` passes this file).

Metrics: each worker writes its own files in PROMETHEUS_MULTIPROC_DIR
(masakari_site/metrics.py); when one exits, its live gauges go with it (its
counters stay: they are part of the totals).
"""

import os

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        multiprocess.mark_process_dead(worker.pid, path)
