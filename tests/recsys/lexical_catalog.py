"""A tiny multilingual catalog frame for lexical/fusion tests (known answers by design)."""

from __future__ import annotations

from typing import Any

import polars as pl

from recsys.catalog.schema import CATALOG_SCHEMA

ROWS: list[dict[str, Any]] = [
    {"item_id": "1", "title": "Spirited Away", "original_title": "千と千尋の神隠し",
     "original_language": "ja", "year": 2001, "genres": ["Animation"],
     "description": "A girl wanders into a world of spirits and must free her parents.",
     "directors": ["Hayao Miyazaki"], "maturity_rating": "PG"},
    {"item_id": "2", "title": "Amelie", "original_title": "Le Fabuleux Destin d'Amélie Poulain",
     "original_language": "fr", "year": 2001, "genres": ["Comedy", "Romance"],
     "description": "A shy waitress in Paris decides to change the lives of those around her.",
     "localizations": [{"lang": "fr", "title": "Le Fabuleux Destin d'Amélie Poulain",
                        "description": "Une serveuse timide de Montmartre aide les autres."}],
     "cast": ["Audrey Tautou"], "maturity_rating": "R"},
    {"item_id": "3", "title": "The Godfather", "original_language": "en", "year": 1972,
     "genres": ["Crime", "Drama"], "cast": ["Marlon Brando", "Al Pacino"],
     "description": "The aging patriarch of a crime dynasty hands control to his son.",
     "maturity_rating": "R"},
    {"item_id": "4", "title": "The Godfather: Part II", "original_language": "en",
     "year": 1974, "genres": ["Crime", "Drama"], "cast": ["Al Pacino"],
     "description": "The early life of a young don in New York.", "maturity_rating": "R"},
    {"item_id": "5", "title": "Parasite", "original_title": "기생충", "original_language": "ko",
     "year": 2019, "genres": ["Thriller"],
     "description": "A poor family schemes to become employed by a wealthy household.",
     "maturity_rating": "R"},
    {"item_id": "6", "title": "Toy Story", "original_language": "en", "year": 1995,
     "genres": ["Animation", "Comedy"], "cast": ["Tom Hanks"],
     "description": "A cowboy doll feels threatened by a new spaceman toy.",
     "maturity_rating": "G"},
    {"item_id": "7", "title": "La vita è bella", "original_title": "La vita è bella",
     "original_language": "it", "year": 1997, "genres": ["Comedy", "Drama"],
     "description": "A Jewish father protects his son in a concentration camp with humour.",
     "localizations": [{"lang": "it", "title": "La vita è bella",
                        "description": "Un padre protegge il figlio in un lager."}],
     "maturity_rating": "PG-13"},
]  # fmt: skip


def catalog_frame(rows: list[dict[str, Any]] | None = None) -> pl.DataFrame:
    """Rows padded with nulls/empty lists for every catalog column."""
    full = []
    for row in rows if rows is not None else ROWS:
        padded: dict[str, Any] = {}
        for column, dtype in CATALOG_SCHEMA.items():
            default: Any = [] if isinstance(dtype, pl.List) else None
            padded[column] = row.get(column, default)
        padded["type"] = row.get("type", "movie")
        full.append(padded)
    return pl.DataFrame(full, schema=CATALOG_SCHEMA)
