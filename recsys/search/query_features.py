"""What search retrieval knows about each result: the columns ``HybridSearcher.retrieve``
returns beside the items. The ranking stage's feature definitions (``SEARCH_FEATURES``) and
personal search build on them."""

QUERY_FEATURES = (
    "query_dense",  # best cosine similarity of the item's documents to the query
    "query_bm25",  # BM25 score in the lexical index (0 when it did not match)
    "query_title",  # exact (1.0) or near-exact (0.3-0.9) title match bonus
    "query_language",  # 1 when the item is in the query's detected (non-English) language
    "query_fused",  # the hybrid score search orders by
    "query_rank",  # 1-based position in the hybrid list
)
