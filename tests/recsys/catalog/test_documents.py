"""Known answers for build_documents on a hand-made, conformed catalog."""

from __future__ import annotations

import polars as pl
import pytest

from recsys.catalog.documents import DOCUMENT_SCHEMA, build_documents
from recsys.catalog.schema import CATALOG_SCHEMA, conform, validate_catalog


@pytest.fixture(scope="module")
def catalog() -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "item_id": ["5618", "s2", "40697"],
            "type": ["movie", "tv_show", "movie"],
            "title": ["Spirited Away", "Dark", "Babylon 5"],
            "original_title": ["千と千尋の神隠し", "Dark", None],
            "alt_titles": [["Sen to Chihiro no kamikakushi", "Spirited Away"], [], None],
            "year": [2001, 2017, None],
            "genres": [["Animation", "", "Fantasy"], ["Crime", "Drama"], []],
            "keywords": [[f"k{i}" for i in range(15)], [], None],
            "description": ["  A girl enters the spirit world.  ", "A boy goes missing.", None],
            "directors": [["Hayao Miyazaki"], ["Baran bo Odar", "Jantje Friese", "X"], []],
            "cast": [["Rumi Hiiragi", "Miyu Irino"], [f"a{i}" for i in range(7)], []],
            "localizations": [
                [
                    {
                        "lang": "fr",
                        "title": "Le Voyage de Chihiro",
                        "description": " Chihiro découvre un monde. ",
                    },
                    {"lang": "es", "title": "El viaje de Chihiro", "description": None},
                ],
                [
                    {"lang": "de", "title": None, "description": None},  # nothing: no doc
                    {"lang": "it", "title": None, "description": "Un ragazzo scompare."},
                ],
                [],
            ],
        }
    )
    return validate_catalog(conform(frame))


@pytest.fixture(scope="module")
def documents(catalog: pl.DataFrame) -> pl.DataFrame:
    return build_documents(catalog)


def test_conform_gives_the_catalog_schema(catalog: pl.DataFrame) -> None:
    assert catalog.schema == pl.Schema(CATALOG_SCHEMA)
    row = catalog.row(2, named=True)
    assert row["year"] is None
    assert row["countries"] == []  # missing list columns become empty lists
    assert row["popularity"] is None  # missing scalars become nulls


def test_schema(documents: pl.DataFrame) -> None:
    assert documents.schema == pl.Schema(DOCUMENT_SCHEMA)


def test_rows_in_order(documents: pl.DataFrame) -> None:
    assert documents.select("doc_id", "item_id", "kind", "lang").rows() == [
        (0, "5618", "content", "en"),
        (1, "5618", "localized", "fr"),
        (2, "5618", "localized", "es"),
        (3, "s2", "content", "en"),
        (4, "s2", "localized", "it"),
        (5, "40697", "content", "en"),
    ]


def test_texts(documents: pl.DataFrame) -> None:
    keywords = ", ".join(f"k{i}" for i in range(12))  # at most 12 keywords
    assert documents["text"].to_list() == [
        # the display title and the year (other titles are matched lexically)
        "Spirited Away (2001). Movie. Genres: Animation, Fantasy. "
        f"A girl enters the spirit world. Keywords: {keywords}. "
        "Directed by Hayao Miyazaki. With Rumi Hiiragi, Miyu Irino.",
        "Le Voyage de Chihiro. Chihiro découvre un monde.",
        "El viaje de Chihiro",
        # TV show; at most 2 directors and 5 cast members
        "Dark (2017). TV show. Genres: Crime, Drama. A boy goes missing. "
        "Directed by Baran bo Odar, Jantje Friese. With a0, a1, a2, a3, a4.",
        "Un ragazzo scompare.",
        # no year, no genres, no description: the bare minimum
        "Babylon 5. Movie.",
    ]


def test_doc_ids_are_row_numbers(documents: pl.DataFrame) -> None:
    assert documents["doc_id"].to_list() == list(range(documents.height))


def test_every_item_has_one_content_doc(catalog: pl.DataFrame, documents: pl.DataFrame) -> None:
    ids = documents.filter(pl.col("kind") == "content")["item_id"].to_list()
    assert ids == catalog["item_id"].to_list()
    assert set(documents["kind"]) == {"content", "localized"}


def test_deterministic(catalog: pl.DataFrame, documents: pl.DataFrame) -> None:
    assert build_documents(catalog).equals(documents)
