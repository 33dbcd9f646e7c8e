# SPDX-License-Identifier: MIT
"""The verbs over b10t._native; results wrap the dicts it returns."""
from __future__ import annotations

import enum
import os
from collections.abc import Mapping
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

from ._version import __version__

if TYPE_CHECKING:  # typing costs milliseconds at import: annotations only
    from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

    Setting = Union[str, "os.PathLike[str]", int, bool]


class _Lazy:
    """b10t._native, imported on first use: loading the extension and the
    libraries it vendors is most of the import time of b10t."""

    def __getattr__(self, name: str) -> Any:
        from . import _native as mod

        globals()["_native"] = mod
        return getattr(mod, name)


_native: Any = _Lazy()


class OperationStatus(enum.Enum):
    """The outcome of a verb, as the CLI's "status" and exit status say it.

    The values are b10-transfer's (``enum.auto()``: 1 to 4), so the enum is
    the same for ``b10t`` and ``b10t.compat``; ``.exit_code`` is the
    command's exit status (0, 1, 3, 4).
    """

    SUCCESS = 1
    ERROR = 2
    DOES_NOT_EXIST = 3
    SKIPPED = 4

    @property
    def exit_code(self) -> int:
        """The exit status of ``b10t VERB`` for this status."""
        return _EXIT[self]


_EXIT = {
    OperationStatus.SUCCESS: 0,
    OperationStatus.ERROR: 1,
    OperationStatus.DOES_NOT_EXIST: 3,
    OperationStatus.SKIPPED: 4,
}


class Result(Mapping):  # Mapping[str, Any]
    """A verb's result: the keys of ``b10t VERB --json``, as attributes too.

    ``res.status`` is an OperationStatus; ``res["status"]`` and
    ``res.to_dict()`` keep the string, as in the JSON.  ``res.error`` is the
    one-line message when the status is ERROR, else None.
    """

    __slots__ = ("_d",)

    def __init__(self, d: Dict[str, Any]) -> None:
        self._d = d

    @property
    def status(self) -> OperationStatus:
        return OperationStatus[self._d.get("status", "ERROR")]

    @property
    def error(self) -> Optional[str]:
        return self._d.get("error")

    @property
    def ok(self) -> bool:
        """Whether the status is SUCCESS."""
        return self._d.get("status") == "SUCCESS"

    def __getattr__(self, name: str) -> Any:
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def to_dict(self) -> Dict[str, Any]:
        """A copy of the fields, as ``--json`` prints them."""
        return dict(self._d)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._d!r})"


class TransferResult(Result):
    """load() and save(): docs/b10t-load.1.scd, JSON OUTPUT."""

    environment_key: str
    archive: Optional[str]
    files: int
    dirs: int
    bytes: int
    archive_bytes: int
    skipped_entries: int
    elapsed_s: float

    @property
    def reason(self) -> Optional[str]:
        """Why SKIPPED or DOES_NOT_EXIST, for programs ("no_archive",
        "already_published", ...); None otherwise."""
        return self._d.get("reason")

    @property
    def message(self) -> Optional[str]:
        """The same in words; None otherwise."""
        return self._d.get("message")


class ClearResult(Result):
    """clear(): docs/b10t-clear.1.scd, JSON OUTPUT."""

    cache_dir: str
    files: int
    dirs: int
    bytes: int


class InfoResult(Result):
    """info(): b10-transfer's get_cache_info() keys and b10t's (b10t-info.1)."""

    environment_key: str
    local_cache_exists: bool
    b10fs_enabled: bool
    b10fs_cache_exists: bool
    local_cache_size_mb: float
    b10fs_cache_size_mb: float
    local_cache_bytes: int
    local_cache_files: int
    local_cache_dirs: int
    b10fs_cache_bytes: int
    b10fs_cache_filename: Optional[str]
    cache_dir: str
    store_dir: str
    key_scheme: str
    components: Dict[str, str]


class ListResult(Result):
    """list_caches(): b10-transfer's list_available_caches() keys and b10t's."""

    caches: List[Dict[str, Any]]
    current_environment: str
    total_caches: int
    current_cache_exists: bool
    b10fs_enabled: bool
    store_dir: str


class GcResult(Result):
    """gc(): docs/b10t-gc.1.scd, JSON OUTPUT."""

    dry_run: bool
    removed: List[Dict[str, Any]]
    freed_bytes: int
    kept: int
    kept_bytes: int


class EnvKey(Result):
    """envkey(): the key and the components it was made from."""

    environment_key: str
    key_scheme: str
    gpu: bool
    components: Dict[str, str]
    sources: Dict[str, str]

    def __str__(self) -> str:
        return self._d.get("environment_key", "")


_SETTINGS: Optional[Dict[str, str]] = None


def settings() -> List[Tuple[str, str, str]]:
    """Every setting: (environment variable, keyword argument, help)."""
    return [(env, opt.replace("-", "_"), help) for env, opt, help in _native.settings()]


def _env_settings(kw: Mapping[str, Any]) -> Optional[Dict[str, str]]:
    """Keyword arguments to {ENV_NAME: str} for the extension."""
    global _SETTINGS
    if not kw:
        return None
    if _SETTINGS is None:
        _SETTINGS = {opt.replace("-", "_"): env for env, opt, _ in _native.settings()}
        # The CLI's --store is B10FS_CACHE_DIR; store_dir reads as the JSON's name.
        _SETTINGS.setdefault("store_dir", "B10FS_CACHE_DIR")
    out: Dict[str, str] = {}
    for name, value in kw.items():
        if value is None:
            continue
        env = _SETTINGS.get(name)
        if env is None:
            raise TypeError(f"unknown setting {name!r} (one of: {', '.join(sorted(_SETTINGS))})")
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, int):
            value = str(value)
        else:
            value = os.fspath(value)
            if not isinstance(value, str):
                value = os.fsdecode(value)
        out[env] = value
    return out


def _log(d: Dict[str, Any]) -> Dict[str, Any]:
    """The library's warnings go to the "b10t" logger (imported only then)."""
    lines = d.pop("_log", None)
    if lines:
        import logging

        log = logging.getLogger("b10t")
        for level, msg in lines:
            log.log(logging.ERROR if level == "error" else logging.WARNING, "%s", msg)
    return d


def load(**settings: Setting) -> TransferResult:
    """Extract this environment's archive from the store into the cache dir.

    SUCCESS: extracted; DOES_NOT_EXIST: no archive for this key yet;
    SKIPPED: the cache dir is not empty; ERROR: nothing changed locally
    (``.error`` says why).  Keyword arguments override the environment:
    cache_dir, store_dir, work_dir, ... (see settings()).
    """
    return TransferResult(_log(_native.load(_env_settings(settings))))


def save(**settings: Setting) -> TransferResult:
    """Publish the cache dir to the store as this environment's archive.

    SUCCESS: published; SKIPPED: already there, nothing to save, or too
    many saves in flight; ERROR: nothing published.
    """
    return TransferResult(_log(_native.save(_env_settings(settings))))


def clear(**settings: Setting) -> ClearResult:
    """Remove the local cache dir's content (never the store)."""
    return ClearResult(_log(_native.clear(_env_settings(settings))))


def info(**settings: Setting) -> InfoResult:
    """This environment's key, its local cache and its archive in the store."""
    return InfoResult(_log(_native.info(_env_settings(settings))))


def list_caches(manifest: bool = False, **settings: Setting) -> ListResult:
    """Every published archive of the store, newest first.

    manifest=True also reads each archive's manifest (files, bytes,
    components): one small read per archive.
    """
    return ListResult(_log(_native.list(_env_settings(settings), bool(manifest))))


def envkey(**settings: Setting) -> EnvKey:
    """This environment's key (str(result) is the key itself)."""
    return EnvKey(_log(_native.envkey(_env_settings(settings))))


def gc(
    *,
    stale: Union[int, str, None] = None,
    max_size: Union[int, str, None] = None,
    max_age: Union[int, str, None] = None,
    keep: Optional[Sequence[str]] = None,
    all: bool = False,
    dry_run: bool = False,
    **settings: Setting,
) -> GcResult:
    """Remove stale debris from the store; evict archives when asked.

    stale and max_age: seconds (int) or a duration ("30s", "1.5m", "2h",
    "7d"); max_size: bytes (int) or a size ("20GB", "20GiB", "1.5G",
    "500M"; G is GiB, GB is 10^9), read as b10t gc's options read them.
    keep: keys (or archive names) never evicted; all: this environment's
    archive may be evicted too.  A bad value raises ValueError with the
    message b10t gc prints.
    """
    return GcResult(_log(_native.gc(_env_settings(settings), stale, max_size, max_age,
                                    None if keep is None else list(keep), bool(all),
                                    bool(dry_run))))
