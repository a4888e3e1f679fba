"""gunicorn settings, read from the working directory: one Prometheus metrics folder shared by
the workers, so a scrape of /metrics adds up every worker's request counters (ops.metrics).

Set PROMETHEUS_MULTIPROC_DIR to choose the folder; it is emptied when gunicorn starts.
"""

import os
import shutil
import tempfile

_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"portal-prometheus-{os.getpid()}"),
)


# Emptied and made here, when gunicorn reads this file: with --preload the application (and
# its metrics, which open files in the folder) loads before the on_starting hook runs.
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)


def on_exit(server) -> None:
    shutil.rmtree(_metrics_dir, ignore_errors=True)
