"""A real server for the durability test: the app with the fake engine, under uvicorn.

python -m tests.api.events_server DB_PATH_OR_POSTGRESQL_URL PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from tests.api.conftest import FakeService, make_settings


def main(argv: list[str]) -> None:
    target, port = argv[0], int(argv[1])
    store = {"events_url": target} if target.startswith("postgresql://") else {}
    settings = make_settings(events_db=Path(target) if not store else Path("unused"), **store)
    app = create_app(settings, lambda _settings: FakeService())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
