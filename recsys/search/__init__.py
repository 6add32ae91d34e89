"""Stage 3-4: encoders, embeddings, the vector and lexical indexes, hybrid retrieval."""
