"""Stage 1-2: raw sources -> the catalog frame -> the item table and its documents."""
