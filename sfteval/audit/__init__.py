"""Data diagnostics and selection: what a source or mixture holds before GPU hours are spent on it.

stats.py counts and measures (tokens, lengths, languages, turns, math reasoning), dedup.py finds exact and
MinHash near duplicates, contamination.py finds eval problems in training data (13-grams and embeddings),
embed.py embeds prompts with all-MiniLM-L6-v2, overlap.py measures how far apart sources are, select.py and
ifd.py order a source for nested subsets (random, k-center, IFD) after its filters, report.py puts an audit
together. Embeddings, IFD scores and token counts are cached on disk by content (cache.py).
"""


def overlap(sources, **kwargs):
    """Pairwise semantic overlap of sources as a DataFrame; see sfteval.audit.overlap.overlap."""
    from sfteval.audit.overlap import overlap as pairwise

    return pairwise(sources, **kwargs)
