"""The validated request parameters every route shares (annotated types and the filters
dependency); per-app limits (``k``, ``q``) are dependencies in ``api.deps``.

Validation choices (all per-parameter failures are 422 ``invalid_parameter``):

* ``q``: surrounding whitespace is stripped and internal runs of whitespace (including tab,
  CR, LF) collapse to one space; any other control character (Unicode category Cc, e.g. NUL,
  ESC, DEL) is *rejected*, not removed. Empty / whitespace-only ``q`` is rejected. The length
  limit (``max_query_chars``) applies to the normalized text.
* ``lang``: ``^[a-z]{2}$``; ``type``: ``movie`` | ``tv_show``; ``year_min``/``year_max``:
  integers in 1800..2100; ``genre``: 1..64 characters after stripping, no control characters;
  ``user_id``: 1..128 characters, no control characters (required on /recommendations).
* Contradictory but individually valid parameters (``year_min > year_max``) are 400
  ``invalid_request``. Unknown query parameters are ignored. An empty value (``lang=``) is a
  value, and is validated like any other (so it is rejected where it does not fit).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator

from recsys.catalog.facets import FACET_FIELDS
from recsys.core.errors import InvalidRequestError
from recsys.core.types import SearchFilters

YEAR_MIN, YEAR_MAX = 1800, 2100
MAX_OFFSET = 10_000
MAX_USER_ID_CHARS = 128
MAX_GENRE_CHARS = 64
ITEM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
LANG_PATTERN = r"^[a-z]{2}$"
_ALLOWED_WHITESPACE_CONTROLS = frozenset("\t\n\r")
# The OpenAPI schema states what the validators below enforce (they, not these patterns,
# produce the error messages): no control characters (Unicode Cc), and for free text at
# least one character that is not whitespace. Checked by the schemathesis test.
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]+$"
_TEXT_CHAR = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"  # tab, CR, LF ok
SOME_TEXT = rf"^{_TEXT_CHAR}*[^\s\u0000-\u001f\u007f-\u009f]{_TEXT_CHAR}*$"
_NAME_CHAR = r"[^\u0000-\u001f\u007f-\u009f]"  # no control character at all
SOME_NAME = rf"^{_NAME_CHAR}*[^\s\u0000-\u001f\u007f-\u009f]{_NAME_CHAR}*$"


def comma_list_pattern(item: str, most: int | None = None) -> str:
    """A schema pattern for a comma-separated list of ``item`` (spaces around items ok)."""
    repeat = "*" if most is None else f"{{0,{most - 1}}}"
    return rf"^\s*(?:{item})\s*(?:,\s*(?:{item})\s*){repeat}$"


def _control_chars(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    return [c for c in text if c not in allowed and unicodedata.category(c) == "Cc"]


def clean_query(value: str, max_chars: int) -> str:
    """``q`` normalized (whitespace collapsed), or ValueError saying what is wrong."""
    if _control_chars(value, _ALLOWED_WHITESPACE_CONTROLS):
        raise ValueError("must not contain control characters (e.g. NUL)")
    normalized = " ".join(value.split())
    if not normalized:
        raise ValueError("must not be empty or whitespace-only")
    if len(normalized) > max_chars:
        raise ValueError(
            f"must be at most {max_chars} characters after trimming (got {len(normalized)})"
        )
    return normalized


MAX_PREFIX_CHARS = 200


def clean_prefix(value: str) -> str:
    """A suggest prefix: like ``q`` (control characters rejected, whitespace collapsed), but
    one trailing space is kept: it says the last word is finished."""
    cleaned = clean_query(value, MAX_PREFIX_CHARS)
    return cleaned + " " if value[-1:].isspace() else cleaned


def _clean_genre(value: str) -> str:
    if _control_chars(value):
        raise ValueError("must not contain control characters")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > MAX_GENRE_CHARS:
        raise ValueError(f"must be at most {MAX_GENRE_CHARS} characters")
    return value


def _clean_user_id(value: str) -> str:
    if _control_chars(value):
        raise ValueError("must not contain control characters")
    return value


LangQuery = Annotated[
    str | None,
    Query(
        pattern=LANG_PATTERN,
        description="ISO 639-1 code (two lowercase letters) for localized titles/descriptions "
        "and query understanding. Omit for the catalog's original language.",
        examples=["fr"],
    ),
]

VARIANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

VariantQuery = Annotated[
    str | None,
    Query(
        pattern=VARIANT_PATTERN,
        description="QA override: serve this variant of the experiment running on this "
        "surface instead of the user's assigned one (400 if no running experiment has it). "
        "Forced requests are answered with the experiment and variant but are not logged as "
        "randomized exposures.",
        examples=["treatment"],
    ),
]


ItemIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ITEM_ID_PATTERN,
        description="Catalog item id: 1-64 characters of letters, digits, '_' and '-'.",
        examples=["2571"],
    ),
]

UserIdQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_USER_ID_CHARS,
        description="Opaque user id (1-128 chars, no control characters). A known user gets "
        "personally reranked results; it also decides the user's experiment arm and is "
        "recorded with what was served.",
        examples=["414"],
        json_schema_extra={"pattern": NO_CONTROL},
    ),
    AfterValidator(_clean_user_id),
]


RequiredUserIdQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_USER_ID_CHARS,
        description="Opaque user id (1-128 chars, no control characters). Required. A user "
        "the engine does not know is not an error: they get cold-start recommendations.",
        examples=["414"],
        json_schema_extra={"pattern": NO_CONTROL},
    ),
    AfterValidator(_clean_user_id),
]


MATURITY_RATING_PATTERN = re.compile(r"^[A-Za-z0-9+-]{1,16}$")
MAX_MATURITY_RATINGS = 20


def _parse_maturity_ratings(value: str | None) -> str | None:
    """'pg, PG-13' -> 'pg,PG-13'; each rating 1-16 of A-Z, 0-9, '-', '+'."""
    if value is None:
        return None
    ratings = [part.strip() for part in value.split(",")]
    if not ratings or len(ratings) > MAX_MATURITY_RATINGS:
        raise ValueError(f"give 1 to {MAX_MATURITY_RATINGS} comma-separated ratings")
    for rating in ratings:
        if not MATURITY_RATING_PATTERN.match(rating):
            raise ValueError(
                f"{rating!r} is not a maturity rating (1-16 characters: letters, digits, - or +)"
            )
    return ",".join(ratings)


def get_filters(
    item_type: Annotated[
        Literal["movie", "tv_show"] | None,
        Query(alias="type", description="Only items of this type.", examples=["movie"]),
    ] = None,
    genre: Annotated[
        str | None,
        Query(
            description="Only items with this genre (1-64 characters; any alias of a catalog "
            "genre, case-insensitive; another value is a 422 listing the genres).",
            examples=["Science Fiction"],
            json_schema_extra={"pattern": SOME_NAME, "maxLength": MAX_GENRE_CHARS},
        ),
        AfterValidator(_clean_genre),
    ] = None,
    year_min: Annotated[
        int | None,
        Query(
            ge=YEAR_MIN,
            le=YEAR_MAX,
            description="Earliest release year (inclusive).",
            examples=[1990],
        ),
    ] = None,
    year_max: Annotated[
        int | None,
        Query(
            ge=YEAR_MIN,
            le=YEAR_MAX,
            description="Latest release year (inclusive).",
            examples=[2005],
        ),
    ] = None,
    original_language: Annotated[
        str | None,
        Query(
            pattern=LANG_PATTERN,
            description="Only items originally in this language (ISO 639-1, e.g. `fr`, `ja`).",
            examples=["fr"],
        ),
    ] = None,
    maturity_rating: Annotated[
        str | None,
        Query(
            description="Only items with one of these maturity ratings, comma-separated "
            "(case-insensitive), e.g. `G,PG,TV-Y,TV-G`; a rating the catalog does not have is a "
            "422 listing them.",
            examples=["PG,PG-13,TV-PG"],
            json_schema_extra={
                "pattern": comma_list_pattern("[A-Za-z0-9+-]{1,16}", MAX_MATURITY_RATINGS)
            },
        ),
        AfterValidator(_parse_maturity_ratings),
    ] = None,
) -> SearchFilters:
    """Structured filters; the year range is checked for consistency by :func:`check_filters`
    in the handler, so that per-parameter 422s are reported before a contradiction's 400."""
    return SearchFilters(
        type=item_type,
        genre=genre,
        year_min=year_min,
        year_max=year_max,
        original_language=original_language,
        maturity_ratings=tuple(maturity_rating.split(",")) if maturity_rating else None,
    )


def check_filters(filters: SearchFilters) -> SearchFilters | None:
    """Reject contradictory filters (400); return None for "no filters"."""
    if (
        filters.year_min is not None
        and filters.year_max is not None
        and filters.year_min > filters.year_max
    ):
        raise InvalidRequestError(
            f"year_min ({filters.year_min}) must not be greater than year_max ({filters.year_max})"
        )
    return None if filters.is_empty() else filters


OffsetQuery = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_OFFSET,
        description="Results to skip: `offset` + `k` is one page of the ranked matches "
        "(`found` says how many there are). Pages of one query never repeat an item. "
        "`offset` + `k` may reach RECSYS_SEARCH__MAX_RESULTS (default 200); beyond, 400.",
        examples=[0, 10],
    ),
]


PageQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_OFFSET,
        description="1-based page of `k` results, instead of `offset` (`page=2&k=10` is "
        "`offset=10`); giving both is a 400.",
        examples=[2],
    ),
]


def page_offset(offset: int, page: int | None, k: int) -> int:
    """The offset a request asks for, by ``offset`` or by ``page`` (never both)."""
    if page is None:
        return offset
    if offset:
        raise InvalidRequestError("give offset or page, not both")
    return (page - 1) * k


def comma_names(allowed: tuple[str, ...], what: str) -> Callable[[str | None], str | None]:
    """A validator of a comma-separated list of names from ``allowed`` ("genre, type" ->
    "genre,type"; an unknown name is a 422 naming the allowed ones)."""

    def parse(value: str | None) -> str | None:
        if value is None:
            return None
        names = [part.strip() for part in value.split(",")]
        for name in names:
            if name not in allowed:
                raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(allowed)}")
        return ",".join(dict.fromkeys(names))

    return parse


FacetsQuery = Annotated[
    str | None,
    Query(
        description="Comma-separated fields to count values of over all the matches (not "
        f"just this page): any of {', '.join(FACET_FIELDS)}. Year counts by decade.",
        examples=["genre,type"],
        json_schema_extra={"pattern": comma_list_pattern("|".join(FACET_FIELDS))},
    ),
    AfterValidator(comma_names(FACET_FIELDS, "facet")),
]
