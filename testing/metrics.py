"""Reading the metrics a process recorded (masakari_site/metrics.py).

Every process that runs with the same PROMETHEUS_MULTIPROC_DIR adds to the
same totals, so a test reads one process's files: its own, or those of a
process it started (`pid`, `folder`).
"""

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from masakari_site.metrics import metrics_dir


def recorded(name: str, *, pid: int | None = None, folder: Path | None = None,
             **labels: str) -> float:
    """One process's value of one sample (`masakari_…_total`, `…_count`,
    `…_sum`, `…_bucket` with `le`); 0 when never recorded. By default this
    process's, in this process's folder."""
    pid = os.getpid() if pid is None else pid
    with tempfile.TemporaryDirectory(prefix="masakari-metrics-") as copy:
        for path in (folder or metrics_dir()).glob(f"*_{pid}.db"):
            shutil.copy(path, copy)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=copy)
        return registry.get_sample_value(name, labels) or 0.0


def recording_pids(folder: Path) -> set[int]:
    """The processes that wrote metrics in `folder`."""
    return {int(path.stem.rpartition("_")[2]) for path in folder.glob("*.db")}
