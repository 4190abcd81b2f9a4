"""Retry a Kafka call through the transient errors of a broker that restarts or moves leaders.

Right after a restart (or a leader change in a cluster) a broker answers "not leader", "not
coordinator" or "coordinator load in progress" for a moment; librdkafka retries these inside
produce and fetch, but not inside one-shot calls such as watermarks or committed offsets. Anything
else (or still failing at the deadline) is raised to the caller unchanged.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    from confluent_kafka import KafkaError, KafkaException

    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    err = exc.args[0]
    if not hasattr(err, "code"):
        return False
    return bool(err.retriable()) or err.code() in (
        KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
        KafkaError._DESTROY_BROKER)  # a cluster member that went away while the call was in flight


def call_retrying(fn: Callable[[float], T], timeout: float, pause: float = 0.2) -> T:
    """``fn(remaining_seconds)`` until it returns, retrying transient Kafka errors until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn(max(1.0, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - filtered just below
            if not transient(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
