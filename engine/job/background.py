"""One call in a thread of its own, as a Future: the job's start-up steps that overlap."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor


def in_thread(name: str, fn, *args) -> Future:
    """``fn(*args)`` started now in a thread named ``name``; its result or error via the Future."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    return future
