#!/bin/bash
# The feedback scenario of issue 14, by curl, against a checkout's `recsys serve`:
#   bench/feedback_scenario.sh CHECKOUT PORT LABEL [ARTIFACTS]   (PYTHON: the interpreter)
# A new user posts plays of Toy Story and Toy Story 2 and asks again; a known user plays
# their top recommendation and asks again. Output: bench/results/feedback_scenario_*.txt
set -e
cd "$1"
rm -f ${TMPDIR:-/tmp}/ev-$3.sqlite3
RECSYS_EVENTS_DB=${TMPDIR:-/tmp}/ev-$3.sqlite3 RECSYS_ARTIFACTS_DIR=${4:-artifacts} RECSYS_PORT=$2 RECSYS_LOG_LEVEL=warning HF_HUB_OFFLINE=1 ${PYTHON:-python} -m pipelines.cli serve > ${TMPDIR:-/tmp}/serve-$3.log 2>&1 &
PID=$!
for i in $(seq 90); do curl -sf 127.0.0.1:$2/readyz >/dev/null && break; sleep 1; done
show() { python3 -c "import sys,json;d=json.load(sys.stdin);print('cold_start:',d['cold_start'],'ranker:',d['ranker'],'variant:',d.get('variant'));[print('  ',r['item_id'],r['title'],r['reasons']) for r in d['items']]"; }
echo "== $3: new user, before any event"
curl -s "127.0.0.1:$2/v1/recommendations?user_id=toy-fan&k=5" | show
echo "== $3: POST plays of Toy Story (1) and Toy Story 2 (3114)"
curl -s -XPOST 127.0.0.1:$2/v1/events -H 'content-type: application/json' -d '{"events":[{"event_id":"ts-1","type":"play","user_id":"toy-fan","item_id":"1"},{"event_id":"ts-2","type":"play","user_id":"toy-fan","item_id":"3114"}]}'; echo
echo "== $3: the same user, next request"
curl -s "127.0.0.1:$2/v1/recommendations?user_id=toy-fan&k=10" | show
echo "== $3: known user 414 plays its top recommendation; next page"
TOP=$(curl -s "127.0.0.1:$2/v1/recommendations?user_id=414&k=1" | python3 -c "import sys,json;print(json.load(sys.stdin)['items'][0]['item_id'])")
echo "top item before: $TOP"
curl -s -XPOST 127.0.0.1:$2/v1/events -H 'content-type: application/json' -d "{\"events\":[{\"event_id\":\"k-1\",\"type\":\"play\",\"user_id\":\"414\",\"item_id\":\"$TOP\"}]}" > /dev/null
curl -s "127.0.0.1:$2/v1/recommendations?user_id=414&k=5" | show
kill $PID; wait $PID 2>/dev/null || true
