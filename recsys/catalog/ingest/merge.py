"""Merging: MovieLens + TMDB enrichment + localized texts, and Netflix <-> MovieLens matching."""

from __future__ import annotations

import polars as pl

from recsys.catalog.ingest.common import STR_LIST
from recsys.catalog.ingest.dedupe import KINDS, find_duplicates
from recsys.catalog.ingest.report import IngestReport
from recsys.catalog.ingest.titles import normalize_series
from recsys.catalog.ingest.tmdb import ENRICHMENT_SCHEMA
from recsys.catalog.schema import LOCALIZATION, conform

SCALAR_FIELDS = (
    "original_title",
    "original_language",
    "description",
    "runtime_min",
    "release_date",
    "popularity",
    "vote_average",
    "vote_count",
)
LIST_FIELDS = ("keywords", "countries", "spoken_languages")
EMPTY = pl.lit([], dtype=STR_LIST)


def _first_non_empty(columns: list[str]) -> pl.Expr:
    expr = EMPTY
    for col in reversed(columns):
        expr = pl.when(pl.col(col).list.len() > 0).then(pl.col(col)).otherwise(expr)
    return expr


def _title_keys(frame: pl.DataFrame, id_col: str, title_cols: list[str]) -> pl.DataFrame:
    """id, name, key: one row per distinct normalized title of each item (first name wins)."""
    long = (
        frame.select(pl.col(id_col), pl.concat_list(title_cols).alias("name"))
        .explode("name")
        .drop_nulls("name")
    )
    long = long.with_columns(normalize_series(long["name"]).alias("key"))
    long = long.filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
    return long.unique(subset=[id_col, "key"], keep="first", maintain_order=True)


def enrich_movielens(
    movies: pl.DataFrame,
    links: pl.DataFrame,
    sources: list[tuple[str, pl.DataFrame]],
    report: IngestReport,
) -> pl.DataFrame:
    """Join MovieLens movies with their links and the enrichment frames (highest precedence
    first); every field takes the first source that has a value, list fields the first
    non-empty list. Genres are the MovieLens genres plus the TMDB genre names.
    """
    base = movies.join(links, on="movielens_id", how="left")
    report.merged["links_without_movie"] = links.join(movies, on="movielens_id", how="anti").height
    names = [name for name, _ in sources]
    for name, frame in sources:
        renamed = frame.rename({c: f"{c}__{name}" for c in frame.columns if c != "tmdb_id"})
        base = base.join(
            renamed.with_columns(pl.lit(True).alias(f"hit__{name}")), on="tmdb_id", how="left"
        )
        report.enriched[name] = int(base[f"hit__{name}"].sum() or 0)

    def cols(field: str) -> list[str]:
        return [f"{field}__{n}" for n in names]

    def first_value(field: str) -> pl.Expr:
        if not names:
            return pl.lit(None, dtype=ENRICHMENT_SCHEMA[field])
        return pl.coalesce(cols(field))

    exprs = [first_value(f).alias(f) for f in SCALAR_FIELDS]
    exprs += [_first_non_empty(cols(f)).alias(f) for f in LIST_FIELDS]
    exprs.append(
        pl.concat_list(pl.col("genres"), _first_non_empty(cols("genres")))
        .list.unique(maintain_order=True)
        .alias("genres")
    )
    exprs.append(pl.coalesce(["imdb_id", *cols("imdb_id")]).alias("imdb_id"))
    hits = [pl.when(pl.col(f"hit__{n}")).then(pl.lit(n)) for n in names]
    exprs.append(pl.concat_list(pl.lit("movielens"), *hits).list.drop_nulls().alias("sources"))
    out = base.with_columns(exprs)

    # year from the MovieLens title, else from the TMDB release date
    fallback = out["year"].is_null() & out["release_date"].is_not_null()
    report.merged["year_from_release_date"] = int(fallback.sum())
    out = out.with_columns(
        pl.coalesce(pl.col("year"), pl.col("release_date").dt.year().cast(pl.Int32))
    )

    # TMDB English titles that are not yet known become alternative titles
    if names:
        known = _title_keys(out, "movielens_id", ["title", "alt_titles"])
        extra = _title_keys(out, "movielens_id", cols("title")).join(
            known, on=["movielens_id", "key"], how="anti"
        )
        extra = extra.group_by("movielens_id", maintain_order=True).agg(pl.col("name").alias("x"))
        out = out.join(extra, on="movielens_id", how="left").with_columns(
            pl.concat_list("alt_titles", pl.col("x").fill_null(EMPTY)).alias("alt_titles")
        )
    return out.with_columns(
        pl.col("movielens_id").cast(pl.Utf8).alias("item_id"), pl.lit("movie").alias("type")
    ).select(pl.exclude(r"^.*__.*$", "x"))


def attach_localizations(
    items: pl.DataFrame, localized: pl.DataFrame, report: IngestReport
) -> pl.DataFrame:
    """Add `localizations` (non-English titles/overviews joined by tmdb_id), sorted by lang."""
    loc = (
        localized.filter(pl.col("lang") != "en")
        .join(items.select("movielens_id", "tmdb_id").drop_nulls("tmdb_id"), on="tmdb_id")
        .sort("movielens_id", "lang")
    )
    for lang, n in loc.group_by("lang").agg(pl.col("movielens_id").n_unique()).sort("lang").rows():
        report.localizations[lang] = int(n)
    entries = loc.group_by("movielens_id", maintain_order=True).agg(
        pl.struct("lang", "title", "description").alias("localizations"),
        pl.concat_str(pl.lit("tmdb_lang_"), pl.col("lang")).unique(maintain_order=True).alias("ls"),
    )
    out = items.join(entries, on="movielens_id", how="left")
    return out.with_columns(
        pl.col("localizations").fill_null(pl.lit([], dtype=pl.List(LOCALIZATION))),
        pl.concat_list("sources", pl.col("ls").fill_null(EMPTY)).alias("sources"),
    ).drop("ls")


def match_netflix(items: pl.DataFrame, netflix: pl.DataFrame, report: IngestReport) -> pl.DataFrame:
    """netflix_id -> item_id for Netflix movies that are the same work as a MovieLens movie.

    Same work: the normalized Netflix title equals the normalized MovieLens title, one of its
    alt_titles or its original_title, and the years differ by at most one. A Netflix row with
    several candidates takes the unique exact-year one, otherwise it is ambiguous (not merged).
    A MovieLens movie claimed by several Netflix rows keeps the unique exact-year row; the
    others are added as separate Netflix items.
    """
    ml_keys = _title_keys(items, "item_id", ["title", "alt_titles", "original_title"]).join(
        items.select("item_id", pl.col("year").alias("ml_year")), on="item_id"
    )
    movies = netflix.filter(pl.col("type") == "movie").select(
        "netflix_id", pl.col("year").alias("nf_year"), "title"
    )
    movies = movies.with_columns(normalize_series(movies["title"]).alias("key"))
    cand = (
        movies.join(ml_keys.select("item_id", "key", "ml_year"), on="key")
        .filter((pl.col("nf_year") - pl.col("ml_year")).abs() <= 1)
        .with_columns((pl.col("nf_year") == pl.col("ml_year")).alias("exact"))
        .unique(subset=["netflix_id", "item_id"], keep="first", maintain_order=True)
    )

    def resolve(frame: pl.DataFrame, by: str) -> pl.DataFrame:
        n = pl.len().over(by)
        n_exact = pl.col("exact").sum().over(by)
        return frame.filter((n == 1) | (pl.col("exact") & (n_exact == 1)))

    per_title = resolve(cand, "netflix_id")  # one row per Netflix title
    per_item = resolve(per_title, "item_id")  # and one per MovieLens movie
    report.netflix["ambiguous_title"] = cand["netflix_id"].n_unique() - per_title.height
    report.netflix["contested_movie"] = per_title.height - per_item.height
    exact = per_item.select("netflix_id", "item_id")
    fuzzy = _near_duplicates(items, netflix, exact, report)
    return pl.concat([exact, fuzzy]).sort("item_id", "netflix_id")


def _near_duplicates(
    items: pl.DataFrame, netflix: pl.DataFrame, exact: pl.DataFrame, report: IngestReport
) -> pl.DataFrame:
    """Netflix movies and MovieLens movies left unmatched that ``dedupe`` finds to be the
    same work (article, subtitle and subtitle-variant matches with evidence checks)."""

    def present(frame: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
        return [pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in columns]

    evidence = ["year", "runtime_min", "description"]
    rest = items.join(exact, on="item_id", how="anti")
    rest = rest.select(
        present(rest, ["item_id", "title", "original_title", "alt_titles", *evidence])
    )
    movies = netflix.filter(pl.col("type") == "movie").join(exact, on="netflix_id", how="anti")
    movies = movies.select(present(movies, ["netflix_id", "title", *evidence]))
    found = find_duplicates(movies.to_dicts(), rest.to_dicts())
    for kind in KINDS:
        report.netflix[f"merged_{kind}"] = sum(c.kind == kind for c in found)
    return pl.DataFrame(
        {"netflix_id": [c.netflix_id for c in found], "item_id": [c.item_id for c in found]},
        schema={"netflix_id": pl.Utf8, "item_id": pl.Utf8},
    )


def merge_netflix(
    items: pl.DataFrame, netflix: pl.DataFrame, matches: pl.DataFrame, report: IngestReport
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(MovieLens items enriched by their matched Netflix rows, Netflix-only items)."""
    nf = netflix.join(matches, on="netflix_id").rename(
        {c: f"nf_{c}" for c in netflix.columns if c != "netflix_id"}
    )
    out = items.join(nf, on="item_id", how="left")
    hit = pl.col("netflix_id").is_not_null()
    known = pl.concat_list("title", "alt_titles").list.eval(pl.element().str.to_lowercase())
    nf_title_new = hit & ~known.list.contains(pl.col("nf_title").str.to_lowercase())
    out = out.with_columns(
        pl.col("nf_cast").fill_null(EMPTY).alias("cast"),
        pl.col("nf_directors").fill_null(EMPTY).alias("directors"),
        pl.col("nf_maturity_rating").alias("maturity_rating"),
        pl.col("nf_date_added").alias("date_added"),
        pl.concat_list("countries", pl.col("nf_countries").fill_null(EMPTY))
        .list.unique(maintain_order=True)
        .alias("countries"),
        pl.coalesce("description", "nf_description").alias("description"),
        pl.coalesce("runtime_min", "nf_runtime_min").alias("runtime_min"),
        pl.when(nf_title_new)
        .then(pl.concat_list("alt_titles", "nf_title"))
        .otherwise(pl.col("alt_titles"))
        .alias("alt_titles"),
        pl.when(hit)
        .then(pl.concat_list("sources", pl.lit("netflix")))
        .otherwise(pl.col("sources"))
        .alias("sources"),
    ).select(pl.exclude(r"^nf_.*$"))

    added = netflix.join(matches, on="netflix_id", how="anti").with_columns(
        pl.col("netflix_id").alias("item_id"),
        pl.lit(["netflix"], dtype=STR_LIST).alias("sources"),
    )
    report.netflix["merged"] = matches.height
    report.netflix["added_movies"] = added.filter(pl.col("type") == "movie").height
    report.netflix["added_tv_shows"] = added.filter(pl.col("type") == "tv_show").height
    return out, added


def assemble(movielens: pl.DataFrame, netflix_only: pl.DataFrame) -> pl.DataFrame:
    """Both parts in CATALOG_SCHEMA: MovieLens ids in numeric order, then Netflix ids."""
    frame = pl.concat([conform(movielens), conform(netflix_only)], how="vertical")
    order = frame.select(
        pl.col("movielens_id").is_null().alias("_nf"),
        pl.col("movielens_id").alias("_ml"),
        pl.col("item_id").str.extract(r"(\d+)$", 1).cast(pl.Int64).alias("_num"),
        pl.col("item_id").alias("_id"),
    )
    return (
        pl.concat([frame, order], how="horizontal")
        .sort("_nf", "_ml", "_num", "_id", nulls_last=True)
        .drop("_nf", "_ml", "_num", "_id")
    )
