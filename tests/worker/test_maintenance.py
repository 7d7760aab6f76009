"""The worker's presence row: written on start and at every beat with the runs it holds, removed on a clean
stop, so `tasks workers` lists live workers with their last heartbeat."""

from __future__ import annotations

import time

from worker.maintenance import WorkerPresence


def test_presence_beats_and_leaves(container):
    held = [1, 2]
    presence = WorkerPresence(container, "host:42:abcdef", busy=lambda: len(held), interval=0.05)
    presence.start()
    deadline = time.monotonic() + 5
    while not container.ops.workers.list() and time.monotonic() < deadline:
        time.sleep(0.01)
    first = container.ops.workers.list()
    assert [(w["id"], w["threads"], w["busy"], w["alive"]) for w in first] == [
        ("host:42:abcdef", container.settings.worker_threads, 2, True)]
    held.append(3)
    while container.ops.workers.list()[0]["busy"] != 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert container.ops.workers.list()[0]["busy"] == 3  # later beats update the same row
    presence.stop()
    assert container.ops.workers.list() == []
