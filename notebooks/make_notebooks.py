"""Writes the four notebooks (without outputs). Edit here, then: python notebooks/make_notebooks.py"""

from pathlib import Path

import nbformat as nbf


def nb(cells):
    n = nbf.v4.new_notebook()
    n.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    out = []
    for kind, src, *tags in cells:
        c = nbf.v4.new_markdown_cell(src.strip()) if kind == "md" else nbf.v4.new_code_cell(src.strip())
        if tags:
            c.metadata["tags"] = tags[0]
        out.append(c)
    n.cells = out
    return n


# The repository the Colab badges open (GitHub owner/name): set it where the workbench is published.
REPOSITORY = "OWNER/granite-speech-workbench"


def colab(name: str) -> str:
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{name}.ipynb)"
    )


INSTALL = f"""
# Install: on Colab (or any machine without the workbench) fetch it and its requirements; here it is a no-op.
import importlib.util, os, subprocess, sys
if importlib.util.find_spec("granite_workbench") is None and not os.path.exists("../granite_workbench"):
    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/{REPOSITORY}", "granite-speech-workbench"],
                   check=True)
    os.chdir("granite-speech-workbench")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "requirements.txt", "-e", "."], check=True)
"""

SETUP = """
import os, sys
from pathlib import Path
# run from the repository root, wherever Jupyter was started
ROOT = Path.cwd() if (Path.cwd() / "granite_workbench").exists() else Path.cwd().parent
os.chdir(ROOT); sys.path.insert(0, str(ROOT))
if SMOKE:  # the offline miniature of MODEL's architecture: runs anywhere, its text is meaningless
    from granite_workbench.models import spec_for
    MODEL = spec_for(MODEL).tiny or "tiny"
"""

q = nb(
    [
        (
            "md",
            colab("01_quickstart")
            + """
# 01 · Quickstart: transcribe, translate, keyword-bias, long audio

Granite 4.0 1B Speech through the workbench's one API (`granite_workbench.Transcriber`), the same code the
CLI and the demo use. Defaults target the real model on a GPU; set `SMOKE = True` to run everything on the
tiny offline model (meaningless text, but every step runs).
""",
        ),
        (
            "code",
            """
SMOKE = False  # True: tiny offline model (CI and machines without the real weights)
MODEL = "ibm-granite/granite-4.0-1b-speech"
DEVICE = "auto"
""",
            ["parameters"],
        ),
        ("code", INSTALL),
        ("code", SETUP),
        (
            "code",
            """
from granite_workbench import TaskSpec, Transcriber, load_model

lm = load_model(MODEL, device=DEVICE)
print(lm.describe())
tr = Transcriber(lm, batch_size=8, max_new_tokens=200)
""",
        ),
        (
            "md",
            "## Speech recognition\nAny file format, sample rate and channel count. The prompt names no language: the model transcribes the language it hears. `language=` only checks that it is one the model supports (en, fr, de, es, pt, ja) and is recorded in the result.",
        ),
        (
            "code",
            """
result = tr.transcribe("data/examples/en_welcome.flac", language="en")
print(result.text)
for seg in result.segments:
    print(f"{seg.start:5.1f}-{seg.end:5.1f}  {seg.text}")
""",
        ),
        (
            "md",
            "Without `language=`, the result names the language of the transcript (`detected_language`, identified among the six ASR languages; `None` when the text is too short to tell — and always with the tiny smoke model, whose text is meaningless).",
        ),
        (
            "code",
            """
for clip in ("data/examples/fr_bonjour.flac", "data/examples/de_wetter.flac"):
    auto = tr.transcribe(clip)
    print(f"{clip}: {auto.detected_language} ({auto.language_confidence}) {auto.text[:60]}")
""",
        ),
        (
            "md",
            "## Speech translation\nX→en for fr, de, es, pt, ja; en→X for those plus it and zh. Other directions are refused with the list.",
        ),
        (
            "code",
            """
print(tr.translate("data/examples/fr_bonjour.flac", source="fr", target="en").text)
print(tr.translate("data/examples/en_welcome.flac", source="en", target="de").text)
try:
    tr.translate("data/examples/fr_bonjour.flac", source="fr", target="de")
except ValueError as err:
    print("refused:", str(err)[:120], "...")
""",
        ),
        ("md", "## Keyword biasing\nList the names and terms you expect; the prompt carries them (`Keywords: a, b`)."),
        (
            "code",
            """
from granite_workbench.keywords import found_keywords

keywords = ["metoprolol", "atorvastatin", "echocardiogram", "hypertrophy"]
plain = tr.transcribe("data/examples/en_cardiology.flac", language="en")
biased = tr.transcribe("data/examples/en_cardiology.flac", language="en", keywords=keywords)
print("without:", plain.text, "->", found_keywords(plain.text, keywords))
print("with:   ", biased.text, "->", found_keywords(biased.text, keywords))
""",
        ),
        (
            "md",
            "## Long audio\nLong recordings are split where voice activity detection finds pauses, decoded in batches and stitched back with timestamps. Here: a minute of real recorded telephone prompts.",
        ),
        (
            "code",
            """
import numpy as np
from granite_workbench.audio import load_audio
from granite_workbench.manifest import read_manifest

rows = [r for r in read_manifest("data/asterisk/test.jsonl") if r.language == "en"][:12]
pause = np.zeros(12000, dtype=np.float32)
long_audio = np.concatenate([x for r in rows for x in (load_audio(r.audio).samples, pause)])
print(f"{len(long_audio) / 16000:.0f} s of audio")
long_result = tr.run([(16000, long_audio)], TaskSpec("asr"))[0]
for seg in long_result.segments:
    print(f"{seg.start:6.1f}-{seg.end:6.1f}  {seg.text[:80]}")
""",
        ),
        (
            "code",
            """
from granite_workbench.writers import write_result

long_result.name = "telephone-prompts.wav"
for fmt in ("srt", "vtt", "json", "txt"):
    print(write_result(long_result, "out/notebook01", fmt))
print(open("out/notebook01/telephone-prompts.srt").read()[:300])
""",
        ),
        (
            "md",
            """## Faster decoding and word timestamps from the CTC head
The encoder's CTC head drafts the transcript almost for free. `speculative-exact` lets the language model check
the draft in one forward pass and keeps greedy decoding's text; `speculative` (IBM's method) may also accept the
draft as it is. `word_timestamps=True` aligns the final text to the same head: every word gets its start and end,
and subtitles follow them (cues of at most 7 s, two lines of 42 characters).""",
        ),
        (
            "code",
            """
fast = Transcriber(lm, decoding="speculative-exact", word_timestamps=True)
timed = fast.transcribe("data/examples/en_welcome.flac", language="en")
print(timed.text, "| paths:", timed.decoding)
for w in timed.words[:10]:
    print(f"{w.start:5.2f}-{w.end:5.2f}  {w.word}")
assert timed.text == result.text  # the same text as greedy decoding
""",
        ),
        ("md", "## Many clips, one bad\nA clip that cannot be read fails alone, with its reason."),
        (
            "code",
            """
results = tr.transcribe(["data/examples/es_reunion.flac", "missing.wav", "data/examples/de_wetter.flac"])
for r in results:
    print(r.name, "OK" if r.ok else f"FAILED: {r.error}", "|", r.text[:60])
assert [r.ok for r in results] == [True, False, True]
""",
        ),
    ]
)

d = nb(
    [
        (
            "md",
            colab("03_domain_adaptation")
            + """
# 03 · Domain adaptation: validate, baseline, fine-tune, evaluate, hot-load

The sample cardiology set in `data/domain/` (en/de/es/fr/ja, ASR + keyword-biased ASR + translation rows).
`MODEL` picks the family member (`python -m granite_workbench models` lists them): 4.0-1b, 4.1-2b and
4.1-2b-plus train LoRA on their language model; 5.0-470m-turboctc trains by CTC (LoRA on its encoder) on the
English transcripts — the validation step reports the rows it cannot learn (translations, other languages).
Defaults: the real model with QLoRA 4-bit on a small GPU. `SMOKE = True`: the tiny offline model and the CPU
smoke config; then the tiny model is evaluated on its own training rows, since a random-weight model cannot
generalize — the point there is that every step runs and the numbers move.
""",
        ),
        (
            "code",
            """
SMOKE = False
MODEL = "ibm-granite/granite-4.0-1b-speech"  # or granite-speech-4.1-2b, -4.1-2b-plus, -5.0-470m-turboctc
CONFIG = ""  # empty: chosen for the model and the detected GPU (lora_1gpu.yaml >= 24 GB, qlora_4bit.yaml below)
TRAIN = "data/domain/train.jsonl"
EVAL = "data/domain/dev.jsonl"
STEPS = 600
RUN = "checkpoints/domain-notebook"
""",
            ["parameters"],
        ),
        ("code", INSTALL),
        (
            "code",
            SETUP
            + """
import torch
from granite_workbench.models import spec_for
CTC = not spec_for(MODEL).llm  # 5.0 Turbo CTC: CTC fine-tuning (its recipe: finetune/recipes.py)
if not CONFIG:  # the config that fits: LoRA on a 24 GB+ GPU, QLoRA 4-bit on a smaller one (the 470 M CTC model: LoRA)
    if torch.cuda.is_available():
        gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        CONFIG = "finetune/configs/lora_1gpu.yaml" if gib >= 24 or CTC else "finetune/configs/qlora_4bit.yaml"
    else:
        CONFIG = "finetune/configs/ctc_smoke.yaml" if CTC else "finetune/configs/cpu_smoke.yaml"
        print("No CUDA GPU: the real model would train for days here; set SMOKE = True for the tiny model.")
if SMOKE:
    CONFIG = "finetune/configs/ctc_smoke.yaml" if CTC else "finetune/configs/cpu_smoke.yaml"
    EVAL, STEPS = TRAIN, 300
print("model:", MODEL, "config:", CONFIG)
""",
        ),
        (
            "md",
            "## 1. Validate the data\nThe same validator the trainer runs (with the model's recipe): every bad row is reported with its line and reason.",
        ),
        (
            "code",
            """
from granite_workbench import load_model
from finetune.config import load_config
from finetune.data import load_rows
from finetune.recipes import recipe_for

lm = load_model(MODEL)
print(lm.describe())
# the trainer's checks, the recipe's included (the CTC model reports translations and other languages)
cfg = load_config(["--config", CONFIG, "--model", MODEL, "--train_manifest", TRAIN, "--eval_manifest", EVAL])
check = recipe_for(cfg).row_checker(lm)
train_rows, report = load_rows(cfg, lm.tokenizer, "train", check)
print(report.summary())
eval_rows, eval_report = load_rows(cfg, lm.tokenizer, "eval", check)
print(eval_report.summary())
""",
        ),
        ("md", "## 2. Baseline"),
        (
            "code",
            """
from granite_workbench.evaluation import run_evaluation

baseline = run_evaluation(lm, eval_rows, ["base"], max_new_tokens=64)
for group, systems in baseline.summary.items():
    print(group, {k: round(v, 3) for k, v in systems["base"].items()})
""",
        ),
        (
            "md",
            "## 3. Fine-tune (LoRA / QLoRA)\nThe shipped config, with the manifests and the model set here. On a GPU this is the long step; progress, loss and evaluation metrics go to `RUN/metrics.jsonl` and TensorBoard.",
        ),
        (
            "code",
            """
from finetune.train import main as finetune

rc = finetune(["--config", CONFIG, "--model", MODEL, "--train_manifest", TRAIN, "--eval_manifest", EVAL,
               "--output_dir", RUN, "--max_steps", str(STEPS), "--eval_steps", str(STEPS // 2),
               "--save_steps", str(STEPS // 2), "--tensorboard", "false"])
assert rc == 0
import json
best = json.load(open(f"{RUN}/best.json"))
print(best)
""",
        ),
        (
            "code",
            """
from IPython.display import Image, display
display(Image(f"{RUN}/curves.png"))
""",
        ),
        ("md", "## 4. Evaluate base vs adapted, side by side"),
        (
            "code",
            """
from granite_workbench.engine import engine_for
from granite_workbench.evaluation import write_report

adapter = engine_for(lm).adapters.load(f"{RUN}/{best['path']}")
after = run_evaluation(lm, eval_rows, ["base", adapter], max_new_tokens=64)
paths = write_report(after, "reports/domain-notebook", title="Cardiology set: base vs adapted")
for group, systems in after.summary.items():
    print(group, {s: round(m.get("wer", m.get("bleu", 0.0)), 3) for s, m in systems.items()})
""",
        ),
        (
            "code",
            """
from IPython.display import Markdown
display(Markdown(open(paths["report"]).read()[:3000]))
display(Image(str(paths["metrics"])), Image(str(paths["deltas"])))
asr = after.summary["all"]
if SMOKE:  # on its own training rows the adapted tiny model must beat the base
    assert asr[adapter]["wer"] < asr["base"]["wer"]
""",
        ),
        (
            "md",
            """## 5. Hot-load the adapter into a running demo
The demo (`python app.py --checkpoints <the run's parent folder>`) watches that folder: the new checkpoint is
listed, and its API loads it into the running model without a restart. `DEMO` is its address; when nothing
answers there, a demo is started for this notebook (and stopped at the end).""",
        ),
        (
            "code",
            """
import subprocess, time
import httpx
from gradio_client import Client, handle_file

DEMO = "http://127.0.0.1:7860/"
started = None
try:
    httpx.get(DEMO, timeout=2)
except httpx.HTTPError:
    DEMO = "http://127.0.0.1:7871/"
    started = subprocess.Popen([sys.executable, "app.py", "--model", MODEL, "--port", "7871",
                                "--checkpoints", str(Path(RUN).parent)])
    for _ in range(240):
        try:
            httpx.get(DEMO, timeout=2); break
        except httpx.HTTPError:
            time.sleep(0.5)
client = Client(DEMO, verbose=False)
while "Model ready" not in client.predict(api_name="/model_status"):
    time.sleep(1)
checkpoint = f"{Path(RUN).name}/{best['path']}"
print(client.predict(checkpoint, api_name="/load_adapter"))
clip = handle_file(eval_rows[0].audio)  # manifest paths are resolved against the manifest's folder
name = checkpoint.replace("/", "-")
print("base:   ", client.predict(clip, "", "base", api_name="/transcribe")[0])
print("adapted:", client.predict(clip, "", name, api_name="/transcribe")[0])
print("reference:", eval_rows[0].text)
if started is not None:
    started.terminate(); started.wait()
""",
        ),
    ]
)

k = nb(
    [
        (
            "md",
            colab("02_keyword_biasing")
            + """
# 02 · Keyword biasing: how the keyword list changes results

Keyword-biased ASR puts `Keywords: a, b, ...` in the prompt. Here the cardiology test clips are transcribed
with four lists — none, the clip's own terms, its terms plus distractors, distractors only — and scored with
keyword recall / precision and B-WER / U-WER (errors on words in the list vs the rest).
""",
        ),
        (
            "code",
            """
SMOKE = False
MODEL = "ibm-granite/granite-4.0-1b-speech"
MANIFEST = "data/domain/test.jsonl"
""",
            ["parameters"],
        ),
        ("code", INSTALL),
        ("code", SETUP),
        (
            "code",
            """
import json, random
from granite_workbench import Transcriber, TaskSpec, load_model
from granite_workbench.manifest import read_manifest
from granite_workbench.metrics import keyword_metrics

lm = load_model(MODEL)
tr = Transcriber(lm, max_new_tokens=64)
rows = [r for r in read_manifest(MANIFEST) if r.task == "asr_keywords"]
domain = json.load(open("data/domain/keywords.json"))
print(len(rows), "clips with keyword lists")
""",
        ),
        (
            "code",
            """
rng = random.Random(0)
def distractors(row, n=3):
    pool = [k for k in domain[row.language] if k not in row.keywords]
    return rng.sample(pool, min(n, len(pool)))

strategies = {
    "no keywords": lambda r: [],
    "its own terms": lambda r: list(r.keywords),
    "terms + distractors": lambda r: list(r.keywords) + distractors(r),
    "distractors only": lambda r: distractors(r),
}
table = {}
for name, pick in strategies.items():
    lists = [pick(r) for r in rows]
    specs = [TaskSpec("asr_keywords", language=r.language, keywords=tuple(l)) if l else TaskSpec("asr", language=r.language)
             for r, l in zip(rows, lists)]
    hyps = [res.text for res in tr.run([r.audio for r in rows], specs)]
    # score against the clip's own terms, whatever list the model saw
    table[name] = keyword_metrics([r.text for r in rows], hyps, [r.keywords for r in rows])
for name, m in table.items():
    print(f"{name:22s} " + "  ".join(f"{k} {v:.2f}" for k, v in m.items()))
""",
        ),
        (
            "code",
            """
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(8, 3.5))
names = list(table)
for i, metric in enumerate(["keyword_recall", "b_wer", "u_wer"]):
    ax.bar([x + i * 0.25 for x in range(len(names))], [table[n][metric] for n in names], 0.25, label=metric)
ax.set_xticks([x + 0.25 for x in range(len(names))], names)
ax.set_title("Keyword lists: recall of the clip's terms, B-WER and U-WER"); ax.legend(); ax.grid(axis="y", alpha=.3)
plt.show()
""",
        ),
        (
            "md",
            "Recall should rise with the right terms in the list, B-WER fall, and U-WER (the other words) stay put; distractors should cost little. On the tiny smoke model the numbers are meaningless.",
        ),
        (
            "code",
            """
from granite_workbench.keywords import mark_keywords
from IPython.display import HTML, display
r = rows[0]
biased = tr.run([r.audio], [TaskSpec("asr_keywords", language=r.language, keywords=tuple(r.keywords))])[0]
display(HTML("<style>mark{background:#ffd8a8}</style>" + mark_keywords(biased.text, r.keywords)))
""",
        ),
    ]
)

w = nb(
    [
        (
            "md",
            colab("04_which_granite")
            + """
# 04 · Which Granite for my data?

Every model you name runs over the same rows of the sample cardiology set, one in memory at a time: accuracy
(WER/CER, BLEU where the rows translate), speed on this machine (RTFx), peak memory and size, an accuracy-against-
speed chart and the rows where the models disagree most — the comparison a domain team shows its stakeholders.
A model that cannot do a row (the 5.0 CTC model and a translation) fails that row with the reason. Add an
adapter to a model with `MODEL@ADAPTER_FOLDER` (from notebook 03). The same as
`python -m granite_workbench evaluate data/domain/test.jsonl --models ...`. `SMOKE = True`: the miniatures.
""",
        ),
        (
            "code",
            """
SMOKE = False
MODEL = "ibm-granite/granite-4.0-1b-speech"  # the model of reference; MODELS adds the others
MODELS = ["ibm-granite/granite-4.0-1b-speech", "ibm-granite/granite-speech-4.1-2b",
          "ibm-granite/granite-speech-5.0-470m-turboctc"]
MANIFEST = "data/domain/test.jsonl"
REPORT = "reports/which-granite-notebook"
LIMIT = 0  # 0: every row
""",
            ["parameters"],
        ),
        ("code", INSTALL),
        (
            "code",
            SETUP
            + """
if SMOKE:
    MODELS = ["tiny", "tiny-plus", "tiny-ctc"]
print(MODELS)
""",
        ),
        ("md", "## 1. Every model over the same rows"),
        (
            "code",
            """
from granite_workbench import load_model
from granite_workbench.comparison import ModelChoice, compare_models, write_comparison
from granite_workbench.manifest import read_manifest, validate

rows, report = validate(read_manifest(MANIFEST), None, source=MANIFEST, max_audio_seconds=3600, max_label_tokens=0)
rows = rows[:LIMIT] if LIMIT else rows
print(report.summary())
choices = [ModelChoice(*m.split("@", 1)) for m in MODELS]
result, costs = compare_models(choices, rows, load_model, progress=lambda k, n, name: print(f"{k}/{n}", name),
                               max_new_tokens=64)
paths = write_comparison(result, costs, REPORT, f"Which Granite for {MANIFEST}?")
""",
        ),
        ("md", "## 2. The table and the chart"),
        (
            "code",
            """
from IPython.display import Image, Markdown, display
from granite_workbench.comparison import cost_markdown
display(Markdown(cost_markdown(result, costs)))
display(Image(str(paths["speed_accuracy"])), Image(str(paths["metrics"])))
""",
        ),
        ("md", "## 3. Where the models disagree most"),
        (
            "code",
            """
from granite_workbench.comparison import disagreements
for u in disagreements(result, 3):
    print(f"line {u['line']}  spread {u['spread']:.2f}  reference: {u['reference']}")
    for system, out in u["systems"].items():
        print(f"   {system:40s} {out.get('hypothesis') or 'failed: ' + str(out.get('failed'))}")
if SMOKE:  # every model answered the ASR rows; the CTC model failed the translation rows with the reason
    assert all(result.summary["all"][c.system]["utterances"] > 0 for c in costs)
    assert result.summary["all"]["tiny-ctc"]["failed"] > 0 and result.summary["all"]["tiny"]["failed"] == 0
""",
        ),
    ]
)

for name, n in (("01_quickstart", q), ("02_keyword_biasing", k), ("03_domain_adaptation", d), ("04_which_granite", w)):
    nbf.write(n, Path(__file__).resolve().parent / f"{name}.ipynb")
print("ok")
