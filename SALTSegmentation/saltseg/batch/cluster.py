"""The Dask cluster a batch runs on: a local one started here, or a running one at an address.

Local (no ``--scheduler``): a scheduler and ``N`` worker *processes* (each under a nanny that
restarts it if it dies), bound to 127.0.0.1 only. With CUDA GPUs, one worker per GPU, each pinned
to its GPU with ``CUDA_VISIBLE_DEVICES`` and advertising a ``GPU`` resource. With ``--scheduler``,
the cases go to an existing cluster (``dask scheduler`` + ``dask worker``, or dask-jobqueue on
Slurm/PBS/SGE); its workers must see the input and output paths (a shared file system).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

from ..errors import SaltSegError

if TYPE_CHECKING:  # distributed is optional (the batch extra)
    from distributed import Client

logger = logging.getLogger(__name__)

#: Worker deaths a case may cause before it is recorded as failed (Dask's ``allowed_failures``).
DEFAULT_ALLOWED_FAILURES = 2
INSTALL_HINT = "saltseg batch needs Dask distributed: pip install 'saltseg[batch]'"


class ClusterError(SaltSegError):
    """The cluster cannot be started or reached."""


@dataclass(frozen=True)
class ClusterSettings:
    scheduler: Optional[str] = None  # address of a running scheduler; None: start a local cluster
    workers: Optional[int] = None  # local cluster only; default: one per GPU, else a CPU share
    threads_per_worker: int = 1  # cases one worker runs at the same time (they share its model)
    device: str = "auto"
    allowed_failures: int = DEFAULT_ALLOWED_FAILURES


def gpu_count(device: str) -> int:
    if device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_cpu_workers() -> int:
    """A whole-body CT keeps several cores busy; more workers than cores/4 only add memory."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


def local_worker_specs(settings: ClusterSettings) -> dict[str, dict]:
    """Nanny specifications for a local cluster: one per GPU (pinned), or N CPU workers."""
    from distributed import Nanny
    from distributed.worker_memory import parse_memory_limit

    gpus = gpu_count(settings.device)
    count = settings.workers or gpus or default_cpu_workers()
    memory_limit = parse_memory_limit("auto", 1, count, logger=logger)  # an equal share of the RAM each
    specs = {}
    for index in range(count):
        options: dict = {"host": "127.0.0.1", "nthreads": settings.threads_per_worker,
                         "memory_limit": memory_limit, "dashboard": False, "dashboard_address": "127.0.0.1:0",
                         "silence_logs": logging.ERROR}
        if gpus:
            options["env"] = {"CUDA_VISIBLE_DEVICES": str(index % gpus)}
            options["resources"] = {"GPU": 1}
        specs[f"saltseg-{index}"] = {"cls": Nanny, "options": options}
    return specs


def worker_environment(workers: int) -> dict[str, str]:
    """Environment the nannies set before starting workers, replacing Dask's default, which pins
    OpenMP/MKL to one thread and sets ``MALLOC_TRIM_THRESHOLD_`` — that switches off glibc's
    adaptive mmap threshold, so every large torch tensor is mapped and zeroed afresh (measured:
    the same case took 1.6× as long in a worker as in a plain process; 1.15× without it)."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def start_local_cluster(settings: ClusterSettings):
    """A running ``SpecCluster`` on this machine (close it when done)."""
    import dask
    from distributed import Scheduler, SpecCluster

    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "port": 0, "dashboard": False,
                                               "dashboard_address": "127.0.0.1:0",
                                               "allowed_failures": settings.allowed_failures}}
    specs = local_worker_specs(settings)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environment(len(specs))}):
            return SpecCluster(scheduler=scheduler, workers=specs, silence_logs=logging.ERROR,
                               name="saltseg-batch")
    except Exception as error:  # noqa: BLE001 - Dask raises many kinds; the user needs one message
        raise ClusterError(f"cannot start the local Dask cluster: {error}") from error


def workers_per_host(client) -> dict[str, int]:
    """How many workers share each machine (``tcp://10.0.0.5`` → 4): their CPU share."""
    addresses = client.scheduler_info(n_workers=-1).get("workers", {})
    return dict(Counter(address.rsplit(":", 1)[0] for address in addresses))


def gpu_resources(client, device: str) -> Optional[dict[str, int]]:
    """``{"GPU": 1}`` when CUDA is asked for and workers advertise GPUs: each case then holds one
    GPU and never lands on a CPU-only worker of a mixed cluster. None otherwise."""
    if device not in ("auto", "cuda"):
        return None
    workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    return {"GPU": 1} if any(info.get("resources", {}).get("GPU") for info in workers) else None


def allowed_failures_of(client) -> int:
    """The scheduler's own limit on worker deaths per task (also for a cluster we did not start)."""
    return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures))


@contextlib.contextmanager
def batch_client(settings: ClusterSettings, client=None) -> Iterator[tuple[Client, str]]:
    """A connected ``distributed.Client`` and a one-line description; stops a local cluster after.
    A ``client`` given by the caller (a notebook's own cluster) is used as is and left open."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ClusterError(INSTALL_HINT) from error
    if client is not None:
        count = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        yield client, f"Dask cluster at {client.scheduler.address} ({count} workers now)"
        return
    if settings.scheduler:
        try:
            client = Client(settings.scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler at {settings.scheduler}: {error}") from error
        with client:
            count = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            yield client, f"Dask cluster at {settings.scheduler} ({count} workers now)"
        return
    cluster = None
    try:
        with ctrl_c_deferred():
            cluster = start_local_cluster(settings)
        with Client(cluster) as client:
            count = len(cluster.workers)
            kind = "GPU" if gpu_count(settings.device) else "CPU"
            yield client, (f"local Dask cluster: {count} {kind} worker process{'es' if count > 1 else ''}"
                           f" × {settings.threads_per_worker} thread{'s' if settings.threads_per_worker > 1 else ''}")
    except KeyboardInterrupt:
        if cluster is not None:  # a worker busy with a case would keep the user waiting for it
            with ctrl_c_deferred(), _dask_quiet():
                _kill_workers(cluster)
        raise
    finally:
        if cluster is not None:
            with ctrl_c_deferred(), _dask_quiet():  # stopping is not to be cut short: no stray worker
                cluster.close()


def _kill_workers(cluster, grace_s: float = 0.5) -> None:
    """Stop every worker process of a local cluster now (asked first, killed after ``grace_s``)."""
    import asyncio

    async def kill_all() -> None:
        await asyncio.gather(*(nanny.kill(timeout=grace_s) for nanny in cluster.workers.values()),
                             return_exceptions=True)

    try:
        cluster.sync(kill_all)
    except Exception as error:  # noqa: BLE001 - cluster.close() follows and stops what is left
        logger.info("stopping the workers at once failed (%s); closing the cluster", error)


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """A Ctrl-C while inside is held back and raised (KeyboardInterrupt) on leaving, so that the
    workers are never half started (which would leave strays) nor half stopped. Only the main
    thread runs Python's signal handlers: elsewhere this changes nothing."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def ignore_ctrl_c() -> None:
    """In a worker process (main thread only): Ctrl-C is the batch's to handle. The terminal sends
    it to the whole process group, workers included, each of which would die printing its own
    traceback; the batch's process stops them instead."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _dask_quiet() -> Iterator[None]:
    """What Dask logs while it stops workers ("still alive after 4 s, killing", a cancelled
    close) says nothing the user must act on."""
    dask_logger = logging.getLogger("distributed")
    level = dask_logger.level
    dask_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        dask_logger.setLevel(level)
