"""gunicorn settings for the API (read by `gunicorn -c gunicorn.conf.py wsgi:app`).

gthread workers: SSE streams and blocking runs wait on I/O, so each process holds many threads."""

import os
import shutil
import tempfile

bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5001')}"]
# METRICS_PORT: also listen here; /metrics and /ready then answer only on this port (app/api/ops.py).
if int(os.environ.get("METRICS_PORT") or 0):
    bind.append(f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ['METRICS_PORT']}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# Blocking runs may wait up to BLOCKING_TIMEOUT_SECONDS; gthread's timeout only concerns the worker heartbeat.
timeout = 120
graceful_timeout = int(os.environ.get("API_DRAIN_SECONDS", "25"))
keepalive = 5
accesslog = None
errorlog = "-"
# gunicorn's control socket lives in $HOME, which is read-only in the container; nothing here uses it.
control_socket_disable = True

# Prometheus multi-process mode: every worker writes samples to this folder; /metrics aggregates them. A folder
# made here belongs to this server and goes with it (on_exit); one given in the environment belongs to the caller.
_own_multiproc_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_multiproc_dir = tempfile.mkdtemp(prefix="trellis-prom-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_multiproc_dir


def on_exit(server):  # noqa: ANN001 (gunicorn hook signature)
    if _own_multiproc_dir:
        shutil.rmtree(_own_multiproc_dir, ignore_errors=True)


def child_exit(server, worker):  # noqa: ANN001 (gunicorn hook signature)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
