"""A thread pool whose threads never hold the process's exit, for pyghmi's blocking calls.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits. A pyghmi
call racker gave up on can go on inside pyghmi for minutes: on a lossy link its session logs in
again within the call, and pyghmi bounds that wait at about two minutes. The process then
printed its result and did not exit (seen in 5 of 8 runs of the lossy-link test). Racker never
needs such a call's result once it stopped waiting; its threads here are daemon threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonPool(Executor):
    """Up to `max_workers` daemon threads running the submitted calls, started as needed."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new calls after shutdown")
            done: Future[T] = Future()
            self._work.put((done, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                t = threading.Thread(target=self._serve, daemon=True,
                                     name=f"{self._name}_{len(self._threads)}")
                self._threads.append(t)
                t.start()
            return done

    def _serve(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                self._work.put(None)  # for the other threads
                return
            done, fn, args, kwargs = work
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(fn(*args, **kwargs))
                except BaseException as e:  # the caller gets it, as from any executor
                    done.set_exception(e)
            del work, done
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
            if cancel_futures:
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        work[0].cancel()
            self._work.put(None)
        if wait:
            for t in self._threads:
                t.join()
