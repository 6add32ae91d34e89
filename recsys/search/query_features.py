"""What search retrieval knows about each result: the columns ``HybridSearcher.retrieve``
returns beside the items. The ranking stage's feature definitions (``SEARCH_FEATURES``,
``ANONYMOUS_SEARCH_FEATURES``) build on them, and the relevance threshold reads them.

Every column is a function of the query and the item alone (never of the other results),
except the two fusion columns, which are the retrieval's own order.
"""

QUERY_FEATURES = (
    "query_dense",  # best cosine similarity of the item's documents to the query (any kind)
    "query_dense_content",  # ... of its content document (title, plot, genres, people)
    "query_dense_localized",  # ... of its localized overviews (NaN: it has none)
    "query_bm25",  # BM25F score as retrieval weighs the fields (0 when nothing matched)
    "query_bm25_title",  # BM25 on titles alone (every variant, every script)
    "query_bm25_people",  # ... on cast and directors
    "query_bm25_text",  # ... on descriptions, keywords and genres (with stems)
    "query_word_coverage",  # share of the query's words the item matched lexically
    "query_title",  # exact (1.0) or near-exact (0.3-0.9) title match bonus
    "query_title_prefix",  # 1 when the query begins one of the item's titles
    "query_title_share",  # largest share of one of its titles' words the query holds
    "query_language",  # 1 when the item is in the query's detected (non-English) language
    "query_words",  # number of query tokens (the same for every result of a query)
    "query_fused",  # the hybrid (reciprocal-rank fusion) score
    "query_rank",  # 1-based position in the hybrid list
)


def column(name: str) -> int:
    """Index of a ``QUERY_FEATURES`` column (KeyError-free: a typo fails at import)."""
    return QUERY_FEATURES.index(name)
