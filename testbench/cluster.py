"""Where batches of simulations run: the workers of a Dask scheduler the user names, or a
local Dask cluster of this machine's cores.

`dask_client(scheduler, workers)` opens either; `run_tasks(client, tasks, ...)` submits
independent tasks and hands back every result as it comes.  The scheduler reruns a task whose
worker is lost (up to distributed's `allowed-failures`), and a task that raises is retried up
to RETRIES times, on whichever worker is free; a task that still fails is handed back as its
exception, so the results of all the others are kept.
"""

import contextlib
import logging
import os

from distributed import Client, LocalCluster, as_completed

RETRIES = 2
"""Times a task that raised is run again before its exception is handed back."""
CONNECT_TIMEOUT_S = 20
"""How long to wait for a named scheduler to answer."""


class ClusterError(RuntimeError):
    """The scheduler cannot be reached, or has no workers."""


def local_cores():
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def dask_client(scheduler=None, workers=None):
    """A Dask client on `scheduler` (an address such as tcp://host:8786), or on a new local
    cluster of `workers` single-threaded worker processes (default: the cores available),
    closed on exit.  A simulation is one process, so a worker runs one task at a time."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler {scheduler!r}: {error}") \
                from None
        with client:
            yield client
        return
    # Errors only: the nannies warn when they kill a worker still busy at shutdown.
    with LocalCluster(n_workers=workers or local_cores(), threads_per_worker=1,
                      processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def workers_of(client):
    """The number of workers the client's scheduler has now."""
    return len(client.scheduler_info(n_workers=-1)["workers"])


def run_tasks(client, tasks, key_prefix):
    """Run `tasks`, a list of (function, args), as Dask tasks; yield (index, result) in the
    order they finish, `result` being the task's exception if it failed for good (it raised
    on every try, or the workers running it kept dying)."""
    futures = {client.submit(function, *args, key=f"{key_prefix}-{index}", pure=False,
                             retries=RETRIES): index
               for index, (function, args) in enumerate(tasks)}
    for future in as_completed(futures):
        index = futures[future]
        try:
            # Waits if the result was lost with its worker after the future completed (the
            # scheduler computes it again); the exception() of such a future is None.
            result = future.result()
        except Exception as error:  # the task's own, after its retries, or KilledWorker
            result = error
        yield index, result
        future.release()
