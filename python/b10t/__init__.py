# SPDX-License-Identifier: MIT
"""b10t: share torch.compile caches between replicas through a shared directory.

Each verb of the ``b10t`` command is a function here, calling libb10t through
a C extension (no subprocess)::

    import b10t

    res = b10t.load()
    if res.status is b10t.OperationStatus.SUCCESS:
        print(res.files, "files from", res.archive)

Settings come from the environment (TORCHINDUCTOR_CACHE_DIR, B10FS_CACHE_DIR,
...), as for the command; keyword arguments override them for one call:
``b10t.save(cache_dir="/tmp/ind", store_dir="/cache/b10t")``.

A bad setting raises ValueError (an unknown keyword, TypeError).  Everything
that can happen to a cache (none in the store, a corrupt archive, a full
disk) comes back as a result whose ``.status`` says so, with ``.error``.

``b10t.compat`` (and the top-level ``b10_transfer`` module) has the names of
b10-transfer: ``load_compile_cache()`` and the rest.
"""
from ._api import (
    OperationStatus,
    Result,
    TransferResult,
    ClearResult,
    InfoResult,
    ListResult,
    GcResult,
    EnvKey,
    load,
    save,
    clear,
    info,
    list_caches,
    envkey,
    gc,
    settings,
    __version__,
)

__all__ = [
    "OperationStatus",
    "Result",
    "TransferResult",
    "ClearResult",
    "InfoResult",
    "ListResult",
    "GcResult",
    "EnvKey",
    "load",
    "save",
    "clear",
    "info",
    "list_caches",
    "envkey",
    "gc",
    "settings",
    "__version__",
]
