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
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
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
# is bound by reading the weights. For a single bfloat16 row torch's `mv` (a dot product along each contiguous
# weight row) reads them about a third faster than `linear` (oneDNN's matmul, which AMX makes the right choice
# for many rows): measured on an Intel Xeon with AMX, 2 cores, the matrices alone at 74% vs 62% of the memory-read
# bound (BENCHMARKS.md, "CPU"). Both accumulate in float32 and round once (the test finds the same numbers).
class SingleRowLinear(torch.nn.Linear):
    """nn.Linear whose single bf16 row without autograd goes through `torch.mv` (everything else: nn.Linear).
    A plain class (not made on the fly), so a model holding it still pickles and deep-copies."""

    def forward(self, x):
        w = self.weight
        if x.numel() == self.in_features and x.dtype == w.dtype == torch.bfloat16 and not torch.is_grad_enabled() \
                and x.device.type == "cpu":
            out = torch.mv(w, x.reshape(-1))
            if self.bias is not None:
                out = out + self.bias
            return out.view(*x.shape[:-1], self.out_features)
        return super().forward(x)


def use_single_row_matvec(module) -> int:
    """Give every plain nn.Linear under `module` the single-row path (class changed in place: weights, state
    dict and peft's wrapping stay as they are; quantized or other special linears keep their own forward);
    returns how many were changed."""
    changed = 0
    for sub in module.modules():
        if type(sub) is torch.nn.Linear:
            sub.__class__ = SingleRowLinear
            changed += 1
    return changed
