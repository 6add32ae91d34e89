"""recsys HTTP service: a thin FastAPI layer over the engine's ``SearchService`` protocol.

Build an app with :func:`api.app.create_app`; run it with
``uvicorn --factory api.app:app_factory`` (settings from ``RECSYS_*`` environment variables).
"""
