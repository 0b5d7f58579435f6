"""Heavy optional packages, imported only when what needs them is asked for.

bitsandbytes is only used for 8-bit / 4-bit (QLoRA) base weights on a CUDA GPU. peft imports it eagerly when
it is installed (peft/helpers.py does `import bitsandbytes`), which costs about half a second and, on a CPU,
prints a kernel warning ("Failed to load CPU gemm_4bit_forward ...") that no CPU run can act on. So importing
this package marks bitsandbytes as absent (peft then takes its own "not installed" branch), and
`import_bitsandbytes()` — called by the quantized loading path — lifts the mark and imports it for real. peft
looks bitsandbytes up again when it wraps quantized layers, so a quantized model still gets its 8/4-bit LoRA
layers.
"""

from __future__ import annotations

import importlib
import sys

_DEFERRED = "bitsandbytes"


def defer_bitsandbytes() -> None:
    """Until `import_bitsandbytes()`, `import bitsandbytes` raises ImportError (unless it is imported already)."""
    if _DEFERRED not in sys.modules:
        sys.modules[_DEFERRED] = None  # Python's documented way to make an import fail


def import_bitsandbytes():
    """The bitsandbytes module, imported now (ImportError if it is not installed)."""
    if _DEFERRED in sys.modules and sys.modules[_DEFERRED] is None:
        del sys.modules[_DEFERRED]
    module = importlib.import_module(_DEFERRED)
    peft_checks = sys.modules.get("peft.import_utils")
    for check in ("is_bnb_available", "is_bnb_4bit_available"):  # peft caches what it found while deferred
        cached = getattr(peft_checks, check, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()
    return module


defer_bitsandbytes()  # on import of the package (granite_workbench/__init__.py imports this module first)
