"""Run CPU-heavy or blocking work (password hashing, commits) on a real OS thread, off the event loop."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


def _gevent_patched() -> bool:
    try:
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - gevent ships with the server
        return False
    patched: bool = is_module_patched("threading")
    return patched


def offload(fn: Callable[..., T], *args: Any) -> T:
    """Call `fn(*args)` where it cannot stall other connections; returns its result."""
    if not _gevent_patched():
        return fn(*args)
    from gevent import get_hub

    # argon2-cffi releases the GIL, so the loop keeps serving while a hash runs.
    result: T = get_hub().threadpool.apply(fn, args)
    return result


def own_thread() -> Callable[..., Any]:
    """An `offload` with one OS thread of its own, for work that must never queue behind the
    shared pool's password hashes (the group writer: a login storm must not hold up acks)."""
    if not _gevent_patched():
        return lambda fn, *args: fn(*args)
    from gevent.threadpool import ThreadPool

    pool = ThreadPool(1)
    return lambda fn, *args: pool.apply(fn, args)
