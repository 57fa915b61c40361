"""``HashEmbedder``: an offline, weight-free, deterministic text embedder.

Features (the hashing trick, Weinberger et al. 2009), each hashed into ``dim`` buckets
with a sign taken from another bit of the hash:

* word unigrams (NFKC, case-folded, Unicode ``\\w+`` tokens), hashed with blake2b;
* character 3-5-grams of each word with boundary marks (``<like>`` -> ``<li``, ``lik``,
  ...), so inflections such as "likes" / "like" land close together; hashed with a
  vectorised polynomial hash of the code points plus a splitmix64 finaliser;
* word bigrams, hashed from the two unigram hashes.

Every hash is stable across processes and platforms (never Python's salted ``hash()``),
so vectors are reproducible and a store can be reopened later. Changing any of this
must bump ``_ALGORITHM``: it is part of ``name``, which the store checks.

Term frequency is sublinear (``1 + ln tf`` per word and per bigram in a text) and every
vector is L2-normalised. It knows no synonyms: it ranks texts that share words or word
pieces above unrelated ones, which is what tests, demos and offline use need.

Speed: the features of a word are computed once and kept in a per-instance cache (a
CSR table keyed by a vocabulary dict), so a batch costs one regex pass and a few dict
look-ups per text in Python, then a handful of vectorised numpy steps (gather, unique,
bincount) for the whole batch.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from hashlib import blake2b
from itertools import repeat

import numpy as np

from .._errors import ConfigError
from ._normalize import l2_normalize

__all__ = ["HashEmbedder"]

_ALGORITHM = "v1"
_SEP = "\x00"  # between texts in a batch; never part of a word
_TOKEN_RE = re.compile(r"\w+|\x00")
_U64 = np.uint64
_SIGN_BIT = 63

# Relative weights of the feature groups. A word's unigram has weight 1; its character
# n-grams together have an L2 norm of about _CHAR_WEIGHT; a bigram has _BIGRAM_WEIGHT.
_CHAR_WEIGHT = 1.0
_BIGRAM_WEIGHT = 0.6
_CHAR_NGRAMS = (3, 4, 5)

# A bounded cache: past this many distinct words it is dropped and rebuilt on demand
# (features are pure functions of the word, so results never change).
_MAX_VOCAB = 100_000  # ~15-25 MB of features at most
_CHUNK = 2048


def _h64(data: str) -> int:
    """A stable 64-bit hash (Python's ``hash()`` is salted per process)."""
    return int.from_bytes(blake2b(data.encode("utf-8"), digest_size=8).digest(), "little")


def _mix64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Combine two uint64 hash arrays into one (order-sensitive, splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = a * _U64(0x9E3779B97F4A7C15) + (b ^ _U64(0xBF58476D1CE4E5B9))
        h ^= h >> _U64(31)
        h *= _U64(0x94D049BB133111EB)
        h ^= h >> _U64(29)
    mixed: np.ndarray = h
    return mixed


class _Vocab:
    """Words seen so far and their hashed features, as a CSR table (immutable arrays).

    Arrays are replaced, never mutated, so a reader holding a snapshot stays consistent
    while another thread grows the table.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.indptr = np.zeros(1, dtype=np.int64)
        self.buckets = np.zeros(0, dtype=np.int32)
        self.values = np.zeros(0, dtype=np.float64)
        self.hashes = np.zeros(0, dtype=np.uint64)


class HashEmbedder:
    """Offline, deterministic embedder built on the hashing trick; needs no weights.

    Example::

        >>> from agentmem_plugins.embeddings import HashEmbedder
        >>> emb = HashEmbedder()
        >>> vecs = emb.embed_documents(["Alice likes green tea", "The car is red"])
        >>> q = emb.embed_query("what tea does Alice like?")
        >>> bool(vecs[0] @ q > vecs[1] @ q)
        True
    """

    def __init__(self, dim: int = 256) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise ConfigError(f"HashEmbedder dim must be an int >= 8, got {dim!r}")
        self._dim = dim
        self._lock = threading.Lock()
        self._vocab = _Vocab()

    @property
    def name(self) -> str:
        return f"hash-{_ALGORITHM}-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def __repr__(self) -> str:
        return f"HashEmbedder(dim={self._dim})"

    # -- public API ---------------------------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_documents([text])[0]
        return vector

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        n = len(texts)
        out = np.empty((n, self._dim), dtype=np.float32)
        # chunks keep the scratch arrays cache-sized: ~1.5x faster than one huge pass
        for lo in range(0, n, _CHUNK):
            out[lo : lo + _CHUNK] = self._embed_chunk(texts[lo : lo + _CHUNK])
        return out

    # -- internals ----------------------------------------------------------------

    def _embed_chunk(self, texts: Sequence[str]) -> np.ndarray:
        n, dim = len(texts), self._dim
        tokens = _tokenize_all(texts)
        with self._lock:
            vocab = self._lookup(tokens)
        # separators map to -1; the running count of them is each word's row
        ids = np.fromiter(map(vocab.ids.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        is_sep = ids < 0
        rows = np.cumsum(is_sep)[~is_sep]
        ids = ids[~is_sep]
        if ids.size == 0:
            return np.zeros((n, dim), dtype=np.float32)

        w_target, w_vals = self._word_part(vocab, rows, ids)
        b_target, b_vals = self._bigram_part(vocab, rows, ids)
        flat = np.bincount(
            np.concatenate([w_target, b_target]),
            weights=np.concatenate([w_vals, b_vals]),
            minlength=n * dim,
        )
        return l2_normalize(flat.reshape(n, dim), dtype=np.float64)

    def _word_part(
        self, vocab: _Vocab, rows: np.ndarray, ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unigram + character n-gram features, weighted by sublinear term frequency."""
        width = len(vocab.indptr)  # > every id in this snapshot
        keys, tf = np.unique(rows * width + ids, return_counts=True)
        u_rows, u_ids = np.divmod(keys, width)
        weight = 1.0 + np.log(tf)

        starts = vocab.indptr[u_ids]
        lengths = vocab.indptr[u_ids + 1] - starts
        # positions of every feature of every (row, word) pair in the CSR arrays
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        pos = offsets + np.arange(offsets.size, dtype=np.int64)
        target = np.repeat(u_rows * self._dim, lengths) + vocab.buckets[pos]
        vals = vocab.values[pos] * np.repeat(weight, lengths)
        return target, vals

    def _bigram_part(
        self, vocab: _Vocab, rows: np.ndarray, ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Word bigram features (adjacent words of one text), sublinear tf."""
        same = rows[1:] == rows[:-1]
        h = _mix64(vocab.hashes[ids[:-1][same]], vocab.hashes[ids[1:][same]])
        b_rows = rows[1:][same]
        # tf per (row, bigram): dedupe on a hash of both (collisions ~2^-64)
        _, first, tf = np.unique(
            _mix64(b_rows.astype(np.uint64), h), return_index=True, return_counts=True
        )
        h, b_rows = h[first], b_rows[first]
        target = b_rows * self._dim + (h % _U64(self._dim)).astype(np.int64)
        vals = _signs(h) * (_BIGRAM_WEIGHT * (1.0 + np.log(tf)))
        return target, vals

    def _lookup(self, tokens: list[str]) -> _Vocab:
        """Make sure every token has features in the vocabulary; return a snapshot."""
        vocab = self._vocab
        unique = dict.fromkeys(tokens)
        unique.pop(_SEP, None)
        new = [t for t in unique if t not in vocab.ids]
        if not new:
            return vocab
        if len(vocab.ids) + len(new) > _MAX_VOCAB:
            vocab = self._vocab = _Vocab()
            new = list(unique)

        lengths, buckets, values, hashes = _word_features(new, self._dim)
        grown = _Vocab()
        base = len(vocab.ids)
        grown.ids = vocab.ids  # shared dict: only ever grows, under the lock
        grown.indptr = np.concatenate([vocab.indptr, vocab.indptr[-1] + np.cumsum(lengths)])
        grown.buckets = np.concatenate([vocab.buckets, buckets])
        grown.values = np.concatenate([vocab.values, values])
        grown.hashes = np.concatenate([vocab.hashes, hashes])
        grown.ids.update(zip(new, range(base, base + len(new)), strict=True))
        self._vocab = grown
        return grown


def _word_features(
    words: list[str], dim: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hashed features of new words, vectorised over all of them.

    Returns per-word feature counts, then the concatenated buckets and signed values
    (each word's unigram first, then its character n-grams) and the unigram hashes.
    Character n-grams use a polynomial hash of the code points, finalised by
    splitmix64: stable across processes and platforms, like blake2b, but computed for
    every n-gram of the batch at once.
    """
    n_words = len(words)
    word_h = np.fromiter((_h64("w\x00" + w) for w in words), dtype=np.uint64, count=n_words)

    marked = "".join(f"<{w}>" for w in words)
    cps = np.frombuffer(marked.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    m_len = np.fromiter((len(w) + 2 for w in words), dtype=np.int64, count=n_words)
    m_end = np.cumsum(m_len)
    end_of = np.repeat(m_end, m_len)  # for each position, where its word ends
    word_of = np.repeat(np.arange(n_words, dtype=np.int64), m_len)

    gram_word, gram_h = [], []
    lo = _CHAR_NGRAMS[0]
    with np.errstate(over="ignore"):
        h = np.zeros(cps.size, dtype=np.uint64)
        for k in range(_CHAR_NGRAMS[-1]):
            if k >= cps.size:  # a batch of short words: no longer n-gram fits anywhere
                break
            # h[i] = hash of cps[i : i + k + 1], valid where that slice stays in the word
            h[: cps.size - k] = h[: cps.size - k] * _U64(0x100000001B3) + cps[k:] + _U64(1)
            n = k + 1
            if n >= lo:
                ok = np.flatnonzero(np.arange(cps.size) + n <= end_of)
                gram_word.append(word_of[ok])
                gram_h.append(_mix64(h[ok], np.full(ok.size, n, dtype=np.uint64)))
    g_word = np.concatenate(gram_word)
    g_h = np.concatenate(gram_h)
    order = np.argsort(g_word, kind="stable")
    g_word, g_h = g_word[order], g_h[order]
    n_grams = np.bincount(g_word, minlength=n_words)

    scale = _CHAR_WEIGHT / np.sqrt(n_grams)
    g_vals = _signs(g_h) * scale[g_word]
    # interleave: each word's unigram, then its grams
    lengths = n_grams + 1
    starts = np.cumsum(lengths) - lengths
    buckets = np.empty(int(lengths.sum()), dtype=np.int32)
    values = np.empty(buckets.size, dtype=np.float64)
    buckets[starts] = word_h % _U64(dim)
    values[starts] = _signs(word_h)
    gram_pos = np.ones(buckets.size, dtype=bool)
    gram_pos[starts] = False
    buckets[gram_pos] = g_h % _U64(dim)
    values[gram_pos] = g_vals
    return lengths, buckets, values, word_h


def _signs(h: np.ndarray) -> np.ndarray:
    signs: np.ndarray = 1.0 - 2.0 * (h >> _U64(_SIGN_BIT)).astype(np.float64)
    return signs


def _tokenize_all(texts: Sequence[str]) -> list[str]:
    """The words of all texts, in order, with ``_SEP`` between consecutive texts.

    One regex pass over the joined batch is much cheaper than one per text. NUL is not
    a word character, so replacing a NUL inside a text by a space changes nothing.
    """
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:
        joined = _SEP.join(t.replace(_SEP, " ") for t in texts)
    if not joined.isascii():
        joined = unicodedata.normalize("NFKC", joined)
    return _TOKEN_RE.findall(joined.casefold())
