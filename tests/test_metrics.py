"""Metric values: hand-computed cases, agreement with jiwer / sacrebleu, normalization edge cases."""

import jiwer
import pytest
import sacrebleu

from granite_workbench import metrics as M


def test_wer_hand_computed():
    c = M.word_errors("the cat sat on the mat", "the cat sit on the mat today")  # 1 substitution, 1 insertion
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (1, 0, 1, 5)
    c = M.word_errors("the cat sat on the mat", "the cat on the mat")  # 1 deletion
    assert (c.substitutions, c.deletions, c.insertions, c.hits) == (0, 1, 0, 5)
    assert M.wer(
        ["the cat sat on the mat", "the cat sat on the mat"], ["the cat sit on the mat today", "the cat on the mat"]
    ) == pytest.approx(3 / 12)


def test_wer_is_corpus_level_not_mean_of_rates():
    refs, hyps = ["a b c d e f g h i j", "k"], ["a b c d e f g h i j", "x"]
    assert M.wer(refs, hyps) == pytest.approx(1 / 11)  # a mean of per-utterance rates would give 0.5


def test_agrees_with_jiwer_on_normalized_text():
    refs = ["hello world how are you", "this is a test", "speech recognition is fun"]
    hyps = ["hello word how are you", "this is test", "speech wreck ignition is fun"]
    assert M.wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    assert M.cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps))


@pytest.mark.parametrize(
    "ref,hyp",
    [
        ("Hello, World!", "hello world"),  # punctuation and casing
        ("It's twenty-one degrees.", "it is 21 degrees"),  # contractions and spelled-out numbers
        ("Mr. Smith's colour", "mister smith's color"),  # titles and British spelling
        ("  lots   of    space ", "lots of space"),
    ],
)
def test_english_normalization_makes_these_equal(ref, hyp):
    assert M.wer([ref], [hyp], "en") == 0.0


def test_other_languages_basic_normalizer():
    assert M.wer(["Bonjour à tous, le rapport!"], ["bonjour à tous le rapport"], "fr") == 0.0
    assert M.wer(["Ça va?"], ["ca va"], "fr") == pytest.approx(0.5)  # accents are kept: ça != ca
    assert M.normalize("Guten Morgen (leise)", "de") == "guten morgen"  # bracketed asides dropped


def test_japanese_is_scored_by_characters():
    ref, hyp = "こんにちは、世界。", "こんにちわ 世界"
    assert M.normalize(ref, "ja") == "こんにちは世界"
    assert M.error_rate([ref], [hyp], "ja") == pytest.approx(1 / 7)
    assert M.error_rate([ref], [hyp], "ja") == pytest.approx(jiwer.cer("こんにちは世界", "こんにちわ世界"))


def test_empty_reference_counts_insertions():
    assert M.word_errors("", "extra words").insertions == 2
    assert M.word_errors("", "").rate == 0.0


def test_bleu_and_chrf_equal_sacrebleu():
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    hyps = ["the cat sat on the mat", "a cat is on the mat"]
    assert M.bleu(refs, hyps) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert M.chrf(refs, hyps) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert M.bleu(["猫はマットの上にいる"], ["猫はマットの上にいる"], "ja") == pytest.approx(100.0)
    assert M.bleu(["我爱北京天安门"], ["我爱北京"], "zh") == pytest.approx(
        sacrebleu.corpus_bleu(["我爱北京"], [["我爱北京天安门"]], tokenize="zh").score
    )


def test_keyword_recall_precision():
    refs = ["take metoprolol and atorvastatin daily", "no keywords here"]
    hyps = ["take metro prolol and atorvastatin daily", "no metoprolol here"]
    kws = [["metoprolol", "atorvastatin"], ["metoprolol"]]
    m = M.keyword_metrics(refs, hyps, kws)
    assert m["keyword_recall"] == pytest.approx(1 / 2)  # 2 keyword occurrences in refs, 1 recognized
    assert m["keyword_precision"] == pytest.approx(1 / 2)  # 2 in hyps, 1 correct (the second is a false alarm)


def test_multiword_and_repeated_keywords():
    # hyphen, space or nothing between the parts all match; a longer word that contains it does not
    k = M.keyword_counts("the Q-Former and the q former", "the qformer and the transformer", ["Q-Former"])
    assert (k.in_reference, k.in_hypothesis, k.matched) == (2, 1, 1)


def test_b_wer_u_wer():
    # bias words: metoprolol, atorvastatin (2 ref words); other ref words: take, and, daily (3)
    m = M.keyword_metrics(
        ["take metoprolol and atorvastatin daily"],
        ["take metro prolol and atorvastatin"],
        [["metoprolol", "atorvastatin"]],
    )
    # alignment: metoprolol -> metro (sub, biased), + prolol (insertion, unbiased), daily deleted (unbiased)
    assert m["b_wer"] == pytest.approx(1 / 2)
    assert m["u_wer"] == pytest.approx(2 / 3)


def test_task_metrics_dispatch():
    assert set(M.task_metrics("ast", ["a b"], ["a b"], target="fr")) == {"bleu", "chrf"}
    assert set(M.task_metrics("asr", ["a b"], ["a b"])) == {"wer", "cer"}
    assert "keyword_recall" in M.task_metrics("asr_keywords", ["a b"], ["a b"], keyword_lists=[["a"]])
