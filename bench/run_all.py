"""All benchmarks, one after the other: python bench/run_all.py [--quick]

bench_public.py needs two cpu-smoke checkpoints (python -m finetune.train --config finetune/configs/cpu_smoke.yaml);
bench_speculative.py has no --quick (use --reps 1).
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
quick = "--quick" in sys.argv[1:]
for script in (
    "bench_inference.py",
    "bench_adapters.py",
    "bench_training.py",
    "bench_startup.py",
    "bench_cpu.py",
    "bench_speculative.py",
    "bench_public.py",
    "bench_burst.py",
    "bench_family.py",
    "bench_second_pass.py",
):
    print(f"\n=== {script} ===", flush=True)
    args = (["--reps", "1"] if quick else []) if script == "bench_speculative.py" else sys.argv[1:]
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)
