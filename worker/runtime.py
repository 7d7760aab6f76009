"""What a worker process holds while it runs tasks: its id, the lease keeper and the run executor."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from app.services.chat_runs import ChatRunHooks
from app.services.execution import RunExecutor
from app.services.leases import Leases
from app.wiring import Container
from worker.leases import LeaseKeeper


@dataclass
class WorkerRuntime:
    container: Container
    worker_id: str
    leases: Leases
    keeper: LeaseKeeper
    executor: RunExecutor
    # Set when the process shuts down: consumer threads still alive must not start new runs.
    draining: threading.Event = field(default_factory=threading.Event)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_runtime(container: Container) -> WorkerRuntime:
    settings = container.settings
    leases = Leases(container.sessions, settings.lease_seconds)
    return WorkerRuntime(
        container=container, worker_id=new_worker_id(), leases=leases,
        keeper=LeaseKeeper(leases, interval=settings.lease_seconds / 3),
        executor=RunExecutor(container.sessions, container.apps, container.events, container.llm, container.limits,
                             recorder=container.ops.recorder if container.ops else None,
                             chat=ChatRunHooks(container.sessions), services=container.node_services,
                             tracing=container.tracing,
                             branch_threads=settings.worker_threads * container.limits.parallelism),
    )
