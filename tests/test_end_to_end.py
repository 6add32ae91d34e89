"""End to end: a slice of the real data -> real bundled model -> artifact -> HTTP service."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from pipelines.build import BuildOptions, build

DATA = Path(__file__).parents[1] / "data"
KEEP_MOVIES = 400  # the first N MovieLens movies, plus the ones the assertions need
MUST_KEEP = {
    "5618",
    "29",
    "2959",
    "1213",
}  # Spirited Away, City of Lost Children, Fight Club, Goodfellas
KEEP_NETFLIX = 300

pytestmark = pytest.mark.slow


def _slice_csv(src: Path, dst: Path, keep) -> int:  # type: ignore[no-untyped-def]
    with (
        open(src, newline="", encoding="utf-8") as fin,
        open(dst, "w", newline="", encoding="utf-8") as fout,
    ):
        reader = csv.reader(fin)
        writer = csv.writer(fout, lineterminator="\r\n")
        writer.writerow(next(reader))
        kept = 0
        for position, row in enumerate(reader):
            if keep(position, row):
                writer.writerow(row)
                kept += 1
    return kept


@pytest.fixture(scope="module")
def data_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(DATA, root, dirs_exist_ok=True)
    _slice_csv(
        DATA / "movielens" / "movies.csv",
        root / "movielens" / "movies.csv",
        lambda i, row: i < KEEP_MOVIES or row[0] in MUST_KEEP,
    )
    _slice_csv(
        DATA / "netflix_titles" / "netflix_titles.csv",
        root / "netflix_titles" / "netflix_titles.csv",
        lambda i, row: i < KEEP_NETFLIX,
    )
    return root


@pytest.fixture(scope="module")
def client(data_slice: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("artifacts")
    build(data_slice, out, BuildOptions(progress=False))
    app = create_app(Settings(artifacts_dir=out, events_db=out / "events.sqlite3"))
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").json()
            time.sleep(0.2)
        yield client


def top_ids(client: TestClient, **params: str) -> list[str]:
    response = client.get("/v1/search", params=params)
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_english_title_finds_spirited_away_first(client: TestClient) -> None:
    assert top_ids(client, q="spirited away")[0] == "5618"


def test_native_script_title_finds_it_too(client: TestClient) -> None:
    assert top_ids(client, q="千と千尋の神隠し")[0] == "5618"


def test_typo_and_description_queries(client: TestClient) -> None:
    assert "5618" in top_ids(client, q="spirted away", k="3")
    described = "young girl trapped in a world of spirits, her parents turned into pigs"
    assert "5618" in top_ids(client, q=described, k="10")


def test_localized_response(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "city of lost children", "lang": "fr"}).json()
    first = body["items"][0]
    assert first["item_id"] == "29"
    assert first["lang"] == "fr" and "Cité" in first["title"]


def test_item_and_similar(client: TestClient) -> None:
    item = client.get("/v1/items/5618").json()
    assert item["original_title"] == "千と千尋の神隠し" and item["year"] == 2001
    similar = client.get("/v1/items/5618/similar", params={"k": 5}).json()["items"]
    assert len(similar) == 5 and "5618" not in [s["item_id"] for s in similar]
    assert client.get("/v1/items/999999999").status_code == 404


def test_readiness_reports_the_artifact(client: TestClient) -> None:
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["encoder"] == "bundled:all-MiniLM-L6-v2"
