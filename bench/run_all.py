"""All benchmarks, one after the other: python bench/run_all.py [--quick]"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for script in ("bench_inference.py", "bench_adapters.py", "bench_training.py", "bench_startup.py"):
    print(f"\n=== {script} ===", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *sys.argv[1:]], check=True)
