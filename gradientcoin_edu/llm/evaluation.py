"""[tooling] Has the model learned? Greedy samples a student can read, and two scores that can be checked.

The built-in corpus (``model.corpus``) has structure that can be scored exactly:

* **sentences** - every sentence line comes from one of three templates (``"the cat sees a red
  ball."``, ``"ada has 3 boxs."``, ``"the box is red."``). A sample is *valid* when the model,
  given the first word or two of a line, finishes it greedily into a line that one of the
  templates can produce (:func:`is_corpus_sentence`). The prompts are the openings of the
  sentence lines of the *validation* text, so they are the same for every model.
* **sums** - ``"3+4="`` must be completed with ``"7\\n"``. Scored on the distinct sums of the
  validation text. (The corpus has only 100 distinct sums ``a+b`` with ``a, b <= 9``; held-out
  *text*, not held-out facts: most of them also occur in the training text.)

:func:`evaluate` returns both shares and a few sample completions; ``gradientcoin demo`` and
notebooks 09 and 10 print them before and after training. Everything is greedy (deterministic),
float64, from the integer weights (``inference.greedy_decode``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..model.corpus import _COLORS, _NAMES, _NOUNS, _THINGS, _VERBS
from .inference import greedy_decode

__all__ = ["Evaluation", "is_corpus_sentence", "sentence_prompts", "sum_prompts", "evaluate",
           "SAMPLE_PROMPTS"]

SAMPLE_PROMPTS = ("\n3+4=", "\nthe cat ", "\nada has ", "\nthe box ")

_ALT = lambda words: "(?:" + "|".join(words) + ")"                       # noqa: E731
_SENTENCE = re.compile(
    rf"the {_ALT(_NOUNS)} {_ALT(_VERBS)} a {_ALT(_COLORS)} {_ALT(_THINGS)}\."
    rf"|{_ALT(_NAMES)} has [2-9] {_ALT(_THINGS)}s\."
    rf"|the {_ALT(_THINGS)} is {_ALT(_COLORS)}\.")


def is_corpus_sentence(line: str) -> bool:
    """True when ``line`` (without its newline) is a sentence the corpus templates can produce."""
    return _SENTENCE.fullmatch(line) is not None


def _validation_lines(spec) -> list[str]:
    text = spec.tokenizer.decode(np.asarray(spec.validation.records).reshape(-1).tolist())   # records: consecutive
    return text.split("\n")[1:-1]                            # whole lines only (the first may be cut)


def sentence_prompts(spec, n: int = 40) -> list[str]:
    """Openings of the validation text's sentence lines: their first two and first three words,
    ``"\\nthe cat "``, ``"\\nthe cat sees "``, ``"\\nbob has "``... (distinct, in text order, at most ``n``)."""
    out: list[str] = []
    for line in _validation_lines(spec):
        if not is_corpus_sentence(line):
            continue
        words = line.split(" ")
        for k in (2, 3):
            prompt = "\n" + " ".join(words[:k]) + " "
            if prompt not in out and len(out) < n:
                out.append(prompt)
    return out


def sum_prompts(spec, n: int = 100) -> list[tuple[str, str]]:
    """``("\\n3+4=", "7\\n")`` for the distinct sums of the validation text (at most ``n``)."""
    out: dict[str, str] = {}
    for line in _validation_lines(spec):
        m = re.fullmatch(r"(\d+)\+(\d+)=(\d+)", line)
        if m and len(out) < n:
            out.setdefault(f"\n{m[1]}+{m[2]}=", f"{m[3]}\n")
    return list(out.items())


@dataclass
class Evaluation:
    """What a model writes: the share of valid sentences, the share of right sums, some samples."""

    sentences_valid: float                       # share of sentence prompts finished into a valid line
    sums_correct: float                          # share of sums answered exactly
    samples: dict[str, str] = field(default_factory=dict)   # prompt -> greedy completion
    n_sentences: int = 0
    n_sums: int = 0

    def lines(self) -> list[str]:
        """Human-readable lines (what the demo prints)."""
        out = [f"  {prompt!r:>14} -> {text!r}" for prompt, text in self.samples.items()]
        out.append(f"  valid corpus sentences: {self.sentences_valid:.0%} of {self.n_sentences} greedy samples; "
                   f"sums right: {self.sums_correct:.0%} of {self.n_sums} (validation text)")
        return out


def evaluate(spec, weights: np.ndarray, n_sentences: int = 40, n_sums: int = 100,
             sample_prompts=SAMPLE_PROMPTS, sample_tokens: int = 16) -> Evaluation:
    """Score integer ``weights`` (or a chain state vector) of ``spec``'s model (see the module docstring)."""
    cfg, tok, s = spec.pog.model, spec.tokenizer, spec.pog.scale_log2

    def complete(prompt: str, n: int) -> str:
        return greedy_decode(cfg, weights, tok, prompt, n, s)

    prompts = sentence_prompts(spec, n_sentences)
    valid = sum(is_corpus_sentence((p[1:] + complete(p, 28)).split("\n")[0]) for p in prompts)
    sums = sum_prompts(spec, n_sums)
    right = sum(complete(p, len(want)) == want for p, want in sums)
    samples = {p: complete(p, sample_tokens) for p in sample_prompts}
    return Evaluation(valid / max(1, len(prompts)), right / max(1, len(sums)), samples, len(prompts), len(sums))
