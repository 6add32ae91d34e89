"""Stage 2: the texts that get embedded, several documents per item.

Each item yields
- a ``content`` document: the display title and year, type, genres, the English
  description, keywords, directors and cast;
- one ``localized`` document per language with a native title/overview (fr, de, ...).

Retrieval ranks the items of each kind by their best-matching document. Other titles
(original, alternates) are not embedded: names are matched by the lexical index and the
title matcher. On the dev split, a separate title-document list added nothing with either
bundled encoder, and every title in the content document lowered multilingual-e5-small's
description recall (bench/README.md, "Results: per-kind dense lists and
multilingual-e5-small").
"""

from __future__ import annotations

import polars as pl

DOCUMENT_SCHEMA = {
    "doc_id": pl.Int64,
    "item_id": pl.Utf8,
    "kind": pl.Utf8,
    "lang": pl.Utf8,
    "text": pl.Utf8,
}

CONTENT, LOCALIZED = "content", "localized"
MAX_KEYWORDS = 12
MAX_CAST = 5


def _join(values: list[str] | None, limit: int | None = None) -> str:
    values = [v for v in (values or []) if v]
    return ", ".join(values[:limit] if limit else values)


def _content_text(row: dict) -> str:
    kind = "TV show" if row["type"] == "tv_show" else "Movie"
    parts = [f"{row['title']}" + (f" ({row['year']})" if row["year"] else "") + f". {kind}."]
    if row["genres"]:
        parts.append(f"Genres: {_join(row['genres'])}.")
    if row["description"]:
        parts.append(row["description"].strip())
    if row["keywords"]:
        parts.append(f"Keywords: {_join(row['keywords'], MAX_KEYWORDS)}.")
    if row["directors"]:
        parts.append(f"Directed by {_join(row['directors'], 2)}.")
    if row["cast"]:
        parts.append(f"With {_join(row['cast'], MAX_CAST)}.")
    return " ".join(parts)


def build_documents(catalog: pl.DataFrame) -> pl.DataFrame:
    """catalog frame -> documents frame (doc_id, item_id, kind, lang, text), doc_id = row order."""
    columns = [
        "item_id",
        "type",
        "title",
        "original_title",
        "alt_titles",
        "year",
        "genres",
        "keywords",
        "description",
        "directors",
        "cast",
        "localizations",
    ]
    rows: list[tuple[str, str, str, str]] = []
    for row in catalog.select(columns).iter_rows(named=True):
        item_id = row["item_id"]
        rows.append((item_id, CONTENT, "en", _content_text(row)))
        for loc in row["localizations"] or []:
            text = ". ".join(p.strip() for p in (loc["title"], loc["description"]) if p)
            if text:
                rows.append((item_id, LOCALIZED, loc["lang"], text))
    frame = pl.DataFrame(
        rows, schema=["item_id", "kind", "lang", "text"], orient="row"
    ).with_row_index("doc_id")
    return frame.with_columns(pl.col("doc_id").cast(pl.Int64)).select(list(DOCUMENT_SCHEMA))
