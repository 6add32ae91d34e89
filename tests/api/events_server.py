"""A real server for the durability test: the app with the fake engine, under uvicorn.

python -m tests.api.events_server DB_PATH PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from tests.api.conftest import FakeService, make_settings


def main(argv: list[str]) -> None:
    db, port = Path(argv[0]), int(argv[1])
    app = create_app(make_settings(events_db=db), lambda _settings: FakeService())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
