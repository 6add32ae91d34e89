"""Known-answer tests for the ingestion readers and title helpers (fixtures in fixtures/data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from recsys.catalog.ingest.localized import (
    discover_localized_files,
    read_localized_file,
    repair_cell,
    unknown_localized_files,
)
from recsys.catalog.ingest.movielens import read_movielens_links, read_movielens_movies
from recsys.catalog.ingest.netflix import read_netflix
from recsys.catalog.ingest.report import SourceReport
from recsys.catalog.ingest.titles import normalize_title, parse_movielens_title, uninvert
from recsys.catalog.ingest.tmdb import (
    ENRICHMENT_SCHEMA,
    read_movies_metadata_cleaned,
    read_movies_metadata_small,
    read_tmdb_5000,
)
from recsys.core.errors import InputDataError

DATA = Path(__file__).parent / "fixtures" / "data"


def _report(name: str) -> SourceReport:
    return SourceReport(name, name)


def _row(frame: pl.DataFrame, col: str, value: object) -> dict:
    rows = frame.filter(pl.col(col) == value).to_dicts()
    assert len(rows) == 1, f"{col}={value!r}: {len(rows)} rows"
    return rows[0]


def _balanced(rep: SourceReport) -> None:
    assert rep.rows_read == rep.rows_kept + rep.rows_dropped


# --- titles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "title", "alts", "year", "problem"),
    [
        ("Toy Story (1995)", "Toy Story", [], 1995, None),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children",
            ["La Cité des enfants perdus"],
            1995,
            None,
        ),
        (
            "Léon: The Professional (a.k.a. The Professional) (Léon) (1994)",
            "Léon: The Professional",
            ["The Professional", "Léon"],
            1994,
            None,
        ),
        ("Bear, The (Ours, L') (1988)", "The Bear", ["L'Ours"], 1988, None),
        ("Crow, The: Wicked Prayer (2005)", "The Crow: Wicked Prayer", [], 2005, None),
        (
            "Good, the Bad and the Ugly, The (1966)",
            "The Good, the Bad and the Ugly",
            [],
            1966,
            None,
        ),
        ("Honey, I Blew Up the Kid (1992)", "Honey, I Blew Up the Kid", [], 1992, None),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", [], 2009, None),
        ("Frontière(s) (2007)", "Frontière(s)", [], 2007, None),
        ("Blind Side, The  (2009)", "The Blind Side", [], 2009, None),
        ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", [], 2006, "year_range"),
        ("Babylon 5", "Babylon 5", [], None, "year_missing"),
        ("Déjà Vu (Deja Vu) (2006)", "Déjà Vu", ["Deja Vu"], 2006, None),
    ],
)
def test_parse_movielens_title(
    raw: str, title: str, alts: list[str], year: int | None, problem: str | None
) -> None:
    parsed = parse_movielens_title(raw)
    assert (parsed.title, parsed.alt_titles, parsed.year, parsed.year_problem) == (
        title,
        alts,
        year,
        problem,
    )


def test_uninvert_and_normalize() -> None:
    assert uninvert("Misérables, Les") == "Les Misérables"
    assert uninvert("Paris, Texas") == "Paris, Texas"
    assert normalize_title("Amélie, The") == "the amelie"
    assert normalize_title("Schindler's List") == "schindlers list"
    assert normalize_title("Spider-Man") == normalize_title("Spider Man") == "spider man"
    assert normalize_title("Dumb & Dumber") == "dumb and dumber"
    assert normalize_title("Straße") == "strasse"
    assert normalize_title("GoodFellas") == normalize_title("Goodfellas")
    assert normalize_title("") == normalize_title(None) == ""


# --- MovieLens --------------------------------------------------------------------------------


def test_read_movielens_movies() -> None:
    rep = _report("movielens_movies")
    movies = read_movielens_movies(DATA / "movielens" / "movies.csv", rep)
    assert movies.schema == pl.Schema(
        {
            "movielens_id": pl.Int64(),
            "title": pl.Utf8(),
            "alt_titles": pl.List(pl.Utf8),
            "year": pl.Int32(),
            "genres": pl.List(pl.Utf8),
        }
    )
    assert movies["movielens_id"].to_list() == [
        1, 29, 32, 1213, 2959, 3000, 4000, 4001, 5618, 6000, 40697, 171749,
    ]  # fmt: skip
    assert (rep.rows_read, rep.rows_kept) == (16, 12)
    assert rep.dropped == {
        "duplicate_id": 1,
        "missing_id": 1,
        "non_numeric_id": 1,
        "missing_title": 1,
    }
    assert rep.issues == {"year_missing": 1, "year_range": 1}
    _balanced(rep)
    twelve = _row(movies, "movielens_id", 32)
    assert twelve["title"] == "Twelve Monkeys"  # the first of the duplicated ids is kept
    assert twelve["alt_titles"] == ["12 Monkeys"]
    assert _row(movies, "movielens_id", 171749)["genres"] == []
    assert _row(movies, "movielens_id", 40697)["year"] is None


def test_read_movielens_links() -> None:
    rep = _report("movielens_links")
    links = read_movielens_links(DATA / "movielens" / "links.csv", rep)
    assert (rep.rows_read, rep.rows_kept) == (13, 12)
    assert rep.dropped == {"duplicate_id": 1}
    assert rep.issues == {"missing_tmdb_id": 4}
    assert _row(links, "movielens_id", 1) == {
        "movielens_id": 1,
        "imdb_id": "tt0114709",
        "tmdb_id": 862,
    }
    assert _row(links, "movielens_id", 2959)["tmdb_id"] == 550  # not the duplicate's 999
    assert _row(links, "movielens_id", 40697)["tmdb_id"] is None


def test_required_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="missing file") as err:
        read_movielens_movies(tmp_path / "movies.csv")
    assert err.value.path == str(tmp_path / "movies.csv")

    bad_cols = tmp_path / "links.csv"
    bad_cols.write_text("movieId,imdb\n1,0114709\n")
    with pytest.raises(InputDataError, match="missing required columns: imdbId, tmdbId"):
        read_movielens_links(bad_cols)

    garbage = tmp_path / "netflix_titles.csv"
    garbage.write_bytes(b"show_id,type,title\ns1,Movie,\xff\xfe\xfa\n")
    with pytest.raises(InputDataError, match="not parseable"):
        read_netflix(garbage)


# --- TMDB -------------------------------------------------------------------------------------


def test_read_tmdb_5000_json_cells() -> None:
    rep = _report("tmdb_5000")
    frame = read_tmdb_5000(DATA / "tmdb_5000" / "tmdb_5000_movies.csv", rep)
    assert frame.schema == pl.Schema(ENRICHMENT_SCHEMA)
    assert frame["tmdb_id"].to_list() == [862, 129, 550]
    assert rep.dropped == {"duplicate_id": 1, "non_numeric_id": 1}
    assert rep.issues == {"unparseable_list": 1}  # the cut-off keywords cell of 550
    _balanced(rep)
    spirited = _row(frame, "tmdb_id", 129)
    assert spirited["original_title"] == "千と千尋の神隠し"
    assert spirited["original_language"] == "ja"
    assert spirited["genres"] == ["Fantasy", "Animation", "Family"]
    assert spirited["keywords"] == ["witch", "bath house"]
    assert spirited["spoken_languages"] == ["ja"]
    assert spirited["runtime_min"] == 125
    assert spirited["release_date"] == dt.date(2001, 7, 20)
    fight = _row(frame, "tmdb_id", 550)
    assert fight["keywords"] == []
    assert fight["countries"] == ["Germany", "United States"]  # alias of "...of America"
    assert _row(frame, "tmdb_id", 862)["title"] == "Toy Story"  # not the duplicate


def test_read_movies_metadata_small_python_literals() -> None:
    rep = _report("movies_metadata_small")
    frame = read_movies_metadata_small(
        DATA / "the_movies_dataset" / "movies_metadata_small.csv", rep
    )
    assert frame["tmdb_id"].to_list() == [862, 902, 63]
    assert rep.dropped == {"duplicate_id": 1, "non_numeric_id": 1}
    assert rep.issues == {"unparseable_list": 1}
    city = _row(frame, "tmdb_id", 902)
    assert city["original_title"] == "La Cité des Enfants Perdus"
    assert city["genres"] == ["Fantasy", "Science Fiction"]
    assert city["countries"] == ["France", "Germany"]
    assert city["imdb_id"] == "tt0112682"
    monkeys = _row(frame, "tmdb_id", 63)
    assert monkeys["genres"] == []  # malformed literal
    assert monkeys["description"] is None
    assert monkeys["runtime_min"] == 129


def test_read_movies_metadata_cleaned() -> None:
    rep = _report("movies_metadata_cleaned")
    frame = read_movies_metadata_cleaned(
        DATA / "the_movies_dataset" / "movies_metadata_cleaned.csv", rep
    )
    assert frame["tmdb_id"].to_list() == [63, 769, 593]
    assert rep.dropped == {"duplicate_id": 1}
    assert rep.issues == {"unparseable_list": 1}
    goodfellas = _row(frame, "tmdb_id", 769)
    assert goodfellas["description"] == "The true story of Henry Hill."
    assert goodfellas["genres"] == ["Drama", "Crime"]
    assert goodfellas["vote_count"] == 3211  # "3211.0", first of the duplicates
    assert _row(frame, "tmdb_id", 593)["genres"] == []


# --- language-specific files ------------------------------------------------------------------


def test_discover_localized_files() -> None:
    directory = DATA / "tmdb_language_specific"
    assert {k: p.name for k, p in discover_localized_files(directory).items()} == {
        "en": "top10_american_films.csv",
        "fr": "top10_french_films.csv",
        "it": "top10_italian_films.csv",
        "es": "top10_spanish_films.csv",
    }
    assert [p.name for p in unknown_localized_files(directory)] == ["top10_klingon_films.csv"]
    assert discover_localized_files(directory / "absent") == {}


def test_repair_cell() -> None:
    assert repair_cell('"Chihiro ""étrange"" x"') == ('Chihiro "étrange" x', True)
    assert repair_cell('\'"Rok 1940 ""Teddy"" Teddy\'\'ego."\'') == (
        'Rok 1940 "Teddy" Teddy\'ego.',
        True,
    )
    assert repair_cell('"Producción mexicana...') == ("Producción mexicana...", True)
    assert repair_cell("'Til Death Do Us Part") == ("'Til Death Do Us Part", False)
    assert repair_cell('"Notorious" is the story') == ('"Notorious" is the story', False)
    assert repair_cell("   ") == (None, False)


def test_read_localized_single_quoted_french() -> None:
    rep = _report("tmdb_lang_fr")
    path = DATA / "tmdb_language_specific" / "top10_french_films.csv"
    frame = read_localized_file(path, "fr", rep)
    assert frame.columns == [
        "tmdb_id",
        "lang",
        "title",
        "description",
        "release_date",
        "vote_average",
    ]
    assert frame["tmdb_id"].to_list() == [902, 129, 12345]
    assert _row(frame, "tmdb_id", 902)["description"] == (
        "Krank vole les rêves des enfants; c'est pour cela qu'il les enlève."
    )
    assert _row(frame, "tmdb_id", 129)["description"] == (
        'Chihiro découvre un monde "étrange" peuplé de dieux.'
    )
    assert _row(frame, "tmdb_id", 12345)["title"] == "L'Ours"
    assert rep.issues == {"quote_repaired": 1}
    assert rep.dropped == {}


def test_read_localized_misaligned_and_duplicates() -> None:
    rep_it = _report("tmdb_lang_it")
    italian = read_localized_file(
        DATA / "tmdb_language_specific" / "top10_italian_films.csv", "it", rep_it
    )
    assert italian["tmdb_id"].to_list() == [550]
    assert rep_it.dropped == {"misaligned_row": 1}  # 271884: the title swallowed the overview

    rep_es = _report("tmdb_lang_es")
    spanish = read_localized_file(
        DATA / "tmdb_language_specific" / "top10_spanish_films.csv", "es", rep_es
    )
    assert spanish.to_dicts() == [
        {
            "tmdb_id": 129,
            "lang": "es",
            "title": "El viaje de Chihiro",
            "description": "Chihiro y sus padres llegan a un pueblo abandonado...",
            "release_date": dt.date(2001, 7, 20),
            "vote_average": 8.5,
        }
    ]
    assert rep_es.dropped == {"duplicate_id": 1, "missing_id": 1}
    assert rep_es.issues == {"quote_repaired": 1}
    _balanced(rep_es)


def test_read_localized_double_quoted_english() -> None:
    frame = read_localized_file(DATA / "tmdb_language_specific" / "top10_american_films.csv", "en")
    row = _row(frame, "tmdb_id", 1108872)
    assert row["title"] == "'Til Death Do Us Part Kourtney & Travis"
    assert row["description"] == 'A "wedding" special.'


# --- Netflix ----------------------------------------------------------------------------------


def test_read_netflix() -> None:
    rep = _report("netflix")
    frame = read_netflix(DATA / "netflix_titles" / "netflix_titles.csv", rep)
    assert frame["netflix_id"].to_list() == ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"]
    assert rep.dropped == {
        "duplicate_id": 1,
        "missing_id": 1,
        "missing_title": 1,
        "unknown_type": 1,
    }
    assert rep.issues == {"duration_in_rating": 1}
    _balanced(rep)
    fight = _row(frame, "netflix_id", "s1")
    assert fight["title"] == "Fight Club"  # not the duplicate row
    assert fight["type"] == "movie"
    assert fight["cast"] == ["Brad Pitt", "Edward Norton"]
    assert fight["countries"] == ["United States", "Germany"]  # trailing comma ignored
    assert fight["genres"] == ["Dramas", "Thrillers"]
    assert fight["runtime_min"] == 139
    assert fight["date_added"] == dt.date(2021, 9, 25)
    show = _row(frame, "netflix_id", "s2")
    assert (show["type"], show["seasons"], show["runtime_min"]) == ("tv_show", 2, None)
    assert _row(frame, "netflix_id", "s3")["date_added"] == dt.date(2021, 1, 1)  # leading space
    louis = _row(frame, "netflix_id", "s9")
    assert (louis["maturity_rating"], louis["runtime_min"]) == (None, 74)
