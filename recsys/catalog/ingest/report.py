"""What the ingestion stage read, kept, dropped and merged, and why.

Every reader fills one `SourceReport`; `build_catalog` collects them into an `IngestReport`
together with the merge counts. `to_dict()` goes into the artifact manifest (plain JSON types
only), `summary_lines()` is what the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceReport:
    """Accounting for one input file (or one language file).

    Invariant for a source that was read: rows_read == rows_kept + sum(dropped.values()).
    `issues` counts rows that were kept but had a cell repaired or emptied (for example an
    unparseable list cell that became an empty list); those rows are not dropped.
    """

    name: str
    path: str
    status: str = "read"  # "read" or "skipped"
    note: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    issues: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def issue(self, reason: str, count: int) -> None:
        if count:
            self.issues[reason] = self.issues.get(reason, 0) + int(count)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "status": self.status,
            "note": self.note,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "issues": dict(sorted(self.issues.items())),
        }


@dataclass
class IngestReport:
    """Everything `build_catalog` did, per source and for the merge."""

    data_dir: str
    sources: dict[str, SourceReport] = field(default_factory=dict)
    # MovieLens movies that received at least one field from each enrichment source
    enriched: dict[str, int] = field(default_factory=dict)
    # MovieLens movies that received a localization, per language code
    localizations: dict[str, int] = field(default_factory=dict)
    # Netflix matching: merged / added_movies / added_tv_shows / ambiguous_title / ...
    netflix: dict[str, int] = field(default_factory=dict)
    # other merge facts: items, movielens_items, year_from_release_date, ...
    merged: dict[str, int] = field(default_factory=dict)
    # source genres the vocabulary (recsys/catalog/genres.py) does not map, with item counts
    unmapped_genres: dict[str, int] = field(default_factory=dict)

    def source(self, name: str, path: str) -> SourceReport:
        """The report of source `name`, created on first use."""
        if name not in self.sources:
            self.sources[name] = SourceReport(name=name, path=path)
        return self.sources[name]

    @property
    def skipped(self) -> list[str]:
        return [s.name for s in self.sources.values() if s.status == "skipped"]

    @property
    def dropped_total(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for s in self.sources.values():
            for reason, n in s.dropped.items():
                total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "sources": {name: s.to_dict() for name, s in self.sources.items()},
            "skipped": self.skipped,
            "dropped_total": self.dropped_total,
            "enriched": dict(self.enriched),
            "localizations": dict(sorted(self.localizations.items())),
            "netflix": dict(self.netflix),
            "merged": dict(self.merged),
            "unmapped_genres": dict(sorted(self.unmapped_genres.items())),
        }

    def summary_lines(self) -> list[str]:
        lines = [f"ingest from {self.data_dir}"]
        for s in self.sources.values():
            if s.status == "skipped":
                lines.append(f"  {s.name}: skipped ({s.note})")
                continue
            line = f"  {s.name}: read {s.rows_read}, kept {s.rows_kept}"
            if s.dropped:
                line += ", dropped " + _fmt(s.dropped)
            if s.issues:
                line += "; noted " + _fmt(s.issues)
            lines.append(line)
        if self.enriched:
            lines.append("  enrichment of MovieLens movies: " + _fmt(self.enriched, sort=False))
        if self.localizations:
            lines.append("  localizations: " + _fmt(self.localizations))
        if self.netflix:
            lines.append("  netflix: " + _fmt(self.netflix, sort=False))
        if self.merged:
            lines.append("  catalog: " + _fmt(self.merged, sort=False))
        if self.unmapped_genres:
            lines.append("  genres kept unmapped: " + _fmt(self.unmapped_genres))
        return lines


def _fmt(counts: dict[str, int], *, sort: bool = True) -> str:
    items = sorted(counts.items()) if sort else list(counts.items())
    return ", ".join(f"{k}={v}" for k, v in items)
