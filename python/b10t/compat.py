# SPDX-License-Identifier: MIT
"""b10-transfer's API over b10t: a drop-in for ``import b10_transfer``.

The names a Truss model.py imports from b10_transfer 0.3.x, with the same
return types and dict keys and the same environment variables
(TORCHINDUCTOR_CACHE_DIR, B10FS_CACHE_DIR, LOCAL_WORK_DIR, BASETEN_FS_ENABLED,
MAX_CACHE_SIZE_MB, ...; VLLM_CACHE_ROOT and B10_TRANSFER_* for the vLLM
sidecar).  The work is b10t's: archives are .tar.lz4 (the reference's .tar.gz
are still loaded), saves are lock-free, and no torch import is needed.

The wheel installs this module twice: as ``b10t.compat`` (always b10t's) and
as the top-level ``b10_transfer`` (docs/python.md: "Beside the real
b10-transfer").
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

from . import _api
from ._api import OperationStatus

if TYPE_CHECKING:
    from typing import Any, Dict, List

__all__ = [
    "CacheError",
    "CacheValidationError",
    "CacheOperationInterrupted",
    "OperationStatus",
    "load_compile_cache",
    "save_compile_cache",
    "clear_local_cache",
    "get_cache_info",
    "list_available_caches",
    "save_vllm_compile_cache",
    "get_b10_logger",
]


class CacheError(Exception):
    """Base of the cache errors (as in b10_transfer.utils)."""


class CacheValidationError(CacheError):
    """A setting or path failed validation (as in b10_transfer.utils)."""


class CacheOperationInterrupted(Exception):
    """An operation stopped for lack of disk space (b10_transfer.space_monitor)."""


def get_b10_logger(name: str = "b10_transfer"):  # -> logging.Logger
    """The logger b10-transfer logs to."""
    import logging

    return logging.getLogger(name)


def _status(res: _api.Result, what: str) -> OperationStatus:
    """The status, logged the way b10-transfer does; errors never raise."""
    st = res.status
    if st is OperationStatus.ERROR or res.get("reason"):
        log = get_b10_logger()
        if st is OperationStatus.ERROR:
            log.warning("[%s] %s", what, res.error)
        else:
            log.info("[%s] %s: %s", what, st.name, res.get("message") or res.get("reason"))
    return st


def _guard(what: str, fn, *a: Any) -> Any:
    """b10-transfer's functions return ERROR rather than raise: a bad
    setting (ValueError here) becomes ERROR, logged."""
    try:
        return fn(*a)
    except (ValueError, TypeError, OSError) as e:
        get_b10_logger().warning("[%s] %s", what, e)
        return None


def load_compile_cache() -> OperationStatus:
    """Load this environment's compile cache from the store.

    SUCCESS: loaded; SKIPPED: the local cache dir is not empty;
    DOES_NOT_EXIST: none saved for this environment; ERROR: anything else
    (the store disabled or unreadable, a corrupt archive), logged.
    """
    res = _guard("LOADING", _api.load)
    return OperationStatus.ERROR if res is None else _status(res, "LOADING")


def save_compile_cache() -> OperationStatus:
    """Save the local compile cache to the store for later replicas.

    SUCCESS: saved; SKIPPED: one is already saved for this environment, or
    there is nothing to save; ERROR: anything else, logged.
    """
    res = _guard("SAVING", _api.save)
    return OperationStatus.ERROR if res is None else _status(res, "SAVING")


def clear_local_cache() -> bool:
    """Remove the local compile cache dir; True when it is gone (or was)."""
    res = _guard("CLEARING", _api.clear)
    return res is not None and _status(res, "CLEARING") is not OperationStatus.ERROR


def get_cache_info() -> Dict[str, Any]:
    """The cache's state, with b10-transfer's keys.

    environment_key, local_cache_exists, b10fs_enabled, b10fs_cache_exists;
    local_cache_size_mb only when the local cache exists, b10fs_cache_size_mb
    only when the store has this environment's archive.  On an error the
    keys it could not fill are None, as b10-transfer does.
    """
    res = _guard("INFO", _api.info)
    if res is None or res.status is OperationStatus.ERROR:
        return {"environment_key": None, "local_cache_exists": None,
                "b10fs_enabled": None, "b10fs_cache_exists": None}
    out: Dict[str, Any] = {
        "environment_key": res["environment_key"],
        "local_cache_exists": res["local_cache_exists"],
        "b10fs_enabled": res["b10fs_enabled"],
        "b10fs_cache_exists": res["b10fs_cache_exists"],
    }
    if out["local_cache_exists"]:
        out["local_cache_size_mb"] = res["local_cache_size_mb"]
    if out["b10fs_cache_exists"]:
        out["b10fs_cache_size_mb"] = res["b10fs_cache_size_mb"]
    return out


def list_available_caches() -> Dict[str, Any]:
    """Every archive in the store, newest first, with b10-transfer's keys.

    caches: [{filename, environment_key, size_mb, is_current_environment,
    created_time}], current_environment, total_caches, current_cache_exists,
    b10fs_enabled; with the store disabled only caches=[],
    current_environment, b10fs_enabled=False and error; with its dir
    missing only caches=[], current_environment, b10fs_enabled=True.
    """
    res = _guard("LIST", _api.list_caches)
    if res is None or (res.status is OperationStatus.ERROR and "current_environment" not in res):
        return {"caches": [], "current_environment": None, "b10fs_enabled": None,
                "error": res.error if res is not None else "invalid settings"}
    if not res["b10fs_enabled"]:
        return {"caches": [], "current_environment": res["current_environment"],
                "b10fs_enabled": False, "error": "b10fs is not enabled"}
    if res.status is OperationStatus.ERROR or not os.path.isdir(res["store_dir"]):
        return {"caches": [], "current_environment": res["current_environment"],
                "b10fs_enabled": True}
    caches: List[Dict[str, Any]] = [
        {
            "filename": c["filename"],
            "environment_key": c["environment_key"],
            "size_mb": c["size_mb"],
            "is_current_environment": c["is_current_environment"],
            "created_time": c["created_time"],
        }
        for c in res["caches"]
    ]
    return {
        "caches": caches,
        "current_environment": res["current_environment"],
        "total_caches": len(caches),
        "current_cache_exists": res["current_cache_exists"],
        "b10fs_enabled": True,
    }


# ---- the vLLM sidecar (b10-compile-cache) --------------------------------

def _http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=5) as r:
            return r.status == 200
    except Exception:  # any failure is "not ready yet"
        return False


def save_vllm_compile_cache() -> None:
    """b10-transfer's vLLM sidecar: load, else wait for vLLM, then save.

    The cache dir is VLLM_CACHE_ROOT (default ~/.cache/vllm).  Readiness is a
    200 from B10_TRANSFER_VLLM_URL (http://127.0.0.1:8000/v1/models), polled
    every B10_TRANSFER_INTERVAL_S (2) seconds for B10_TRANSFER_TIMEOUT_S
    (1800).  Exits 2 when vLLM never got ready, 3 when the save raised, 1
    when a setting is bad; returns None otherwise, as b10-transfer does.
    """
    import logging
    import time

    level = os.getenv("B10_TRANSFER_CLI_LOGLEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s | %(levelname)s | %(message)s")
    log = logging.getLogger("b10_transfer.cli")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.expanduser(
        os.getenv("VLLM_CACHE_ROOT", "~/.cache/vllm"))
    try:
        url = os.getenv("B10_TRANSFER_VLLM_URL", "http://127.0.0.1:8000/v1/models")
        timeout_s = float(os.getenv("B10_TRANSFER_TIMEOUT_S", "1800"))
        interval_s = float(os.getenv("B10_TRANSFER_INTERVAL_S", "2"))
    except ValueError as e:
        log.error("bad setting: %s", e)
        sys.exit(1)

    if load_compile_cache() is OperationStatus.SUCCESS:
        log.info("Compile cache loaded successfully.")
        return
    log.info("Waiting for vLLM readiness at %s (timeout=%.0fs, interval=%.1fs)",
             url, timeout_s, interval_s)
    t0 = time.monotonic()
    while not _http_ok(url):
        if time.monotonic() - t0 > timeout_s:
            log.error("Timed out after %.0fs waiting for vLLM readiness.", timeout_s)
            sys.exit(2)
        time.sleep(interval_s)
    log.info("vLLM reported ready at %s", url)
    try:
        st = save_compile_cache()
    except Exception as e:  # as b10-transfer: a raising save exits 3
        log.exception("save_compile_cache() failed: %s", e)
        sys.exit(3)
    log.info("vLLM automatic torch compile cache done (save: %s).", st.name)


def _compile_cache_main() -> None:
    """The b10-compile-cache entry point."""
    save_vllm_compile_cache()
