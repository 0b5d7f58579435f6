"""The transcription core: one API for the CLI, the demo, evaluation and the notebooks.

    from granite_workbench import load_model, Transcriber
    tr = Transcriber(load_model())
    result = tr.transcribe("meeting.wav", language="en", keywords=["Granite", "LoRA"])
    results = tr.translate(["a.wav", "b.flac"], source="en", target="fr")

Every clip is loaded (any format, rate, channels -> 16 kHz mono), split if long (voice activity
or fixed windows), and all chunks of all clips are decoded in length-sorted batches. A clip
that fails (unreadable, too long, a generation error) gets `error` set; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .audio import MAX_SECONDS, Audio, AudioError, load_audio
from .chunking import DEFAULT_MAX_SECONDS, DEFAULT_OVERLAP, Chunk, plan_chunks, stitch
from .ctc import Word
from .engine import DecodingOptions, Engine, Generation, Request, engine_for
from .language_id import detect_language
from .loading import LoadedModel
from .models import capability_problem
from .prompts import TaskSpec
from .tasks import get_task

Progress = Callable[[int, int], None]


@dataclass
class Segment:
    start: float
    end: float
    text: str
    speaker: int | None = None  # speaker-attributed ASR: the turn's speaker (numbered per chunk by the model)


@dataclass
class Result:
    name: str
    task: str
    text: str = ""
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0
    language: str | None = None
    target: str | None = None
    keywords: list[str] = field(default_factory=list)
    adapter: str | None = None
    error: str | None = None
    note: str | None = None  # no text to show, and why: "silent", "no speech detected"
    words: list[Word] = field(default_factory=list)  # with word_timestamps: every word with its times
    decoding: dict[str, int] = field(default_factory=dict)  # chunks per path (greedy/ctc/verified/fallback),
    # and llm_passes: the language model's forward passes
    info: list[str] = field(default_factory=list)  # remarks about how it was decoded
    detected_language: str | None = None  # ASR without a language given: the transcript's language, if sure
    language_confidence: float | None = None  # of that detection (0..1)
    answers: list[dict] = field(default_factory=list)  # second-pass answers (second_pass.Answer.to_dict())

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def language_left_to_detect(self) -> bool:
        """ASR with no language given: the language is read from the transcript (`detected_language`)."""
        return self.language is None and not get_task(self.task).translation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        """The Result `to_dict` gave (segments and words as objects again)."""
        return cls(
            **{
                **d,
                "segments": [Segment(**s) for s in d.get("segments", [])],
                "words": [Word(**w) for w in d.get("words", [])],
            }
        )


class Transcriber:
    """Transcription and translation of any number of clips on an engine (or a loaded model's engine).

    Options: `batch_size` (chunks decoded together), `chunking` / `max_chunk_seconds` / `overlap_seconds`
    (long audio, see chunking.py), `max_audio_seconds` (longer clips fail), and decoding:
    `max_new_tokens`, `num_beams`, `min_new_tokens` (or a whole `DecodingOptions` as `decoding`).
    """

    def __init__(
        self,
        model: LoadedModel | Engine | None = None,
        *,
        engine: Engine | None = None,
        batch_size: int = 8,
        chunking: str = "vad",
        max_chunk_seconds: float | None = None,
        overlap_seconds: float = DEFAULT_OVERLAP,
        max_audio_seconds: float = MAX_SECONDS,
        max_new_tokens: int = 200,
        num_beams: int = 1,
        min_new_tokens: int = 0,
        decoding: DecodingOptions | str | None = None,
        word_timestamps: bool = False,
    ):
        if engine is None:
            if model is None:
                raise ValueError("Give a loaded model (load_model(...)) or an engine.")
            engine = engine_for(model)
        self.engine = engine
        if not isinstance(decoding, DecodingOptions):
            decoding = DecodingOptions(
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                min_new_tokens=min_new_tokens,
                decoding=decoding or "greedy",
                word_timestamps=word_timestamps,
            )
        self.decoding = decoding
        self.batch_size = max(1, int(batch_size))
        self.chunking = chunking
        # None: the model's own (Capabilities.chunk_seconds: 30 s for the LLM models, longer for a CTC model)
        self.max_chunk_seconds = max_chunk_seconds or getattr(engine.capabilities, "chunk_seconds", DEFAULT_MAX_SECONDS)
        self.overlap_seconds = overlap_seconds
        self.max_audio_seconds = max_audio_seconds

    # -- convenience wrappers -------------------------------------------------------------
    def transcribe(self, clips, language: str | None = None, keywords: Sequence[str] | str | None = None, **kw):
        spec = TaskSpec("asr", language=language, keywords=keywords or ())
        return self._one_or_many(clips, spec, **kw)

    def translate(self, clips, source: str = "en", target: str = "fr", **kw):
        return self._one_or_many(clips, TaskSpec("ast", language=source, target=target), **kw)

    def _one_or_many(self, clips, spec, **kw):
        single = not isinstance(clips, (list, tuple))
        results = self.run([clips] if single else list(clips), spec, **kw)
        return results[0] if single else results

    # -- the core ---------------------------------------------------------------------------
    def run(
        self,
        clips: Iterable[Any],
        spec: TaskSpec | Sequence[TaskSpec],
        *,
        adapter: str | None = None,
        progress: Progress | None = None,
        names: Sequence[str] | None = None,
    ) -> list[Result]:
        """Run one task spec (or one per clip) over many clips; one Result per clip, in order."""
        clips = list(clips)
        specs = list(spec) if isinstance(spec, (list, tuple)) else [spec] * len(clips)
        if len(specs) != len(clips):
            raise ValueError(f"{len(specs)} task specs for {len(clips)} clips.")
        results: list[Result] = []
        plans: list[tuple[Audio, list[Chunk]] | None] = []
        for i, (clip, sp) in enumerate(zip(clips, specs)):
            name = names[i] if names else None
            res = Result(
                name=name or _name(clip, i),
                task=sp.task,
                language=sp.language,
                target=sp.target,
                keywords=list(sp.keywords),
                adapter=adapter,
            )
            results.append(res)
            plans.append(None)
            problem = capability_problem(self.engine, sp)
            if problem:  # e.g. translation asked of a CTC model: that clip fails, with the models that can
                res.error = problem
                continue
            try:
                audio = load_audio(clip, name=res.name, max_seconds=self.max_audio_seconds)
            except AudioError as exc:
                res.error = str(exc)
                continue
            res.name, res.duration = audio.name, round(audio.duration, 3)
            if audio.silent:
                res.note = "silent"
                continue
            try:
                chunks = plan_chunks(audio, self.chunking, self.max_chunk_seconds, self.overlap_seconds)
            except Exception as exc:  # VAD failure on odd audio: that clip only
                res.error = f"{res.name}: could not split the audio ({exc})."
                continue
            if not chunks:
                res.note = "no speech detected"
                continue
            plans[i] = (audio, chunks)

        work = []  # (clip index, chunk index, request) for every chunk of every usable clip
        for i, plan in enumerate(plans):
            if plan is None:
                continue
            audio, chunks = plan
            for j, c in enumerate(chunks):
                work.append(
                    (
                        i,
                        j,
                        Request(
                            samples=audio.slice(c.start, c.end),
                            spec=specs[i],
                            clip=results[i].name,
                            offset=c.start,
                            adapter=adapter,
                        ),
                    )
                )
        gens = self._generate_all(work, results, progress)
        for i, plan in enumerate(plans):
            if plan is None or results[i].error:
                continue
            res, chunks = results[i], plan[1]
            chunk_gens = [gens[(i, j)] for j in range(len(chunks))]
            if specs[i].info.tagged:
                chunk_gens = [untag(g, c, res) for g, c in zip(chunk_gens, chunks)]
            for (s, e, text, lo, hi), chunk, g in zip(stitch(chunks, [g.text for g in chunk_gens]), chunks, chunk_gens):
                if text:
                    res.segments.append(Segment(round(s, 3), round(e, 3), text))
                res.words += [
                    Word(round(w.start + chunk.start, 3), round(w.end + chunk.start, 3), w.word, w.aligned, w.speaker)
                    for w in (g.words or [])[lo:hi]
                ]
                res.decoding[g.path] = res.decoding.get(g.path, 0) + 1
                res.decoding["llm_passes"] = res.decoding.get("llm_passes", 0) + g.llm_passes
                if g.note and g.note not in res.info:
                    res.info.append(g.note)
            if specs[i].task == "asr_speakers":
                speaker_segments(res, len(chunks))
            elif res.words and self.engine.capabilities.word_times:
                res.info.append(f"word times: {self.engine.capabilities.word_times}")
            res.text = " ".join(s.text for s in res.segments)
            if res.language_left_to_detect:
                detected = detect_language(res.text)
                if detected:
                    res.detected_language, res.language_confidence = detected.code, detected.confidence
        return results

    def _generate_all(self, work, results, progress) -> dict[tuple[int, int], Generation]:
        """Length-sorted batches; a failing batch is retried one by one so only bad clips fail."""
        work = sorted(work, key=lambda w: -len(w[2].samples))
        texts: dict[tuple[int, int], Generation] = {}
        done = 0
        for b in range(0, len(work), self.batch_size):
            batch = work[b : b + self.batch_size]
            batch = [w for w in batch if results[w[0]].error is None]
            try:
                outs = self.engine.generate([w[2] for w in batch], self.decoding) if batch else []
                for (i, j, _), text in zip(batch, outs):
                    texts[(i, j)] = text
            except Exception:
                for i, j, req in batch:
                    if results[i].error:
                        continue
                    try:
                        texts[(i, j)] = self.engine.generate([req], self.decoding)[0]
                    except Exception as exc:
                        results[i].error = f"{results[i].name}: generation failed at {req.offset:.1f} s ({exc})."
            done += len(work[b : b + self.batch_size])
            if progress:
                progress(done, len(work))
        return texts


def untag(g: Generation, chunk: Chunk, res: Result) -> Generation:
    """A tagged answer (4.1-2b-plus: speaker turns, word times) as plain text with its words; problems with the
    tags are noted on the result, never raised."""
    from dataclasses import replace

    from .plus_tags import read_tagged

    tagged = read_tagged(g.text, chunk.end - chunk.start)
    for problem in tagged.problems:
        note = f"tags at {chunk.start:.1f} s: {problem}"
        if note not in res.info:
            res.info.append(note)
    source = "word times: the model's own tags" if tagged.timed else "word times: spread over each chunk (approximate)"
    if source not in res.info:
        res.info.append(source)
    return replace(g, text=tagged.text, words=tagged.words)


def speaker_segments(res: Result, chunks: int) -> None:
    """One segment per speaker turn (from the words' speakers)."""
    from .plus_tags import speaker_turns

    res.segments = [
        Segment(ws[0].start, ws[-1].end, " ".join(w.word for w in ws), speaker)
        for speaker, ws in speaker_turns(res.words)
    ]
    if chunks > 1:
        res.info.append(
            f"speaker numbers restart in each of the {chunks} chunks: Speaker 1 of one chunk need not be Speaker 1 "
            "of the next"
        )


def _name(clip: Any, i: int) -> str:
    from pathlib import Path

    if isinstance(clip, (str, Path)):
        return Path(clip).name
    return getattr(clip, "name", None) or f"clip{i + 1}"
