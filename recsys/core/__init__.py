"""Shared foundations: errors, request/response types, text normalization, artifacts."""
