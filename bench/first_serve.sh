#!/bin/bash
# The first `make serve` a newcomer gets: a fresh clone of REPO, an empty HOME (no pip cache,
# no model cache; the machine's pip configuration copied), timed from `make serve` to the
# first /readyz 200, then one cross-lingual search and the server stopped.
#
#     bench/first_serve.sh [REPO] [PORT]      (default: this checkout, 8765)
#
# Prints the seconds to ready and when the install finished; the clone, its log and its
# artifact stay under the printed root.
set -u
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
port=${2:-8765}
root=$(mktemp -d /tmp/first-serve.XXXX)
export HOME=$root/home
mkdir -p "$HOME/.config"
[ -d /root/.config/pip ] && cp -r /root/.config/pip "$HOME/.config/"
git clone -q "$repo" "$root/r" && cd "$root/r" || exit 1
start=$(date +%s.%N)
echo "start $(date -Is) root=$root"
RECSYS_PORT=$port setsid make serve >"$root/serve.log" 2>&1 &
group=$!
while true; do
  code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/readyz")
  now=$(date +%s.%N)
  if [ "$code" = "200" ]; then
    echo "ready after $(echo "$now - $start" | bc) s"
    break
  fi
  if [ "$(echo "$now - $start > 1800" | bc)" = 1 ]; then
    echo "not ready after 1800 s"
    break
  fi
  sleep 1
done
echo "install finished after $(($(stat -c %Y .venv/.installed-stamp) - ${start%.*})) s"
grep "published" "$root/serve.log" | tail -1
curl -s "http://127.0.0.1:$port/v1/search?q=un%20hacker%20descubre%20que%20la%20realidad%20es%20una%20simulaci%C3%B3n&k=3" | head -c 300
echo
kill -- "-$group" 2>/dev/null
