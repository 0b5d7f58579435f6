"""Model loading: a hub id, a local folder or `tiny`; device, dtype and quantization picked or overridden.

    lm = load_model()                                   # ibm-granite/granite-4.0-1b-speech, auto device
    lm = load_model("tiny")                             # offline smoke model (meaningless text)
    lm = load_model("/models/granite", device="cpu", dtype="float32")
    lm = load_model(quantization="4bit")                # CUDA + bitsandbytes only

Failures raise `ModelLoadError` with a message that says what to do.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tiny import TINY_BUILDERS, ensure_tiny_model, is_tiny

DEFAULT_MODEL_ID = "ibm-granite/granite-4.0-1b-speech"
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZATION_CHOICES = ("none", "8bit", "4bit")  # as flags and configs spell them; "none" means None


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message tells the user what to do."""


@dataclass(eq=False)  # one loaded model is one object (its engine and adapters are keyed by identity)
class LoadedModel:
    model: Any  # GraniteSpeechForConditionalGeneration (wrapped by peft once adapters are loaded)
    processor: Any
    model_id: str
    device: str
    dtype: str
    quantization: str | None = None
    tiny: bool = False
    dtype_reason: str = ""  # why this dtype ("asked for", "auto: this CPU computes bfloat16 natively (...)")
    row_kernel: str = ""  # bf16 on a CPU: what a decoding step's one-row products run on, and why (cpu.py)
    architecture: str = "granite_speech"  # the config's model_type: which engine runs it (models.py)

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def plain(self) -> str:
        """For a person: which model (the model table's name; a local folder: of its architecture), where it runs."""
        from .models import spec_for

        try:
            name = spec_for(self.model_id, self.architecture).short
        except ValueError:
            name = Path(self.model_id).name
        if self.tiny:
            name = f"a miniature of {name} (offline test model: its text is meaningless)"
        elif Path(self.model_id).exists():
            name = f"{name} (fine-tuned or local copy: {Path(self.model_id).name})"
        return f"{name}, running on {where(self.device)}"

    def describe(self) -> str:
        quant = f", {self.quantization}" if self.quantization else ""
        why = f" — {self.dtype_reason}" if self.dtype_reason and self.dtype_reason != "asked for" else ""
        kernel = f"; decoding's one-row products: {self.row_kernel}" if self.row_kernel else ""
        tiny = " — tiny offline smoke model, output is meaningless" if self.tiny else ""
        return f"{self.model_id} on {self.device} ({self.dtype}{quant}{why}{kernel}){tiny}"


def where(device: str) -> str:
    """A device in words."""
    if device.startswith("cuda"):
        return f"the GPU ({device})"
    return {"mps": "the Mac's GPU (Apple MPS)", "cpu": "this computer's processor (CPU)"}.get(device, device)


def pick_device(device: str | None = None) -> str:
    import torch

    if device and device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"Device {device!r} was asked for, but CUDA is not available on this machine.")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ModelLoadError("Device 'mps' was asked for, but Apple MPS is not available on this machine.")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(
    device: str, dtype: str | None = None, *, stored: str | None = "bfloat16", cpu_bf16=None
) -> tuple[str, str]:
    """(dtype, why). An explicit dtype wins. `auto`: bf16 on CUDA, fp16 on Apple MPS; on a CPU, bf16 where the
    CPU computes it natively (`cpu_bf16()` -> (bool, reason), default `cpu.native_bf16`) and the weights are
    stored in bf16 (`stored`, from the checkpoint's config: the real model's are), else fp32 — auto never
    rounds float32 weights down on a CPU."""
    if dtype and dtype != "auto":
        if dtype not in DTYPES:
            raise ModelLoadError(f"Unknown dtype {dtype!r}. Choose one of: {', '.join(DTYPES)}.")
        return dtype, "asked for"
    if device.startswith("cuda"):
        return "bfloat16", "auto: CUDA"
    if device == "mps":
        return "float16", "auto: Apple MPS"
    from .cpu import native_bf16

    native, why = (cpu_bf16 or native_bf16)()
    if not native:
        return "float32", f"auto: {why}"
    if stored not in (None, "bfloat16"):
        return "float32", f"auto: the weights are stored in {stored}"
    return "bfloat16", f"auto: {why}"


def stored_dtype(path: str, local_files_only: bool = False) -> str | None:
    """The dtype the checkpoint's weights are stored in (its config's `dtype` / `torch_dtype`), if known."""
    try:
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(path, local_files_only=local_files_only)
    except Exception:  # unreachable or unreadable: the load itself will say what is wrong
        return None
    value = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
    return str(value).removeprefix("torch.") if value is not None else None


def default_model_id(model_id: str | None = None) -> str:
    """The model to use: the one given, else $GRANITE_WB_MODEL, else the real Granite 4.0 1B Speech."""
    return model_id or os.environ.get("GRANITE_WB_MODEL") or DEFAULT_MODEL_ID


def resolve_model_path(model_id: str | None) -> tuple[str, bool]:
    """Map a tiny alias (`tiny`, `tiny-ctc`, ...) to its built folder; return (path or hub id, is_tiny)."""
    model_id = default_model_id(model_id)
    if model_id in TINY_BUILDERS:
        return str(ensure_tiny_model(None, model_id)), True
    path = Path(model_id).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} exists but holds no config.json: it is not a model folder.")
        return str(path), is_tiny(path)
    if model_id.startswith((".", "/", "~")) or model_id.count("/") > 1:
        raise ModelLoadError(f"Model folder {model_id!r} does not exist.")
    return model_id, False


MODEL_CLASSES = {"granite_speech5_ctc": "AutoModelForCTC"}  # model_type -> transformers Auto class, if not:
DEFAULT_MODEL_CLASS = "AutoModelForSpeechSeq2Seq"  # granite_speech, granite_speech_plus


def architecture_of(path: str, local_files_only: bool = False) -> str:
    """The model's architecture: its config's `model_type` (never guessed from the name)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path, local_files_only=local_files_only).model_type


def model_architecture(model_id: str | None) -> str:
    """The architecture of a hub id, folder or tiny alias, resolved as load_model resolves it (ModelLoadError
    with the reason when it cannot be read)."""
    path, _ = resolve_model_path(model_id)
    local = not Path(path).exists() and not _offline() and not hub_reachable()
    try:
        return architecture_of(path, local)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_explain_load_failure(path, exc)) from exc


def load_model(
    model_id: str | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quantization: str | None = None,
    attn_implementation: str | None = None,
) -> LoadedModel:
    import torch
    import transformers
    from transformers import AutoProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path, tiny = resolve_model_path(model_id)
    if quantization in ("", "none"):
        quantization = None
    if quantization not in (None, *QUANTIZATION_CHOICES[1:]):
        raise ModelLoadError(f"Unknown quantization {quantization!r}. Choose 8bit, 4bit or none.")
    dev = pick_device(device)
    kwargs: dict[str, Any] = {}
    if not Path(path).exists() and not _offline() and not hub_reachable():
        # no network: use the local cache only, instead of minutes of retries per file
        kwargs["local_files_only"] = True
    auto_cpu = dev == "cpu" and dtype in (None, "auto")
    dt, dtype_reason = pick_dtype(
        dev, dtype, stored=stored_dtype(path, kwargs.get("local_files_only", False)) if auto_cpu else None
    )
    if dev == "cpu":
        from .cpu import configure_threads

        configure_threads()
    kwargs["dtype"] = getattr(torch, dt)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if quantization:
        kwargs["quantization_config"] = quantization_config(quantization, dev, dt)
        kwargs["device_map"] = {"": dev}
    try:
        arch = architecture_of(path, kwargs.get("local_files_only", False))
        auto_class = getattr(transformers, MODEL_CLASSES.get(arch, DEFAULT_MODEL_CLASS))
        processor = AutoProcessor.from_pretrained(path, local_files_only=kwargs.get("local_files_only", False))
        model = auto_class.from_pretrained(path, **kwargs)
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"Out of GPU memory while loading {path}: try quantization='4bit' or '8bit', or a smaller dtype."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_explain_load_failure(path, exc)) from exc
    if not quantization:
        model = model.to(dev)
    row_kernel = ""
    has_llm = hasattr(model, "lm_head")
    if dev == "cpu" and dt == "bfloat16" and not quantization and has_llm:
        from .cpu import use_single_row_matvec

        # decoding reads every weight once per token: one row goes through the faster row kernel (cpu.py)
        row_kernel = use_single_row_matvec(model.model.language_model, model.lm_head).reason
    model.eval()
    if has_llm:
        processor.tokenizer.padding_side = "left"
    else:
        declare_no_input_embeddings(model)
    return LoadedModel(
        model=model,
        processor=processor,
        model_id=default_model_id(model_id),
        device=dev,
        dtype=dt,
        quantization=quantization,
        tiny=tiny,
        dtype_reason=dtype_reason,
        row_kernel=row_kernel,
        architecture=arch,
    )


def declare_no_input_embeddings(model) -> None:
    """A CTC model has no token embeddings, but peft asks for them to find weights tied to them (its head is tied
    to the encoder's self-conditioning head) and transformers raises (peft issue #1569: Wav2Vec2ForCTC). A module
    without parameters says truthfully that no weight is tied to input embeddings, so LoRA can wrap the model."""
    import torch

    none = torch.nn.Identity()
    model.get_input_embeddings = lambda: none


def quantization_config(quantization: str, device: str, dtype: str):
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise ModelLoadError(
            f"{quantization} loading uses bitsandbytes and needs a CUDA GPU; this machine has none "
            f"(device: {device}). Load without quantization instead."
        )
    try:
        from .optional import import_bitsandbytes

        import_bitsandbytes()
    except ImportError as exc:
        raise ModelLoadError(
            "8bit/4bit loading needs the bitsandbytes package: pip install -r requirements-cuda.txt"
        ) from exc
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, dtype if dtype != "float32" else "bfloat16"),
    )


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"


def check_model_available(model_id: str) -> str:
    """Can `model_id` be loaded at all (a model folder, the tiny model, or a hub id whose config the local cache
    or the Hub has)? Asked before a running demo lets go of its model, so that a typo costs nothing. Returns the
    resolved path or id; raises ModelLoadError in words for a person (no command-line advice)."""
    path, _ = resolve_model_path(model_id)
    if Path(path).exists():
        return path
    from huggingface_hub import hf_hub_download

    local_only = _offline() or not hub_reachable()
    try:
        hf_hub_download(path, "config.json", local_files_only=local_only)
    except Exception:
        where = "this machine's model cache" + ("" if local_only else " or the Hugging Face Hub")
        raise ModelLoadError(
            f"No model {path!r} was found in {where}: check the name (organisation/model), or "
            "give a folder on this machine, or 'tiny' for the offline smoke model. The model "
            "that was loaded stays loaded."
        ) from None
    return path


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can a TCP connection to the Hugging Face Hub ($HF_ENDPOINT) be opened within `timeout` seconds?"""
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def _explain_load_failure(path: str, exc: Exception) -> str:
    offline = _offline()
    if Path(path).exists():
        return f"Could not load the model folder {path}: {exc}"
    where = "offline mode (HF_HUB_OFFLINE=1) is on" if offline else "the Hugging Face Hub could not be reached"
    return (
        f"Model {path!r} is not in the local cache and {where}. Either download it on a connected machine "
        f"(`hf download {path}`) and copy the cache or the folder here, then pass --model /path/to/folder; "
        f"or use --model tiny for an offline smoke test (meaningless output). Details: {str(exc).splitlines()[0]}"
    )


def unwrap_peft(model):
    """The GraniteSpeechForConditionalGeneration inside a peft wrapper (adapters stay active)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model
