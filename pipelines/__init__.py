"""Offline jobs: each a plain function plus a thin CLI entry (see pipelines.cli)."""
