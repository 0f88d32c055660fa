"""Comment themes: what the comments of one goal in one period are about, and which subject is rising.

A product owner should not have to read 2 000 comments to learn why a goal is hard. :func:`find_themes`
groups one goal's comments of one period into at most :data:`MAX_THEMES` themes, each with a label of its
top terms in the users' own words ("factuur · downloaden · pdf"), its count, its share among the negative
comments, two representative comments and whether it is rising. Locally and deterministically: scikit-learn
and Snowball stemmers, no model, no network.

The method, in order:

1. **Order.** The comments are sorted (time, text, locale, negative) first, so the result does not depend on
   the order they came in.
2. **Terms** (:mod:`stream.ces.comments.terms`): masking markers removed, lower case, Dutch or English stop
   words dropped, glossary words made English, Snowball stems; unigrams and bigrams.
3. **TF-IDF** over the terms that at least :data:`MIN_TERM_COMMENTS` comments use and at most
   :data:`MAX_TERM_SHARE` of them (a word in most comments, such as the goal's own subject, tells the themes
   nothing apart), the :data:`MAX_TERMS` most frequent at most (bounds memory and time); sublinear term
   frequency, rows of length 1.
4. **NMF** (non-negative matrix factorisation, ``init="nndsvd"``, deterministic) into :data:`COMPONENTS`
   components; each comment goes to its heaviest. A subject often comes out as two or three components (one
   per wording or language), and the last components gather whatever is left.
5. **Merge and refine**, until nothing changes (at most :data:`REFINE_ROUNDS` rounds): the two groups whose
   centroids (their comments' summed TF-IDF rows, to length 1) are most alike are joined while their cosine
   similarity is at least :data:`MERGE_SIMILARITY` (groups of one subject share terms, of different
   subjects hardly any); then every comment moves to the group whose centroid it is most like, and to none
   when that similarity is under :data:`MIN_MEMBER_SIMILARITY` (a comment that shares one common word with
   a group is not in it).
6. **Themes** are the groups of at least :data:`MIN_THEME_COMMENTS` comments and :data:`MIN_THEME_SHARE` of
   all whose heaviest term at least :data:`MIN_TOP_TERM_SHARE` of their comments use (a group of odd
   comments that share nothing is no theme); those comments are the theme's *core*. The comments are
   assigned to the nearest of these once more (as in step 5), and a comment stays only when it is at least
   :data:`MIN_CORE_SIMILARITY` like its theme's core as well: a pair of unrelated comments that came along
   with a small theme (they are alike, so they keep each other near its centroid) shares nothing with its
   core. The :data:`MAX_THEMES` largest are kept, largest first (then by label).
7. **Label and representatives.** The label is the theme's :data:`LABEL_TERMS` heaviest terms (by its
   comments' mean TF-IDF), each in the form its comments wrote most, skipping a term that repeats a stem or a
   word already in the label. The representatives are the two comments, of different text, closest to the
   theme's centroid.
8. **Rising** (:mod:`stream.ces.comments.rising`): each theme's share of the comments in the second half of
   the period against the first half, by a one-sided Fisher exact test, Bonferroni over the goal's themes.

Comments without any kept term, and those in no theme, are counted as unthemed. Measured speed and the
command that measures it: docs/product-teams.md.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer

from stream.ces.comments.rising import Rise, rise_of
from stream.ces.comments.terms import CommentTerms, comment_terms

MAX_THEMES = 8
COMPONENTS = 8
MIN_THEME_COMMENTS = 5
MIN_THEME_SHARE = 0.02
MAX_TERMS = 5000
MIN_TERM_COMMENTS = 2
MAX_TERM_SHARE = 0.5
MERGE_SIMILARITY = 0.2
MIN_MEMBER_SIMILARITY = 0.15
MIN_TOP_TERM_SHARE = 0.4
MIN_CORE_SIMILARITY = 0.1
REFINE_ROUNDS = 10
LABEL_TERMS = 3
REPRESENTATIVES = 2
NMF_MAX_ITER = 300
LABEL_SEPARATOR = " · "

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ThemeComment:
    """One comment as themes read it: its (masked) text, the prompt's locale, whether its score was negative,
    and when it was given."""

    text: str
    locale: str | None
    negative: bool
    at: datetime


@dataclass(frozen=True)
class Theme:
    """One subject the comments share."""

    label: str  # its terms joined by " · "
    terms: tuple[str, ...]  # as the members wrote them most often, heaviest first
    count: int
    negative: int  # members with a negative score
    negative_share: float | None  # of all the negative comments, those in this theme; None without any
    representatives: tuple[ThemeComment, ...]  # closest to the theme's centre first
    rise: Rise
    members: tuple[ThemeComment, ...]  # in the sorted order


@dataclass(frozen=True)
class CommentThemes:
    """The themes of one goal's comments in one period."""

    themes: tuple[Theme, ...]
    comments: int
    negative: int
    unthemed: int
    split_at: datetime | None  # the first half is before it, the second from it; None without comments


def _sort_key(comment: ThemeComment) -> tuple[datetime, str, str, bool]:
    return (comment.at, comment.text, comment.locale or "", comment.negative)


def _terms_of(analysed: CommentTerms) -> tuple[str, ...]:
    return analysed.terms


def _unit_rows(matrix: Floats) -> Floats:
    """Each row scaled to length 1 (a row of zeros stays zeros)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Floats = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


def _centroids(x: Any, labels: NDArray[np.intp], groups: Sequence[int]) -> Floats:
    """The unit-length summed TF-IDF row of each of the (non-empty list of) groups, in one sparse product."""
    position = np.full(max(int(labels.max()), *groups) + 1, -1, dtype=np.intp)
    position[np.asarray(groups, dtype=np.intp)] = np.arange(len(groups))
    rows = np.flatnonzero((labels >= 0) & (position[np.maximum(labels, 0)] >= 0))
    membership = csr_matrix((np.ones(len(rows)), (position[labels[rows]], rows)), shape=(len(groups), x.shape[0]))
    return _unit_rows(np.asarray((membership @ x).toarray()))


def _present(labels: NDArray[np.intp]) -> list[int]:
    return [int(group) for group in np.unique(labels[labels >= 0])]


def _merged(x: Any, labels: NDArray[np.intp]) -> NDArray[np.intp]:
    """The groups joined, most alike pair first, while their centroids are at least MERGE_SIMILARITY alike."""
    labels = labels.copy()
    while len(groups := _present(labels)) > 1:
        centroids = _centroids(x, labels, groups)
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -1.0)
        first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)  # ties: the lowest pair
        if similarity[first, second] < MERGE_SIMILARITY:
            break
        labels[labels == groups[max(first, second)]] = groups[min(first, second)]
    return labels


def _nearest(x: Any, labels: NDArray[np.intp], groups: Sequence[int]) -> NDArray[np.intp]:
    """Each comment in the group whose centroid it is most like (ties: the first), or -1 when it is less than
    MIN_MEMBER_SIMILARITY like any."""
    if not groups:
        return np.full(x.shape[0], -1, dtype=np.intp)
    closeness = np.asarray(x @ _centroids(x, labels, groups).T)
    nearest = np.argmax(closeness, axis=1)
    close_enough = closeness[np.arange(x.shape[0]), nearest] >= MIN_MEMBER_SIMILARITY
    return np.where(close_enough, np.asarray(groups, dtype=np.intp)[nearest], -1).astype(np.intp)


def _repeats(surface: str, shown: Sequence[str]) -> bool:
    """Whether a term's written form repeats a word of the label: the same word, or one inside the other
    ("code" in "inlogcode")."""
    return any(new in old or old in new for new in surface.split() for words in shown for old in words.split())


def _label(members: Sequence[int], analysed: Sequence[CommentTerms], weights: Floats, vocabulary: Any) -> list[str]:
    """The heaviest terms as written most often (ties: alphabetical), none repeating a stem or a word shown."""
    order = np.argsort(-weights, kind="stable")
    candidates = {str(vocabulary[index]) for index in order[: LABEL_TERMS * 4] if weights[index] > 0}
    written: dict[str, Counter[str]] = {}
    for member in members:
        for term, surface in zip(analysed[member].terms, analysed[member].surfaces, strict=True):
            if term in candidates:
                written.setdefault(term, Counter())[surface] += 1
    shown: list[str] = []
    stems: set[str] = set()
    for index in order[: LABEL_TERMS * 4]:
        term = str(vocabulary[index])
        if len(shown) == LABEL_TERMS or term not in written:
            continue
        surface = min(written[term].items(), key=lambda item: (-item[1], item[0]))[0]
        if stems.isdisjoint(term.split()) and not _repeats(surface, shown):
            shown.append(surface)
            stems.update(term.split())
    return shown


def _representatives(members: Sequence[int], closeness: Floats, ordered: Sequence[ThemeComment]) -> list[int]:
    """The members closest to the centroid, one per distinct text (ties: the earlier in the sorted order)."""
    chosen: list[int] = []
    seen: set[str] = set()
    for position in np.argsort(-closeness, kind="stable"):
        member = members[int(position)]
        text = " ".join(ordered[member].text.casefold().split())
        if text not in seen:
            chosen.append(member)
            seen.add(text)
        if len(chosen) == REPRESENTATIVES:
            break
    return chosen


def _split_at(ordered: Sequence[ThemeComment]) -> datetime | None:
    return ordered[0].at + (ordered[-1].at - ordered[0].at) / 2 if ordered else None


def _coherent(x: Any, rows: NDArray[np.bool_], minimum: int) -> bool:
    """Whether a group can be a theme: large enough, and its heaviest term used by MIN_TOP_TERM_SHARE of it."""
    return bool(rows.sum() >= minimum and _core(x, rows).sum() >= MIN_TOP_TERM_SHARE * rows.sum())


def _core(x: Any, rows: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """A group's core: its comments that use its heaviest term."""
    top = int(np.argmax(np.asarray(x[rows].sum(axis=0)).ravel()))
    return rows & (np.asarray(x[:, top].toarray()).ravel() > 0)


def _groups(x: Any, minimum: int) -> list[list[int]]:
    """Steps 4 to 6: the comment indices of each theme, in no particular order."""
    with_terms = np.flatnonzero(np.diff(x.indptr) > 0)
    components = min(COMPONENTS, len(with_terms) // MIN_THEME_COMMENTS, x.shape[1])
    if components < 1:
        return []
    with warnings.catch_warnings():  # an unconverged factorisation still seeds the refinement below
        warnings.simplefilter("ignore", ConvergenceWarning)
        weights = NMF(n_components=components, init="nndsvd", max_iter=NMF_MAX_ITER, random_state=0).fit_transform(x)
    labels = np.where(weights.max(axis=1) > 0, weights.argmax(axis=1), -1).astype(np.intp)
    for _ in range(REFINE_ROUNDS):
        labels = _merged(x, labels)
        refined = _nearest(x, labels, _present(labels))
        if np.array_equal(refined, labels):
            break
        labels = refined
    themes = [group for group in _present(labels) if _coherent(x, labels == group, minimum)]
    if not themes:
        return []
    final = _nearest(x, labels, themes)
    # A comment that came along with a theme but shares (almost) nothing with its core is not in it.
    cores = np.full(x.shape[0], -1, dtype=np.intp)
    for group in themes:
        cores[_core(x, labels == group)] = group
    to_core = np.asarray(x @ _centroids(x, cores, themes).T)
    members = []
    for number, group in enumerate(themes):
        inside = (final == group) & (to_core[:, number] >= MIN_CORE_SIMILARITY)
        members.append([int(index) for index in np.flatnonzero(inside)])
    return [group for group in members if len(group) >= minimum]


def find_themes(comments: Sequence[ThemeComment], split_at: datetime | None = None) -> CommentThemes:
    """The themes of one goal's comments in one period (see the module's method).

    ``split_at`` divides the period into the halves the rising test compares (the report passes the middle
    of the period); without it, the middle between the first and the last comment.
    """
    ordered = sorted(comments, key=_sort_key)
    negative = sum(comment.negative for comment in ordered)
    split = split_at or _split_at(ordered)
    nothing = CommentThemes((), len(ordered), negative, len(ordered), split)
    if len(ordered) < MIN_THEME_COMMENTS:
        return nothing
    analysed = [comment_terms(comment.text, comment.locale) for comment in ordered]
    vectorizer = TfidfVectorizer(
        analyzer=_terms_of,
        min_df=MIN_TERM_COMMENTS,
        max_df=MAX_TERM_SHARE,
        max_features=MAX_TERMS,
        sublinear_tf=True,
        dtype=np.float64,
    )
    try:
        x = vectorizer.fit_transform(analysed)
    except ValueError:  # scikit-learn's "no terms remain": no word is shared by enough comments
        return nothing
    vocabulary = vectorizer.get_feature_names_out()
    minimum = max(MIN_THEME_COMMENTS, math.ceil(MIN_THEME_SHARE * len(ordered)))
    groups = sorted(_groups(x, minimum), key=lambda members: (-len(members), members))[:MAX_THEMES]
    in_second = [split is not None and comment.at >= split for comment in ordered]
    second_total = sum(in_second)
    themes = []
    for members in groups:
        rows = x[members]
        mean = np.asarray(rows.mean(axis=0)).ravel()
        terms = _label(members, analysed, mean, vocabulary)
        closeness = np.asarray(rows @ (mean / np.linalg.norm(mean))).ravel()
        second = sum(in_second[member] for member in members)
        theme_negative = sum(ordered[member].negative for member in members)
        themes.append(
            Theme(
                label=LABEL_SEPARATOR.join(terms),
                terms=tuple(terms),
                count=len(members),
                negative=theme_negative,
                negative_share=theme_negative / negative if negative else None,
                representatives=tuple(ordered[m] for m in _representatives(members, closeness, ordered)),
                rise=rise_of(len(members) - second, len(ordered) - second_total, second, second_total, len(groups)),
                members=tuple(ordered[member] for member in members),
            )
        )
    themes.sort(key=lambda theme: (-theme.count, theme.label))
    themed = sum(theme.count for theme in themes)
    return CommentThemes(tuple(themes), len(ordered), negative, len(ordered) - themed, split)
