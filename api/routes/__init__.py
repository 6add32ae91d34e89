"""Route modules. Each exposes ``build_router(...)`` so per-app settings (``max_k``,
``default_k``, ``max_query_chars``) shape both validation and the OpenAPI schema."""
