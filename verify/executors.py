"""Running many cases: one at a time, or in a pool of worker processes, with nothing finished ever lost.

:func:`run_cases` runs the named cases and calls ``on_result`` as each one finishes (the report is rewritten
there, so a run that is stopped keeps every finished case). Results come back in the order of ``names`` whatever
the order they finished in, and a case computes the same numbers in a worker as in the parent (its random
streams depend only on its name and the run seed), so a parallel report equals the serial one check for check.

The same runs go to a dask.distributed cluster with ``executor="dask"`` (a LocalCluster on this machine, or an
existing scheduler by address).

Interruptions: SIGINT (Ctrl-C) or SIGTERM stop the run — workers ignore SIGINT and are terminated by the parent —
and :func:`run_cases` returns what finished with ``interrupted=True`` and the names that did not run. When a
worker dies (killed, out of memory), each case that was in flight runs again alone in a worker of its own: the
one that kills its worker again is reported as an error, the others finish, and the run goes on.
"""
from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Callable, Sequence

from verify.harness import CaseResult, get_case, run_case

__all__ = ["RunOutcome", "run_cases", "Interrupted", "ExecutorError", "EXECUTORS"]

EXECUTORS = ("processes", "dask")


class ExecutorError(RuntimeError):
    """The executor cannot run (Dask missing, scheduler unreachable); the message names the fix."""


class Interrupted(BaseException):
    """Raised in the parent by SIGTERM (SIGINT raises KeyboardInterrupt) to stop a run cleanly; a BaseException,
    so that a case's own error handling cannot swallow it."""


@dataclass
class RunOutcome:
    """What a run produced: results in the order asked, the cases that did not run, whether it was stopped, and
    the report's plots of each case drawn by the workers (``svgs``, by case; empty for a serial run)."""

    results: list[CaseResult] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    interrupted: bool = False
    svgs: dict[str, list[str]] = field(default_factory=dict)


def _run_and_plot(name: str, quick: bool, seed: int | None) -> tuple[CaseResult, list[str]]:
    """In a worker: the case, and its plots for the HTML report (drawn here, in parallel, not at the end)."""
    from verify.report import case_svgs

    result = run_case(name, quick=quick, seed=seed)
    return result, case_svgs(result.to_dict())


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler: terminate() just ends a worker


def _died(name: str, reason: str) -> CaseResult:
    spec = get_case(name)
    return CaseResult(case=name, title=spec.title, tags=spec.tags, error=f"{reason}; rerun the case to see why")


def run_cases(names: Sequence[str], *, quick: bool = False, seed: int | None = None, jobs: int = 1,
              on_result: Callable[[CaseResult], None] | None = None,
              on_start: Callable[[str], None] | None = None,
              expected_seconds: dict[str, float] | None = None, executor: str = "processes",
              scheduler: str | None = None, uploads: Sequence[str] = ()) -> RunOutcome:
    """Run ``names`` with ``jobs`` processes (1: in this process); see the module docstring.

    ``expected_seconds`` (e.g. from a previous report) lets a pool start the longest cases first, which shortens
    the run; results still come back in the order of ``names``. ``executor="dask"`` runs the cases on a
    ``dask.distributed`` cluster: the scheduler at ``scheduler`` (e.g. "tcp://10.0.0.5:8786"), or a LocalCluster of
    ``jobs`` single-threaded worker processes; ``uploads`` are files of the user's own case modules, sent to the
    workers. A case whose worker dies is rescheduled by Dask (and reported as an error if it keeps killing
    workers)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError("a scheduler address needs executor='dask'")
    done: dict[str, CaseResult] = {}
    svgs: dict[str, list[str]] = {}

    def finish(result: CaseResult, plots: list[str] | None = None) -> None:
        done[result.case] = result
        if plots is not None:
            svgs[result.case] = plots
        if on_result is not None:
            on_result(result)

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):  # noqa: ANN001 - signal handler signature
        raise Interrupted()

    interrupted = False
    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:   # not the main thread: no handler, Ctrl-C still works
        previous = None
    try:
        cost = expected_seconds or {}
        order = sorted(names, key=lambda n: -cost.get(n, 0.0))   # stable: unknown cases keep their order
        if executor == "dask":
            _run_dask(order, quick, seed, jobs, finish, on_start, scheduler, list(uploads))
        elif jobs == 1:
            for name in names:
                if on_start is not None:
                    on_start(name)
                finish(run_case(name, quick=quick, seed=seed))
        else:
            _run_pool(order, quick, seed, jobs, finish, on_start)
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return RunOutcome([done[n] for n in names if n in done], [n for n in names if n not in done], interrupted, svgs)


def _pool(jobs: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init)


def _terminate(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _result(future: Future, name: str) -> tuple[CaseResult, list[str] | None]:
    try:
        return future.result()
    except BrokenProcessPool:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent back
        return _died(name, f"the worker could not return the case ({type(exc).__name__}: {exc})"), None


def _run_alone(name: str, quick: bool, seed: int | None) -> tuple[CaseResult, list[str] | None]:
    """One case in a worker of its own: if that worker dies, this case killed it."""
    pool = _pool(1)
    try:
        future = pool.submit(_run_and_plot, name, quick, seed)
        result = _result(future, name)
        pool.shutdown(wait=True)
        return result
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        return _died(name, "the worker process running this case died, also when it ran alone (killed or out of "
                           "memory)"), None
    except BaseException:
        _terminate(pool)
        raise


def _run_pool(names: list[str], quick: bool, seed: int | None, jobs: int, finish: Callable[..., None],
              on_start: Callable[[str], None] | None) -> None:
    """At most ``jobs`` cases in flight. When a worker dies the pool breaks: the cases that were in flight run again,
    each alone in a worker of its own (so the one that kills its worker is found and reported as an error, and the
    others finish), then the rest goes on in a fresh pool."""
    queue = deque(names)
    while queue:
        pool = _pool(jobs)
        in_flight: dict[Future, str] = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < jobs:
                    name = queue.popleft()
                    in_flight[pool.submit(_run_and_plot, name, quick, seed)] = name
                    if on_start is not None:
                        on_start(name)
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    result, plots = _result(future, in_flight[future])
                    del in_flight[future]
                    finish(result, plots)
            pool.shutdown(wait=True)
        except BrokenProcessPool:
            pool.shutdown(wait=False, cancel_futures=True)
            for name in in_flight.values():
                finish(*_run_alone(name, quick, seed))
        except BaseException:
            _terminate(pool)
            raise


# Dask's default worker environment without its MALLOC_TRIM_THRESHOLD_=65536, which doubles the time of the
# cases (many short-lived arrays then go back to the OS and fault in again); one BLAS/OpenMP thread as in
# the `twinflow` command, so the numbers are the same bit for bit.
_WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
_SCHEDULER_TIMEOUT = "10s"   # how long a --scheduler address is tried before it is reported unreachable


def _run_dask(names: list[str], quick: bool, seed: int | None, jobs: int, finish: Callable[..., None],
              on_start: Callable[[str], None] | None, scheduler: str | None, uploads: list[str]) -> None:
    """The cases as tasks of a dask.distributed cluster; results are handled as they complete."""
    try:
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ExecutorError("--executor dask needs Dask: pip install 'twinflow[distributed]'") from None
    cluster = client = None
    try:
        try:
            if scheduler:
                client = Client(scheduler, timeout=_SCHEDULER_TIMEOUT)
            else:
                # one case per worker at a time (cases wait on the scheduler, not queued on a worker): a worker that
                # a case kills then takes no other case with it, and a freed worker takes the next longest case
                with dask.config.set({"distributed.nanny.pre-spawn-environ": _WORKER_ENVIRON,
                                      "distributed.scheduler.worker-saturation": 1.0}):
                    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR,
                                           preload=["verify._dask_preload"])
                client = Client(cluster)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address "
                                "(tcp://HOST:8786) and that `dask scheduler` runs there") from None
        for path in uploads:   # the user's case modules, imported on every worker
            client.upload_file(path)
        futures = {}
        for name in names:
            futures[client.submit(_run_and_plot, name, quick, seed, pure=False)] = name
            if on_start is not None:
                on_start(name)
        for future in as_completed(futures):
            name = futures[future]
            try:
                result, plots = future.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: the case kept killing its workers
                result, plots = _died(name, f"Dask could not run the case ({type(exc).__name__}: {exc})"), None
            finish(result, plots)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
