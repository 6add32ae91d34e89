"""recsys: personalized multilingual search and recommendation for streaming catalogs.

The library core: typed, no HTTP, no CLI. Data flows one way:
catalog -> documents -> embeddings -> index -> candidates -> features -> ranker -> API.
"""

__version__ = "0.4.0"
