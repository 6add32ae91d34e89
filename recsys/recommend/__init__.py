"""Stage 5-7 for recommendations: CF models, candidates, cold start, recommender."""
