# SPDX-License-Identifier: MIT
"""b10_transfer as b10t provides it: the names of b10-transfer 0.3.x over b10t.

This file belongs to the b10t distribution (pip install b10t); the real
b10-transfer installs a package of the same name.  Install one of the two:
see docs/python.md, "Beside the real b10-transfer".
"""
import os as _os

from b10t.compat import *  # noqa: F401,F403
from b10t.compat import __all__  # noqa: F401
from b10t.compat import _compile_cache_main  # noqa: F401

# The b10-transfer API level this mirrors; b10t's own is b10t.__version__.
__version__ = "0.3.17"


def _both_installed() -> bool:
    """Whether the real b10-transfer's metadata sits beside this package
    (one listdir of site-packages, not importlib.metadata: import time)."""
    try:
        site = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
        return any(n.startswith("b10_transfer-") and n.endswith(".dist-info")
                   for n in _os.listdir(site))
    except OSError:
        return False


if _both_installed():
    import warnings as _warnings

    _warnings.warn(
        "both b10t and b10-transfer are installed and share the b10_transfer "
        "package: this is b10t's; uninstall b10-transfer (pip uninstall "
        "b10-transfer) and reinstall b10t, or import b10t.compat",
        RuntimeWarning, stacklevel=2)
