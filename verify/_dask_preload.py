"""Preloaded by each worker of the LocalCluster that ``report --executor dask`` starts.

Ctrl-C in a terminal reaches every process of the group; the parent stops the run and closes the cluster, so the
workers ignore SIGINT rather than each printing a KeyboardInterrupt traceback. Workers of a user's own cluster
(``--scheduler``) are not touched.
"""
from __future__ import annotations

import signal


def dask_setup(worker) -> None:  # noqa: ANN001 - distributed.Worker, called by Dask's preload machinery
    signal.signal(signal.SIGINT, signal.SIG_IGN)
