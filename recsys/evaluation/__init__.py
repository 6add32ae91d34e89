"""Offline evaluation: ranking metrics, per-user metrics, bootstrap statistics."""
