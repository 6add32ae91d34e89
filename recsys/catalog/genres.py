"""One genre vocabulary for the whole catalog.

MovieLens ("Sci-Fi", "Children"), TMDB ("Science Fiction", "Family") and Netflix
("Sci-Fi & Fantasy", "Comedies", "TV Dramas", "International Movies") each name genres their
own way; Inception used to be "Sci-Fi", "Science Fiction" and "IMAX" at once, and
``genre=comedy`` missed every Netflix "Comedies". Ingest maps every source genre through
``SOURCE_GENRES`` to canonical names (``CANONICAL``); formats and catalog sections that are
not genres ("IMAX", "Movies", "TV Shows") map to nothing. Filters accept a canonical name, any
source name and a few common spellings (``resolve``), case-insensitively. The table is
rendered in data/README.md ("Genre vocabulary"); a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

CANONICAL = (
    "Action",
    "Adventure",
    "Animation",
    "Anime",
    "Classic",
    "Comedy",
    "Crime",
    "Cult",
    "Documentary",
    "Drama",
    "Faith & Spirituality",
    "Family",
    "Fantasy",
    "Film Noir",
    "History",
    "Horror",
    "Independent",
    "International",
    "Kids",
    "LGBTQ",
    "Music",
    "Mystery",
    "Reality",
    "Romance",
    "Science & Nature",
    "Science Fiction",
    "Sports",
    "Stand-Up Comedy",
    "Talk Show",
    "Teen",
    "Thriller",
    "TV Movie",
    "War",
    "Western",
)

# source genre -> canonical genres (an empty tuple: not a genre)
SOURCE_GENRES: dict[str, tuple[str, ...]] = {
    # MovieLens
    "Sci-Fi": ("Science Fiction",),
    "Children": ("Kids", "Family"),
    "Film-Noir": ("Film Noir", "Crime"),
    "Musical": ("Music",),
    "IMAX": (),
    "(no genres listed)": (),
    # TMDB
    "Science Fiction": ("Science Fiction",),
    "Foreign": ("International",),
    "TV Movie": ("TV Movie",),
    # Netflix
    "International Movies": ("International",),
    "International TV Shows": ("International",),
    "British TV Shows": ("International",),
    "Korean TV Shows": ("International",),
    "Spanish-Language TV Shows": ("International",),
    "Dramas": ("Drama",),
    "TV Dramas": ("Drama",),
    "Comedies": ("Comedy",),
    "TV Comedies": ("Comedy",),
    "Thrillers": ("Thriller",),
    "TV Thrillers": ("Thriller",),
    "Horror Movies": ("Horror",),
    "TV Horror": ("Horror",),
    "Documentaries": ("Documentary",),
    "Docuseries": ("Documentary",),
    "Action & Adventure": ("Action", "Adventure"),
    "TV Action & Adventure": ("Action", "Adventure"),
    "Sci-Fi & Fantasy": ("Science Fiction", "Fantasy"),
    "TV Sci-Fi & Fantasy": ("Science Fiction", "Fantasy"),
    "Children & Family Movies": ("Kids", "Family"),
    "Kids' TV": ("Kids", "Family"),
    "Romantic Movies": ("Romance",),
    "Romantic TV Shows": ("Romance",),
    "Crime TV Shows": ("Crime",),
    "TV Mysteries": ("Mystery",),
    "Independent Movies": ("Independent",),
    "Music & Musicals": ("Music",),
    "Stand-Up Comedy": ("Stand-Up Comedy", "Comedy"),
    "Stand-Up Comedy & Talk Shows": ("Stand-Up Comedy", "Talk Show", "Comedy"),
    "Reality TV": ("Reality",),
    "Sports Movies": ("Sports",),
    "Anime Series": ("Anime", "Animation"),
    "Anime Features": ("Anime", "Animation"),
    "LGBTQ Movies": ("LGBTQ",),
    "Science & Nature TV": ("Science & Nature", "Documentary"),
    "Teen TV Shows": ("Teen",),
    "Faith & Spirituality": ("Faith & Spirituality",),
    "Classic Movies": ("Classic",),
    "Cult Movies": ("Cult",),
    "Classic & Cult TV": ("Classic", "Cult"),
    "Movies": (),
    "TV Shows": (),
}
# spellings people type that are neither canonical nor a source name
EXTRA_ALIASES = {
    "scifi": "Science Fiction",
    "sci fi": "Science Fiction",
    "science-fiction": "Science Fiction",
    "children": "Kids",
    "kid": "Kids",
    "documentaries": "Documentary",
    "doc": "Documentary",
    "romantic": "Romance",
    "romcom": "Romance",
    "musicals": "Music",
    "noir": "Film Noir",
    "foreign": "International",
    "stand-up": "Stand-Up Comedy",
    "standup": "Stand-Up Comedy",
}


def canonical_genres(source_genres: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """(canonical genres in first-seen order, source genres the table does not know). A
    canonical name passes through; an unknown one is kept as it is (and reported)."""
    out: list[str] = []
    unknown: list[str] = []
    for genre in source_genres or []:
        if genre in SOURCE_GENRES:
            mapped: tuple[str, ...] = SOURCE_GENRES[genre]
        elif genre in CANONICAL:
            mapped = (genre,)
        else:
            mapped = (genre,)
            unknown.append(genre)
        out.extend(g for g in mapped if g not in out)
    return out, unknown


def normalize_genres(catalog: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """The catalog with canonical genres, and the source genres the table does not know
    (with their item counts: they are kept as they are)."""
    rows = catalog["genres"].to_list()
    unknown: dict[str, int] = {}
    mapped = []
    for genres in rows:
        names, missing = canonical_genres(genres)
        mapped.append(names)
        for name in missing:
            unknown[name] = unknown.get(name, 0) + 1
    series = pl.Series("genres", mapped, dtype=pl.List(pl.Utf8))
    return catalog.with_columns(series), unknown


def aliases() -> dict[str, str]:
    """Every accepted spelling (casefolded) -> its canonical genre: canonical names, source
    names with a single canonical genre (or, for pairs such as "Sci-Fi & Fantasy", the first)
    and the extra spellings."""
    out = {name.casefold(): name for name in CANONICAL}
    for source, mapped in SOURCE_GENRES.items():
        if mapped:
            out.setdefault(source.casefold(), mapped[0])
    for alias, name in EXTRA_ALIASES.items():
        out.setdefault(alias.casefold(), name)
    return out


def markdown_table() -> str:
    """The mapping as the Markdown table in data/README.md."""
    lines = ["| source genre | canonical genres |", "|---|---|"]
    for source, mapped in sorted(SOURCE_GENRES.items(), key=lambda kv: kv[0].casefold()):
        lines.append(f"| {source} | {', '.join(mapped) if mapped else '(dropped: not a genre)'} |")
    return "\n".join(lines)
