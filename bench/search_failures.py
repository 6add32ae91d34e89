"""The search failures a new user noticed (the search-product issue), replayed over HTTP
against a running server: what each request answers, in a few words.

    python -m bench.search_failures --base http://127.0.0.1:8000 --out FILE

Every request is a plain GET (plus one CORS preflight); run it against the server before
and after a change and compare the two JSON files.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS_DIR, run_header, write_json

SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("star", {"q": "star"}),
    ("harry poter", {"q": "harry poter"}),
    ("godfahter", {"q": "godfahter"}),
    ("christopher nolan", {"q": "christopher nolan"}),
    ("tom hanks", {"q": "tom hanks"}),
    ("robot who falls in love", {"q": "movie about a robot who falls in love"}),
    ("xqzvbnm", {"q": "xqzvbnm"}),
    ("genre=comedy", {"q": "wedding", "genre": "comedy", "k": 5}),
    ("genre=Comedies", {"q": "wedding", "genre": "Comedies", "k": 5}),
    ("genre=nope", {"q": "wedding", "genre": "nope"}),
    ("lagaan", {"q": "lagaan"}),
    ("offset=10", {"q": "star", "offset": 10, "k": 3}),
    ("page=2", {"q": "star", "page": 2, "k": 3}),
]


def summarize(response: httpx.Response) -> dict[str, Any]:
    out: dict[str, Any] = {"status": response.status_code}
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    if not isinstance(body, dict):
        return out
    if "error" in body:
        out["error"] = body["error"]["message"][:160]
        return out
    if "items" in body:
        out["found"] = body.get("found")
        out["top"] = [f"{h['item_id']} {h['title']} ({h.get('year')})" for h in body["items"][:5]]
    else:
        out["fields"] = {k: body.get(k) for k in ("item_id", "title", "original_title", "lang")}
    return out


def run(base: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for label, params in SEARCHES:
            results[label] = summarize(client.get("/v1/search", params={"k": 5, **params}))
        results["items/4973?lang=fr"] = summarize(
            client.get("/v1/items/4973", params={"lang": "fr"})
        )
        suggest = client.get("/v1/suggest", params={"q": "star w"})
        results["suggest star w"] = (
            {
                "status": suggest.status_code,
                "texts": [s["text"] for s in suggest.json()["suggestions"]],
            }
            if suggest.status_code == 200
            else {"status": suggest.status_code}
        )
        preflight = client.options(
            "/v1/search",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
        )
        results["CORS preflight"] = {
            "status": preflight.status_code,
            "allow_origin": preflight.headers.get("access-control-allow-origin"),
        }
        docs = client.get("/docs")
        results["/docs assets"] = {
            "status": docs.status_code,
            "cdn": "cdn.jsdelivr.net" in docs.text or "unpkg.com" in docs.text,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "search_failures.json")
    args = parser.parse_args(argv)
    results = run(args.base)
    for label, result in results.items():
        print(f"{label:<26} {result}")
    write_json(args.out, {**run_header(), "base": args.base, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
