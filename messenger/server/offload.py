"""Run CPU-heavy work (password hashing) on a real OS thread, off the event loop."""

from __future__ import annotations


def offload(fn, *args):
    """Call `fn(*args)` where it cannot stall other connections; returns its result."""
    try:
        from gevent import get_hub
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - gevent ships with the server
        return fn(*args)
    if not is_module_patched("threading"):
        return fn(*args)
    # argon2-cffi releases the GIL, so the loop keeps serving while a hash runs.
    return get_hub().threadpool.apply(fn, args)
