"""Atomic claims and environment locks on Azurite."""

from __future__ import annotations

import threading
import time

from shared.claims import Claims
from shared.deploy.lock import EnvironmentLocks, LeaseLock
from shared.storage import StorageAccount


def test_only_one_of_many_concurrent_claims_wins(storage: StorageAccount) -> None:
    claims = Claims(storage)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def go(i: int) -> None:
        barrier.wait()
        won, _ = claims.claim("github", "delivery-1", {"by": i})
        wins.append(won)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    won, data = claims.claim("github", "delivery-1")
    assert not won and "by" in data


def test_lock_excludes_a_second_holder_until_released(storage: StorageAccount) -> None:
    a = LeaseLock(storage, "dev", "adf", duration=15)
    b = LeaseLock(storage, "dev", "adf", duration=15)
    assert a.try_acquire("worker-a")
    assert not b.try_acquire("worker-b")
    assert b.current_holder() == "worker-a"
    assert LeaseLock(storage, "dev", "notebooks", duration=15).try_acquire("other")  # other component is free
    a.release()
    assert b.acquire("worker-b", timeout=5)
    b.release()


def test_dead_holders_lease_is_recovered(storage: StorageAccount) -> None:
    dead = LeaseLock(storage, "dev", "adf", duration=15)
    assert dead.try_acquire("crashed-worker")
    dead._stop.set()  # simulate a crash: the renewer stops, nobody releases
    start = time.monotonic()
    fresh = LeaseLock(storage, "dev", "adf", duration=15, poll_interval=0.5)
    assert fresh.acquire("next-worker", timeout=25)
    assert time.monotonic() - start >= 10  # only after the lease expired
    fresh.release()


def test_environment_locks_wait_for_a_running_deployment(storage: StorageAccount) -> None:
    deploying = LeaseLock(storage, "dev", "notebooks", duration=15)
    assert deploying.try_acquire("deployment-1")
    env = EnvironmentLocks(storage, "dev", duration=15)
    assert not env.acquire("schedule", timeout=0.5)
    assert env.holders()["adf"] is None  # nothing left half-taken
    deploying.release()
    assert env.acquire("schedule", timeout=5)
    env.release()
