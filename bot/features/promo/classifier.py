"""A small naive Bayes text classifier (spam vs ham) over normalised tokens, in pure Python.

Features of a text are the set of its folded word tokens (link parts removed, numbers as
``<num>``) plus a few markers: ``<link>``, ``<link:KIND>``, ``<host:DOMAIN>``,
``<mention>``, ``<emoji>``. Training is a binarised multinomial naive Bayes: each feature
counts once per text, with Laplace smoothing over the vocabulary. Scoring is one dict
lookup per feature: the model keeps, per feature, the log-likelihood ratio
``log P(f|spam) - log P(f|ham)`` clipped to ``[-CLIP, CLIP]``, and

    p(spam) = sigmoid(log(n_spam / n_ham) + sum of the ratios of the text's known features)

Unknown features are skipped. The seed corpus (``bot/data/promo_seed.jsonl``) is counted
once per process; a community's model adds its moderators' samples, each weighted.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from bot.features.promo.signals import links_of, text_tokens
from bot.text import Analysed, Link, analyse

CLIP = 3.0
ALPHA = 1.0
SEED_FILE = "promo_seed.jsonl"
# Link kinds with a signal of their own (invite_link, shortener).
OWN_SIGNAL = frozenset({"invite", "telegram", "shortener"})


def features(
    analysed: Analysed,
    links: Sequence[Link] | None = None,
    tokens: Sequence[str] | None = None,
) -> frozenset[str]:
    """The classifier features of an analysed text (``tokens``: its ``text_tokens``)."""
    if links is None:
        links = links_of(analysed)
    if tokens is None:
        tokens = text_tokens(analysed, links)
    found = {"<num>" if t.isdigit() else t for t in tokens if len(t) > 1}
    for link in links:
        found.add("<link>")
        if link.kind in OWN_SIGNAL:
            continue  # counted once, by its signal: the classifier would count it again
        found.add(f"<link:{link.kind}>")
        found.add("<host:" + ".".join(link.host.rsplit(".", 2)[-2:]) + ">")
    if analysed.mentions:
        found.add("<mention>")
    if len(analysed.emoji) >= 3:
        found.add("<emoji>")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Sample:
    """A labelled text: ``label`` is "spam" or "ham"."""

    text: str
    label: str
    lang: str = ""


@dataclass(slots=True)
class Counts:
    """Weighted document counts per class and per feature, before a model is derived."""

    docs: dict[str, float] = field(default_factory=lambda: {"spam": 0.0, "ham": 0.0})
    spam: dict[str, float] = field(default_factory=dict)
    ham: dict[str, float] = field(default_factory=dict)

    def add(self, feats: Iterable[str], label: str, weight: float = 1.0) -> None:
        """Count one text's features for a class."""
        table = self.spam if label == "spam" else self.ham
        self.docs["spam" if label == "spam" else "ham"] += weight
        for feat in feats:
            table[feat] = table.get(feat, 0.0) + weight

    def copy(self) -> Counts:
        """An independent copy, so the seed counts stay as they are."""
        return Counts(dict(self.docs), dict(self.spam), dict(self.ham))


class NaiveBayes:
    """A trained model: per-feature log-likelihood ratios and the class prior."""

    def __init__(self, counts: Counts) -> None:
        vocabulary = set(counts.spam) | set(counts.ham)
        size = max(1, len(vocabulary))
        self.prior = math.log(max(counts.docs["spam"], 1.0) / max(counts.docs["ham"], 1.0))
        # Binarised multinomial: P(f|c) = (n_c(f) + a) / (sum_f n_c(f) + a * |V|).
        spam_den = sum(counts.spam.values()) + ALPHA * size
        ham_den = sum(counts.ham.values()) + ALPHA * size
        ratios: dict[str, float] = {}
        for feat in vocabulary:
            p_spam = (counts.spam.get(feat, 0.0) + ALPHA) / spam_den
            p_ham = (counts.ham.get(feat, 0.0) + ALPHA) / ham_den
            ratios[feat] = max(-CLIP, min(CLIP, math.log(p_spam / p_ham)))
        self.ratios: Mapping[str, float] = ratios

    def log_odds(self, feats: Iterable[str]) -> float:
        """The prior plus the ratios of the known features."""
        ratios = self.ratios
        total = self.prior
        for feat in feats:
            total += ratios.get(feat, 0.0)
        return total

    def probability(self, feats: Iterable[str]) -> float:
        """P(spam | features) in [0, 1]."""
        odds = self.log_odds(feats)
        if odds >= 0:
            return 1.0 / (1.0 + math.exp(-odds))
        exp = math.exp(odds)
        return exp / (1.0 + exp)

    def top(self, feats: Iterable[str], n: int = 5) -> list[tuple[str, float]]:
        """The features that moved the score most, for explanations."""
        known = [(f, self.ratios[f]) for f in feats if f in self.ratios]
        known.sort(key=lambda item: (-abs(item[1]), item[0]))
        return known[:n]


def train(samples: Iterable[Sample], base: Counts | None = None, weight: float = 1.0) -> Counts:
    """Count samples on top of ``base`` (copied) with a weight per sample."""
    counts = base.copy() if base is not None else Counts()
    for sample in samples:
        counts.add(features(analyse(sample.text)), sample.label, weight)
    return counts


def load_seed(raw: str | None = None) -> list[Sample]:
    """The seed corpus: one JSON object per line with text, label and lang."""
    if raw is None:
        raw = resources.files("bot").joinpath("data", SEED_FILE).read_text("utf-8")
    samples: list[Sample] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        label = item.get("label")
        if label not in ("spam", "ham") or not isinstance(item.get("text"), str):
            raise ValueError(f"{SEED_FILE} line {number}: needs text and label spam|ham")
        samples.append(Sample(item["text"], label, str(item.get("lang", ""))))
    return samples


@functools.cache
def seed_counts() -> Counts:
    """The seed corpus counted once per process."""
    return train(load_seed())


@functools.cache
def seed_model() -> NaiveBayes:
    """The model of the seed corpus alone (for ``leumund analyze`` and new communities)."""
    return NaiveBayes(seed_counts())


def community_model(samples: Iterable[Sample], weight: float) -> NaiveBayes:
    """The seed corpus plus a community's moderator samples, each counted ``weight`` times."""
    listed = list(samples)
    if not listed:
        return seed_model()
    return NaiveBayes(train(listed, base=seed_counts(), weight=weight))
