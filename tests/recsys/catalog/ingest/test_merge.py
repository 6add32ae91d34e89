"""Known-answer tests for the merge stage and build_catalog on the fixture data directory."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from recsys.catalog.ingest import IngestReport, build_catalog
from recsys.catalog.ingest.merge import match_netflix
from recsys.catalog.schema import CATALOG_SCHEMA
from recsys.core.errors import InputDataError

DATA = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture(scope="module")
def built() -> tuple[pl.DataFrame, IngestReport]:
    return build_catalog(DATA)


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def _item(frame: pl.DataFrame, item_id: str) -> dict:
    rows = frame.filter(pl.col("item_id") == item_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_schema_and_order(built: tuple[pl.DataFrame, IngestReport]) -> None:
    frame, _ = built
    assert frame.schema == pl.Schema(CATALOG_SCHEMA)
    assert frame["item_id"].to_list() == [
        "1", "29", "32", "1213", "2959", "3000", "4000", "4001", "5618", "6000", "40697",
        "171749", "s2", "s5", "s6", "s8", "s9",
    ]  # fmt: skip
    assert frame.filter(pl.col("type") == "tv_show")["item_id"].to_list() == ["s2"]


def test_tmdb_enrichment_and_precedence(built: tuple[pl.DataFrame, IngestReport]) -> None:
    frame, _ = built
    spirited = _item(frame, "5618")
    assert spirited["title"] == "Spirited Away"
    assert spirited["original_title"] == "千と千尋の神隠し"
    assert spirited["original_language"] == "ja"
    assert spirited["year"] == 2001
    assert spirited["release_date"] == dt.date(2001, 7, 20)
    assert spirited["alt_titles"] == ["Sen to Chihiro no kamikakushi"]
    # MovieLens genres first, then the TMDB names that are new
    assert spirited["genres"] == ["Adventure", "Animation", "Fantasy", "Family"]
    assert spirited["keywords"] == ["witch", "bath house"]
    assert spirited["countries"] == ["Japan"]
    assert spirited["spoken_languages"] == ["ja"]
    assert (spirited["runtime_min"], spirited["vote_count"]) == (125, 3840)
    assert (spirited["tmdb_id"], spirited["imdb_id"]) == (129, "tt0245429")

    toy = _item(frame, "1")  # tmdb_5000 wins over movies_metadata_small
    assert toy["description"] == "Led by Woody, Andy's toys live happily in his room."
    assert toy["sources"] == ["movielens", "tmdb_5000", "movies_metadata_small"]

    monkeys = _item(frame, "32")  # small has no overview and a broken genres cell
    assert monkeys["description"] == "CLEANED overview of Twelve Monkeys."
    # MovieLens "Sci-Fi" and TMDB "Science Fiction": one genre of one vocabulary
    assert monkeys["genres"] == ["Mystery", "Science Fiction", "Thriller"]
    assert monkeys["original_title"] == "Twelve Monkeys"

    bear = _item(frame, "3000")  # only the English language file knows it
    assert bear["title"] == "The Bear"
    assert bear["alt_titles"] == ["L'Ours"]
    assert bear["description"] == "An orphaned bear cub befriends an adult grizzly."
    assert bear["release_date"] == dt.date(1988, 10, 19)
    assert bear["vote_average"] == 7.3

    babylon = _item(frame, "40697")  # no year, no tmdbId: MovieLens fields only
    assert (babylon["year"], babylon["tmdb_id"], babylon["sources"]) == (None, None, ["movielens"])
    assert _item(frame, "171749")["year"] == 2006  # "(2006–2007)"


def test_localizations(built: tuple[pl.DataFrame, IngestReport]) -> None:
    frame, report = built
    assert _item(frame, "5618")["localizations"] == [
        {
            "lang": "es",
            "title": "El viaje de Chihiro",
            "description": "Chihiro y sus padres llegan a un pueblo abandonado...",
        },
        {
            "lang": "fr",
            "title": "Le Voyage de Chihiro",
            "description": 'Chihiro découvre un monde "étrange" peuplé de dieux.',
        },
    ]
    city = _item(frame, "29")
    assert city["title"] == "The City of Lost Children"
    assert [(x["lang"], x["title"]) for x in city["localizations"]] == [
        ("fr", "La Cité des enfants perdus")
    ]
    assert city["sources"] == ["movielens", "movies_metadata_small", "tmdb_lang_fr"]
    assert report.localizations == {"es": 1, "fr": 3, "it": 1}
    # English is a fallback source, never a localization entry
    langs = frame["localizations"].explode().struct.field("lang").drop_nulls().unique()
    assert "en" not in langs.to_list()


def test_netflix_merge(built: tuple[pl.DataFrame, IngestReport]) -> None:
    frame, report = built
    merged = frame.filter(pl.col("movielens_id").is_not_null() & pl.col("netflix_id").is_not_null())
    assert dict(zip(merged["item_id"], merged["netflix_id"], strict=True)) == {
        "32": "s4",  # "12 Monkeys" 1996 = alt title of Twelve Monkeys (1995)
        "1213": "s3",  # "GoodFellas"
        "2959": "s1",  # exact title and year
        "6000": "s7",  # exact year wins over s8 (1973)
    }
    fight = _item(frame, "2959")
    assert fight["cast"] == ["Brad Pitt", "Edward Norton"]
    assert fight["directors"] == ["David Fincher"]
    assert fight["maturity_rating"] == "R"
    assert fight["date_added"] == dt.date(2021, 9, 25)
    assert fight["countries"] == ["Germany", "United States"]  # union, deduplicated
    assert fight["description"].startswith("A ticking-time-bomb")  # TMDB text kept
    assert fight["sources"][-1] == "netflix"
    goodfellas = _item(frame, "1213")
    assert goodfellas["alt_titles"] == []  # "GoodFellas" differs only by case
    assert goodfellas["runtime_min"] == 146
    assert report.netflix == {
        "ambiguous_title": 1,  # s5 "Hamlet" 1991 vs Hamlet 1990 and 1992
        "contested_movie": 1,  # s8 "Solaris" 1973 lost to s7
        "merged_article": 0,
        "merged_subtitle": 0,
        "merged_both_subtitled": 0,
        "merged": 4,
        "added_movies": 4,
        "added_tv_shows": 1,
    }
    hamlet = _item(frame, "s5")
    assert (hamlet["type"], hamlet["movielens_id"], hamlet["sources"]) == (
        "movie",
        None,
        ["netflix"],
    )
    show = _item(frame, "s2")
    assert (show["type"], show["seasons"], show["maturity_rating"]) == ("tv_show", 2, "TV-MA")


def test_match_netflix_rules() -> None:
    items = pl.DataFrame(
        {
            "item_id": ["1", "2", "3"],
            "title": ["The Matrix", "Heat", "Heat"],
            "alt_titles": [["Matrix"], [], []],
            "original_title": ["The Matrix", None, None],
            "year": [1999, 1986, 1995],
        },
        schema_overrides={"year": pl.Int32},
    )
    netflix = pl.DataFrame(
        {
            "netflix_id": ["s1", "s2", "s3", "s4"],
            "type": ["movie", "movie", "tv_show", "movie"],
            "title": ["Matrix, The", "Heat", "The Matrix", "Héat!"],
            "year": [2000, 1995, 1999, 1990],
        },
        schema_overrides={"year": pl.Int32},
    )
    report = IngestReport(data_dir="x")
    matches = match_netflix(items, netflix, report)
    assert matches.rows() == [("s1", "1"), ("s2", "3")]  # s3 is a TV show, s4 too far off
    assert report.netflix == {
        "ambiguous_title": 0,
        "contested_movie": 0,
        "merged_article": 0,
        "merged_subtitle": 0,
        "merged_both_subtitled": 0,
    }


def test_report(built: tuple[pl.DataFrame, IngestReport]) -> None:
    _, report = built
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["enriched"] == {
        "tmdb_5000": 3,
        "movies_metadata_small": 3,
        "movies_metadata_cleaned": 3,
        "tmdb_lang_en": 2,
    }
    assert data["merged"]["items"] == 17
    assert data["merged"]["movielens_items"] == 12
    assert data["merged"]["netflix_items"] == 5
    assert data["skipped"] == ["tmdb_language_specific/top10_klingon_films.csv"]
    assert data["dropped_total"] == {
        "duplicate_id": 7,
        "misaligned_row": 1,
        "missing_id": 3,
        "missing_title": 2,
        "non_numeric_id": 3,
        "unknown_type": 1,
    }
    for source in report.sources.values():
        if source.status == "read":
            assert source.rows_read == source.rows_kept + source.rows_dropped, source.name
    lines = report.summary_lines()
    assert lines[0] == f"ingest from {DATA}"
    assert any(
        line.startswith("  tmdb_lang_it: read 2, kept 1, dropped misaligned_row=1")
        for line in lines
    )
    assert any("merged=4" in line for line in lines)


def test_deterministic(built: tuple[pl.DataFrame, IngestReport]) -> None:
    frame, report = built
    again, report_again = build_catalog(DATA)
    assert frame.equals(again)
    assert report.to_dict() == report_again.to_dict()


def test_optional_sources_absent(data_copy: Path) -> None:
    shutil.rmtree(data_copy / "tmdb_5000")
    shutil.rmtree(data_copy / "the_movies_dataset")
    shutil.rmtree(data_copy / "tmdb_language_specific")
    frame, report = build_catalog(data_copy)
    assert frame.height == 17
    assert report.skipped == [
        "tmdb_5000",
        "movies_metadata_small",
        "movies_metadata_cleaned",
        "tmdb_language_specific",
    ]
    assert report.sources["tmdb_5000"].note == "missing file"
    assert _item(frame, "5618")["original_title"] is None
    assert frame["localizations"].list.len().sum() == 0
    assert report.netflix["merged"] == 4


def test_some_languages_absent(data_copy: Path) -> None:
    for name in ("top10_french_films.csv", "top10_spanish_films.csv"):
        (data_copy / "tmdb_language_specific" / name).unlink()
    frame, report = build_catalog(data_copy)
    assert report.localizations == {"it": 1}
    assert _item(frame, "5618")["localizations"] == []


def test_broken_optional_source_is_skipped(data_copy: Path) -> None:
    (data_copy / "tmdb_5000" / "tmdb_5000_movies.csv").write_text("foo,bar\n1,2\n")
    frame, report = build_catalog(data_copy)
    assert report.sources["tmdb_5000"].status == "skipped"
    assert report.sources["tmdb_5000"].note == "missing required columns: id, title"
    assert _item(frame, "5618")["original_title"] is None


@pytest.mark.parametrize(
    "relative",
    ["movielens/movies.csv", "movielens/links.csv", "netflix_titles/netflix_titles.csv"],
)
def test_required_inputs(data_copy: Path, relative: str) -> None:
    (data_copy / relative).unlink()
    with pytest.raises(InputDataError, match="missing file") as err:
        build_catalog(data_copy)
    assert err.value.path == str(data_copy / relative)


def test_required_columns(data_copy: Path) -> None:
    (data_copy / "netflix_titles" / "netflix_titles.csv").write_text("show_id,kind\ns1,Movie\n")
    with pytest.raises(InputDataError, match="missing required columns: type, title"):
        build_catalog(data_copy)
