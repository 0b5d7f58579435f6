import platform
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from granite_workbench.loading import ModelLoadError, load_model, pick_device, pick_dtype, resolve_model_path
from granite_workbench.tiny import build_tiny_model, is_tiny


def test_tiny_model_builds_offline_and_reloads(tmp_path):
    folder = build_tiny_model(tmp_path / "tiny")
    assert is_tiny(folder)
    lm = load_model(str(folder))
    assert lm.tiny and lm.device == "cpu" and lm.dtype == "float32"
    assert type(lm.model).__name__ == "GraniteSpeechForConditionalGeneration"
    assert lm.model.config.encoder_config.input_dim == 160
    assert "<|audio|>" in lm.tokenizer.get_vocab() and lm.tokenizer.padding_side == "left"
    assert sum(p.numel() for p in lm.model.parameters()) < 1_000_000
    assert "meaningless" in lm.describe()


def test_tiny_build_is_deterministic(tmp_path):
    a = load_model(str(build_tiny_model(tmp_path / "a"))).model.state_dict()
    b = load_model(str(build_tiny_model(tmp_path / "b"))).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_and_dtype_choice():
    assert pick_device() == "cpu"  # this machine has no GPU
    assert pick_dtype("cuda")[0] == "bfloat16" and pick_dtype("mps")[0] == "float16"
    assert pick_dtype("cpu", "bfloat16") == ("bfloat16", "asked for")
    assert pick_dtype("cpu", "float32", cpu_bf16=lambda: (True, "x")) == ("float32", "asked for")
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        pick_dtype("cpu", "int3")


NATIVE = lambda: (True, "this CPU computes bfloat16 natively (amx_bf16)")  # noqa: E731
EMULATED = lambda: (False, "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16)")  # noqa: E731


@pytest.mark.parametrize(
    "cpu,stored,want",
    [
        (NATIVE, "bfloat16", "bfloat16"),  # the real model on a Sapphire Rapids / Zen 4 CPU
        (EMULATED, "bfloat16", "float32"),  # the real model on an AVX2 CPU
        (NATIVE, "float32", "float32"),  # never round float32 weights down (the tiny model)
        (EMULATED, "float32", "float32"),
        (NATIVE, None, "bfloat16"),  # unknown storage: the CPU decides
    ],
)
def test_auto_dtype_on_cpu_follows_the_cpu_and_the_weights(cpu, stored, want):
    dtype, why = pick_dtype("cpu", "auto", stored=stored, cpu_bf16=cpu)
    assert dtype == want and why.startswith("auto: ")
    assert (cpu()[1] in why) if stored != "float32" else ("stored in float32" in why or cpu()[1] in why)


@pytest.mark.parametrize(
    "flags,machine,native",
    [
        ({"avx2", "avx512f", "avx512_bf16"}, "x86_64", True),  # AMD Zen 4, Intel Cooper Lake
        ({"avx2", "amx_bf16", "amx_tile"}, "x86_64", True),  # Intel Sapphire Rapids
        ({"avx2", "fma"}, "x86_64", False),  # AVX2 only
        ({"avx2", "avx512f"}, "x86_64", False),  # AVX-512 without its bf16 extension
        ({"fp", "asimd", "bf16"}, "aarch64", True),  # Graviton 3, Neoverse V1
        ({"fp", "asimd"}, "aarch64", False),
    ],
)
def test_native_bf16_detection(flags, machine, native):
    from granite_workbench.cpu import native_bf16

    got, why = native_bf16(flags, machine)
    assert got is native and ("natively" in why) is native


def test_usable_cores_honours_the_cgroup_quota(tmp_path):
    from granite_workbench.cpu import cgroup_cpus, usable_cores

    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a container allowed 1.5 CPUs
    assert cgroup_cpus(tmp_path) == 1.5 and usable_cores(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus(tmp_path) is None and usable_cores(tmp_path) >= 1


def test_the_status_line_and_cli_header_name_the_dtype(tiny_dir):
    from granite_workbench.service import ModelService

    svc = ModelService(str(tiny_dir))
    svc.start()
    assert svc.wait(60)
    status = svc.status_markdown()
    assert "(float32 — auto: " in status and (
        "natively" in status or "stored in float32" in status or "no native bfloat16" in status
    )
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    assert "(bfloat16; decoding's one-row products: " in lm.describe()  # asked for: no reason for the dtype


def test_dtype_override(tiny_dir):
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    assert next(lm.model.parameters()).dtype == torch.bfloat16


def test_missing_model_messages(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="not in the local cache and offline mode"):
        load_model("ibm-granite/granite-4.0-1b-speech")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no config.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="needs a CUDA GPU"):
        load_model("tiny", quantization="8bit")
    with pytest.raises(ModelLoadError, match="Unknown quantization"):
        load_model("tiny", quantization="3bit")
    monkeypatch.setenv("GRANITE_WB_MODEL", "tiny")
    path, tiny = resolve_model_path(None)
    assert tiny and is_tiny(path)


def test_unreachable_hub_fails_fast_with_advice(monkeypatch):
    """Without network and without HF_HUB_OFFLINE, a missing model is reported at once, not after retries."""
    import time

    import granite_workbench.loading as loading

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    started = time.time()
    with pytest.raises(ModelLoadError, match="the Hugging Face Hub could not be reached.*--model tiny"):
        load_model("ibm-granite/granite-4.0-1b-speech")
    assert time.time() - started < 30


def test_hub_reachable_checks_the_endpoint(monkeypatch):
    import granite_workbench.loading as loading

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there
    assert loading.hub_reachable(timeout=1.0) is False


def test_bf16_on_cpu_decodes_one_row_with_the_row_kernel(tiny_dir, monkeypatch):
    """In bf16 on a CPU the language model's linears send one row (a decoding step) through the row kernel
    (torch.mv here: forced), the faster kernel for it (BENCHMARKS.md, CPU); several rows, training (autograd) and
    float32 keep nn.Linear's path, and the numbers agree with nn.Linear's."""
    from granite_workbench.cpu import SingleRowLinear

    monkeypatch.setenv("GRANITE_WB_ROW_KERNEL", "mv")
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    assert lm.row_kernel == "torch.mv (asked for)"
    core = lm.model.model
    assert all(isinstance(m, SingleRowLinear) for m in core.language_model.modules() if isinstance(m, torch.nn.Linear))
    assert isinstance(lm.model.lm_head, SingleRowLinear)
    assert not any(isinstance(m, SingleRowLinear) for m in core.encoder.modules())  # many frames: oneDNN's matmul
    layer = core.language_model.layers[0].mlp.down_proj
    calls = []
    real_mv = torch.mv
    monkeypatch.setattr(
        SingleRowLinear, "row_product", staticmethod(lambda w, x: calls.append(w.shape) or real_mv(w, x))
    )
    plain = torch.nn.Linear(layer.in_features, layer.out_features, bias=False, dtype=torch.bfloat16)
    plain.weight = layer.weight
    row = torch.randn(1, 1, layer.in_features, dtype=torch.bfloat16)
    rows = torch.randn(1, 3, layer.in_features, dtype=torch.bfloat16)
    with torch.inference_mode():
        got, want = layer(row), plain(row)
        assert calls == [layer.weight.shape] and got.shape == want.shape == (1, 1, layer.out_features)
        torch.testing.assert_close(got, want, rtol=1 / 64, atol=1e-2)
        layer(rows)
    assert len(calls) == 1  # three rows: nn.Linear
    out = layer(row.requires_grad_())  # autograd on: nn.Linear, gradients flow
    out.sum().backward()
    assert len(calls) == 1 and row.grad is not None
    fp32 = load_model(str(tiny_dir), dtype="float32")
    assert not any(isinstance(m, SingleRowLinear) for m in fp32.model.modules()) and fp32.row_kernel == ""


def test_intel_mkl_row_product_equals_float32_rounded_once():
    """Intel MKL's bf16 GEMM for one row: float32 accumulation, one rounding to bf16, like torch.mv."""
    from granite_workbench.cpu import mkl_library, row_kernel

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("Intel MKL is an x86-64 library")
    amx = "amx_bf16" in Path("/proc/cpuinfo").read_text()
    if mkl_library() is None and not amx:
        pytest.skip("the intel-cpu extra (requirements-intel-cpu.txt) is installed only on Intel CPUs with AMX")
    kernel = row_kernel("mkl")  # scripts/setup.sh installs it on this CPU: it must load
    g = torch.Generator().manual_seed(0)
    for n, k in ((300, 70), (2048, 512), (5, 4096)):
        w, x = torch.randn(n, k, generator=g).to(torch.bfloat16), torch.randn(k, generator=g).to(torch.bfloat16)
        exact = w.float() @ x.float()
        got = kernel.fn(w, x)
        assert got.dtype == torch.bfloat16 and got.shape == (n,)
        torch.testing.assert_close(got.float(), exact.to(torch.bfloat16).float(), rtol=2**-7, atol=1e-3)
        torch.testing.assert_close(got, torch.mv(w, x), rtol=2**-7, atol=1e-3)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # MKL follows torch's thread setting
    try:
        torch.testing.assert_close(kernel.fn(w, x), torch.mv(w, x), rtol=2**-7, atol=1e-3)
    finally:
        torch.set_num_threads(before)


def test_the_row_kernel_is_the_faster_one_measured_or_the_one_asked_for(monkeypatch):
    import granite_workbench.cpu as cpu

    class FakeMKL:
        def __call__(self, w, x):
            return torch.mv(w, x)

    monkeypatch.setattr(cpu, "_load_mkl", FakeMKL)
    for speeds, name in (({"mkl": 20.0, "mv": 15.0}, "mkl"), ({"mkl": 12.0, "mv": 15.0}, "mv")):
        monkeypatch.setattr(cpu, "_ROW_KERNEL", None)
        monkeypatch.setattr(cpu, "_bandwidths", lambda kernels, *a, s=speeds: s)
        kernel = cpu.row_kernel(weights=[torch.ones(8, 4, dtype=torch.bfloat16)])
        assert kernel.name == name and "the faster here" in kernel.reason and "15.0 GB/s" in kernel.reason
        assert cpu.row_kernel() is kernel  # measured once per process
    assert cpu.row_kernel("mv").name == "mv"
    monkeypatch.setattr(cpu, "_ROW_KERNEL", None)
    unmeasured = cpu.row_kernel()  # no weights to measure on: MKL, not remembered for the model that follows
    assert unmeasured.name == "mkl" and unmeasured.reason == "Intel MKL bf16 GEMM" and cpu._ROW_KERNEL is None
    monkeypatch.setenv("GRANITE_WB_ROW_KERNEL", "mkl")
    assert cpu.row_kernel().reason == "Intel MKL bf16 GEMM (asked for)"
    monkeypatch.setenv("GRANITE_WB_ROW_KERNEL", "blas")
    with pytest.raises(ValueError, match="Unknown row kernel 'blas'"):
        cpu.row_kernel()
    monkeypatch.delenv("GRANITE_WB_ROW_KERNEL")
    monkeypatch.setattr(cpu, "_load_mkl", lambda: None)  # no MKL here (ARM, or not installed)
    monkeypatch.setattr(cpu, "_ROW_KERNEL", None)
    assert cpu.row_kernel().reason.startswith("torch.mv (no Intel MKL here; it pays on Intel CPUs with AMX")
    with pytest.raises(RuntimeError, match="does not load here"):
        cpu.row_kernel("mkl")


def test_a_request_during_the_load_waits_for_the_model(tiny_dir, monkeypatch):
    """A restarted demo: a request that comes in while the model loads is answered once it is there; views
    that only look do not wait, and a failed load is reported to the waiting request."""
    import time as _time

    import granite_workbench.service as service_mod
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.service import ModelNotReady, ModelService
    from granite_workbench.session import Workbench

    real = service_mod.load_model
    monkeypatch.setattr(service_mod, "load_model", lambda *a, **k: (_time.sleep(1.5), real(*a, **k))[1])
    wb = Workbench(ModelService(str(tiny_dir)))
    wb.service.start()
    with pytest.raises(ModelNotReady, match="still loading"):
        wb.inference.engine()  # looking: no wait
    assert wb.adapters.loaded() == []
    silence = (16_000, np.zeros(16_000, dtype=np.float32))
    res = wb.inference.run(silence, TaskSpec("asr"))  # waits for the load, then runs
    assert wb.inference.ready and res.ok

    def broken(*a, **k):
        _time.sleep(0.5)
        raise service_mod.ModelLoadError("no such model")

    monkeypatch.setattr(service_mod, "load_model", broken)
    wb.service.start("elsewhere")
    with pytest.raises(ModelNotReady, match="no such model"):
        wb.inference.run(silence, TaskSpec("asr"))


def test_max_new_tokens_flag_bounds_every_answer(tiny_dir, tmp_path):
    """`python app.py --max-new-tokens N`: no answer of the demo is longer than N tokens; nonsense is refused."""
    from granite_workbench.app_main import build_parser, workbench_from_args
    from granite_workbench.prompts import TaskSpec

    def wb_for(*flags):
        args = build_parser().parse_args(["--model", str(tiny_dir), "--checkpoints", str(tmp_path), *flags])
        return workbench_from_args(args, "workbench")

    with pytest.raises(SystemExit, match="at least 1"):
        wb_for("--max-new-tokens", "0")
    clip = (16_000, 0.1 * np.sin(np.arange(32_000) / 9).astype(np.float32))  # a tone: the random model babbles
    texts = []
    for n in ("3", "40"):
        wb = wb_for("--max-new-tokens", n)
        assert wb.limits.max_new_tokens == int(n)
        wb.service.start()
        texts.append(wb.inference.run(clip, TaskSpec("asr")).text)
    short, long = texts  # greedy: the 3-token answer is where the 40-token one starts
    assert long.startswith(short) and 0 < len(short) < len(long) / 4, texts


def test_a_bf16_model_still_deep_copies_and_pickles(tiny_dir):
    import copy
    import io

    lm = load_model(str(tiny_dir), dtype="bfloat16")
    twin = copy.deepcopy(lm.model)
    buf = io.BytesIO()
    torch.save(lm.model.lm_head, buf)
    buf.seek(0)
    head = torch.load(buf, weights_only=False)
    assert torch.equal(head.weight, lm.model.lm_head.weight) and type(head) is type(lm.model.lm_head)
    assert torch.equal(twin.lm_head.weight, lm.model.lm_head.weight)


def test_row_kernel_speeds_are_measured_on_disjoint_groups_of_the_weights():
    from granite_workbench.cpu import _bandwidths

    seen = []
    weights = [torch.full((64, 32), float(i), dtype=torch.bfloat16) for i in range(12)]
    speeds = _bandwidths(
        {
            "a": lambda w, x: seen.append(("a", int(w[0, 0]))) or torch.mv(w, x),
            "b": lambda w, x: seen.append(("b", int(w[0, 0]))) or torch.mv(w, x),
        },
        weights,
    )
    assert set(speeds) == {"a", "b"} and all(v > 0 for v in speeds.values())
    timed = seen[2:]  # after one start-up call each
    assert sorted(i for _, i in timed) == list(range(12))  # every matrix read once, by one kernel
    assert [k for k, _ in timed] == ["a", "a", "b", "b"] * 3  # the kernels took turns, a group of 2 each
    assert {i for k, i in timed if k == "a"} == {0, 2, 4, 6, 8, 10}


def test_without_the_intel_extra_bf16_decodes_with_torch_mv_and_says_why(tiny_dir, monkeypatch):
    """The intel-cpu extra absent (every CPU but Intel with AMX): the MKL path is not there, decoding works through
    torch.mv, and the model's status line says which kernel and why."""
    import granite_workbench.cpu as cpu
    from granite_workbench.prompts import TaskSpec
    from granite_workbench.transcribe import Transcriber

    monkeypatch.delenv("GRANITE_WB_ROW_KERNEL", raising=False)
    monkeypatch.setattr(cpu, "mkl_library", lambda: None)  # what a machine without the extra finds
    monkeypatch.setattr(cpu, "_ROW_KERNEL", None)
    assert cpu._load_mkl() is None
    lm = load_model(str(tiny_dir), dtype="bfloat16")
    status = lm.describe()
    assert "decoding's one-row products: torch.mv (no Intel MKL here; it pays on Intel CPUs with AMX" in status
    clips = [str(ROOT / "data/phrases" / f"phrase0{i}.flac") for i in range(3)]
    texts = [r.text for r in Transcriber(lm, max_new_tokens=8).run(clips, TaskSpec("asr", language="en"))]
    assert all(texts), texts  # answers, through torch.mv
