"""Stage 6-7: THE feature definitions, rankers, training lists, personal search."""
