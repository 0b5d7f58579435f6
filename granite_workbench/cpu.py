"""What the CPU offers: native bfloat16 arithmetic, and how many cores this process may really use.

- bfloat16: x86 CPUs with AVX512_BF16 or AMX-BF16 (Intel Cooper Lake, Sapphire Rapids and later; AMD Zen 4
  and later) and ARM CPUs with the BF16 extension (Graviton 3, Apple M2 and later, Neoverse V1/N2) compute
  it natively; the model's shipped weights are bf16, so there it halves memory traffic (decode is bound by
  it) and memory, and loads without a conversion. Elsewhere torch emulates bf16 slowly: float32 is used.
- cores: a container (a Hugging Face Space: 2 vCPU) often sees all of the host's CPUs while its cgroup
  quota allows far fewer; torch would start one thread per visible core and oversubscribe. The usable
  count is the smallest of the affinity mask, the cgroup quota and `os.cpu_count()`.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

X86_BF16 = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (/proc/cpuinfo `flags` on x86, `Features` on ARM; sysctl on macOS)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return frozenset(value.split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
            return frozenset({"bf16"} if out == "1" else set())
        except (OSError, subprocess.SubprocessError):
            pass
    return frozenset()


def native_bf16(flags: frozenset[str] | set[str] | None = None, machine: str | None = None) -> tuple[bool, str]:
    """(does this CPU compute bfloat16 natively?, the reason in words)."""
    flags = cpu_flags() if flags is None else frozenset(flags)
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        have = [f for f in X86_BF16 if f in flags]
        if have:
            return True, f"this CPU computes bfloat16 natively ({', '.join(have)})"
        return False, "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16)"
    if machine in ("aarch64", "arm64"):
        if "bf16" in flags:
            return True, "this CPU computes bfloat16 natively (ARM BF16)"
        return False, "this CPU has no native bfloat16 (no ARM BF16 extension)"
    return False, f"bfloat16 support on {machine} CPUs is unknown"


def cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup (v2 `cpu.max`, v1 `cfs_quota_us`), in cores; None: unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Cores this process can really run on: affinity mask, cgroup quota and cpu count, the smallest."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        counts.append(len(os.sched_getaffinity(0)))
    quota = cgroup_cpus(cgroup_root)
    if quota:
        counts.append(max(1, math.floor(quota)))
    return max(1, min(counts))


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to `threads` (default: the usable cores) and inter-op to 1; returns it.

    Heavy work in the workbench runs one model call at a time (the engine's lock), so one pool of as many
    threads as usable cores keeps every core busy without oversubscription. $GRANITE_WB_THREADS overrides."""
    threads = threads or int(os.environ.get("GRANITE_WB_THREADS", "0")) or usable_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only possible before the first parallel work; harmless after
        pass
    return threads


# -- decoding one token at a time on a CPU ---------------------------------------------------------------------
# A greedy decoding step multiplies one row of activations by every weight matrix of the language model, so it
# is bound by reading the weights. For a single bfloat16 row, `nn.Linear` (oneDNN's matmul, which AMX makes the
# right choice for many rows) reads the real model's matrices at 62% of the memory-read bound, torch's `mv` at
# 68-78%, and Intel MKL's bf16 GEMM (`cblas_gemm_bf16bf16f32`, from the `mkl` wheel, run on torch's own OpenMP
# threads) at 75-85% (Intel Xeon with AMX, 2 cores: BENCHMARKS.md, "CPU"). Which of the two row kernels is faster
# on this CPU is measured once, when the first bf16 model loads (MKL is Intel's library: on other CPUs torch.mv
# may win). All of them accumulate in float32 and round once to bf16 (the tests compare them).
ROW_KERNELS = ("mkl", "mv")
MKL_EXTRA_WHERE = "Intel CPUs with AMX, where scripts/setup.sh installs it"
_MKL_GNU_THREADING = 3  # MKL_THREADING_GNU: MKL's parallel regions run on libgomp, the OpenMP torch uses


class MKLRowProduct:
    """y = W x for one bf16 row through Intel MKL's `cblas_gemm_bf16bf16f32` (float32 accumulation)."""

    def __init__(self, lib) -> None:
        import ctypes

        self._lib = lib
        lib.MKL_Set_Threading_Layer(_MKL_GNU_THREADING)  # before MKL's first computation: no second thread pool
        f = lib.cblas_gemm_bf16bf16f32
        f.restype = None
        i, p = ctypes.c_int, ctypes.c_void_p  # libmkl_rt's default interface is LP64: 32-bit integers
        f.argtypes = [i, i, i, i, i, i, ctypes.c_float, p, i, p, i, ctypes.c_float, p, i]
        self._gemm = f
        self._threads = 0

    def __call__(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n, k = w.shape
        threads = torch.get_num_threads()
        if threads != self._threads:  # follow torch's setting (configure_threads), as torch's own kernels do
            self._lib.MKL_Set_Num_Threads(threads)
            self._threads = threads
        out = torch.empty(n, dtype=torch.float32)
        # row-major: out[1, n] = x[1, k] @ w[n, k]^T
        self._gemm(101, 111, 112, 1, n, k, 1.0, x.data_ptr(), k, w.data_ptr(), k, 0.0, out.data_ptr(), n)
        return out.to(torch.bfloat16)


def mkl_library() -> Path | None:
    """libmkl_rt of the installed `mkl` wheel (x86-64 Linux/Windows), or None."""
    import importlib.metadata as md

    try:
        files = md.files("mkl") or []
    except md.PackageNotFoundError:
        return None
    for f in files:
        if f.name.startswith(("libmkl_rt.so", "mkl_rt")) and not f.name.endswith(".a"):
            path = Path(f.locate())
            if path.exists():
                return path
    return None


def _load_mkl() -> MKLRowProduct | None:
    import ctypes

    path = mkl_library()
    if path is None:
        return None
    try:
        return MKLRowProduct(ctypes.CDLL(str(path)))
    except (OSError, AttributeError):  # a broken install, or an MKL without bf16 GEMM: torch.mv does the work
        return None


def _bandwidths(kernels: dict[str, Callable], weights: list[torch.Tensor], rounds: int = 3) -> dict[str, float]:
    """GB/s that each kernel reads `weights` at, one row per matrix: the matrices are split into one group per
    kernel and round, so no group is read twice and none comes from the CPU's cache (a real decoding step reads
    gigabytes); the kernels take turns (a shared host's bandwidth drifts); the best round of each counts."""
    import time

    groups = [weights[i :: len(kernels) * rounds] for i in range(len(kernels) * rounds)]
    rows = {k: torch.ones(k, dtype=torch.bfloat16) for k in {w.shape[1] for w in weights}}
    for fn in kernels.values():
        fn(weights[0], rows[weights[0].shape[1]])  # first call: library start-up
    best = dict.fromkeys(kernels, 0.0)
    for r in range(rounds):
        for j, (name, fn) in enumerate(kernels.items()):
            group = groups[r * len(kernels) + j]
            t = time.perf_counter()
            for w in group:
                fn(w, rows[w.shape[1]])
            took = time.perf_counter() - t
            size = sum(w.numel() * w.element_size() for w in group)
            best[name] = max(best[name], size / max(took, 1e-9) / 1e9)
    return best


@dataclass(frozen=True)
class RowKernel:
    name: str  # "mkl" or "mv"
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    reason: str


_ROW_KERNEL: RowKernel | None = None


def row_kernel(choice: str | None = None, weights: list[torch.Tensor] | None = None) -> RowKernel:
    """The kernel for one bf16 row: `choice` or $GRANITE_WB_ROW_KERNEL ("mkl" or "mv") if given, else the faster
    one on this CPU, measured once per process on `weights` (the model's own matrices, each read once: about one
    decoding step's worth of memory traffic; without weights MKL is taken unmeasured, and not remembered). MKL
    is used only where the `mkl` package loads."""
    global _ROW_KERNEL
    choice = choice or os.environ.get("GRANITE_WB_ROW_KERNEL") or None
    if choice is not None and choice not in ROW_KERNELS:
        raise ValueError(f"Unknown row kernel {choice!r}; choose {' or '.join(ROW_KERNELS)}.")
    if choice is None and _ROW_KERNEL is not None:
        return _ROW_KERNEL
    mkl = _load_mkl() if choice != "mv" else None
    if choice == "mkl" and mkl is None:
        raise RuntimeError(
            "GRANITE_WB_ROW_KERNEL=mkl, but Intel MKL does not load here "
            f"(pip install -r requirements-intel-cpu.txt: {MKL_EXTRA_WHERE})."
        )
    if mkl is None:
        kernel = RowKernel(
            "mv",
            torch.mv,
            "torch.mv" + (" (asked for)" if choice else f" (no Intel MKL here; it pays on {MKL_EXTRA_WHERE})"),
        )
    elif choice == "mkl" or not weights:
        kernel = RowKernel("mkl", mkl, "Intel MKL bf16 GEMM" + (" (asked for)" if choice else ""))
    else:
        with torch.inference_mode():
            speed = _bandwidths({"mkl": mkl, "mv": torch.mv}, [w for w in weights if w.is_contiguous()])
        name = max(speed, key=speed.get)
        kernel = RowKernel(
            name,
            mkl if name == "mkl" else torch.mv,
            f"{'Intel MKL bf16 GEMM' if name == 'mkl' else 'torch.mv'}, the faster here "
            f"(MKL {speed['mkl']:.1f} GB/s, torch.mv {speed['mv']:.1f} GB/s)",
        )
    if choice is None and (mkl is None or weights):  # a measured choice (or the only kernel) holds for the process
        _ROW_KERNEL = kernel
    return kernel


class SingleRowLinear(torch.nn.Linear):
    """nn.Linear whose single bf16 row without autograd goes through the row kernel (everything else:
    nn.Linear). A plain class (not made on the fly), so a model holding it still pickles and deep-copies."""

    row_product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = staticmethod(torch.mv)

    def forward(self, x):
        w = self.weight
        if (
            x.numel() == self.in_features
            and x.dtype == w.dtype == torch.bfloat16
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and w.is_contiguous()
        ):
            out = type(self).row_product(w, x.reshape(-1).contiguous())
            if self.bias is not None:
                out = out + self.bias
            return out.view(*x.shape[:-1], self.out_features)
        return super().forward(x)


def use_single_row_matvec(*modules: torch.nn.Module) -> RowKernel:
    """Give every plain nn.Linear under `modules` the single-row path (class changed in place: weights, state
    dict and peft's wrapping stay as they are; quantized or other special linears keep their own forward), with
    the row kernel measured on their weights; returns that kernel."""
    linears = [sub for m in modules for sub in m.modules() if type(sub) is torch.nn.Linear]
    kernel = row_kernel(weights=[lin.weight.detach() for lin in linears if lin.weight.dtype == torch.bfloat16])
    SingleRowLinear.row_product = staticmethod(kernel.fn)
    for lin in linears:
        lin.__class__ = SingleRowLinear
    return kernel
