#!/usr/bin/env bash
# What the tests need beyond Python packages, made present; safe to run any number of times.
#
#   - Debian packages: newsboat (a real feed reader the feed tests run), chromium (the
#     browser the subscriber-page tests drive with Playwright; never a downloaded one),
#     dovecot-imapd (the IMAP server the bounce-mailbox tests start on loopback, each
#     with its own configuration; the package's own service is not used),
#     redis-server (the broker fault tests start, kill and freeze servers of their own),
#     npm (installs axe-core from package-lock.json, which the accessibility tests run
#     inside Chromium)
#   - Redis on 127.0.0.1:6379 (the tests use databases 10-13)
#   - PostgreSQL on 127.0.0.1:5432, database "test", user postgres, trust auth
#
# Installs use sudo when not root. Servers are started only when running as root (CI);
# elsewhere the script says what to start and fails.
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
PG_DATABASE=test

say() { printf 'test-deps: %s\n' "$*"; }
fail() { printf 'test-deps: %s\n' "$*" >&2; exit 1; }

# --- Debian packages -----------------------------------------------------------------------

# command -> package that provides it
declare -A NEEDED=([newsboat]=newsboat [chromium]=chromium [dovecot]=dovecot-imapd
    [redis-server]=redis-server [npm]=npm)

missing=()
for command in "${!NEEDED[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${NEEDED[$command]}")
done

if ((${#missing[@]})); then
    if ((EUID == 0)); then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        fail "missing ${missing[*]}; as root, run: apt-get update && apt-get install -y ${missing[*]}"
    fi
    say "installing ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- npm packages (axe-core), exactly as package-lock.json pins them ----------------------

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ ! -f "$ROOT/node_modules/axe-core/axe.min.js" ]] \
    || [[ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]]; then
    say "installing npm packages (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- Servers -------------------------------------------------------------------------------

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
    else  # no redis-tools: speak the protocol by hand
        local reply
        reply=$({ exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" && printf 'PING\r\n' >&3 \
            && timeout 2 head -c 5 <&3; } 2>/dev/null) || return 1
        [[ "$reply" == "+PONG" ]]
    fi
}

postgres_up() {
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null
}

wait_for() {  # wait_for CHECK NAME: up to 30 s
    local check=$1 name=$2
    for _ in $(seq 60); do
        "$check" && return 0
        sleep 0.5
    done
    fail "$name did not answer within 30 s after starting"
}

start_redis() {
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_postgres() {
    # The newest installed version, should there be more than one.
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

if redis_up; then
    say "Redis answers on $REDIS_HOST:$REDIS_PORT"
elif ((EUID == 0)) && command -v redis-server >/dev/null 2>&1; then
    say "starting Redis on $REDIS_HOST:$REDIS_PORT"
    start_redis
    wait_for redis_up Redis
else
    fail "no Redis on $REDIS_HOST:$REDIS_PORT. Start one, e.g.:
    redis-server --port $REDIS_PORT --save '' --appendonly no
(or: apt-get install redis-server), then run this again."
fi

if ! command -v pg_isready >/dev/null 2>&1; then
    fail "pg_isready not found: install postgresql (apt-get install postgresql), then run this again."
elif postgres_up; then
    say "PostgreSQL answers on $PG_HOST:$PG_PORT"
elif ((EUID == 0)) && [[ -d /etc/postgresql ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
    say "starting PostgreSQL on $PG_HOST:$PG_PORT"
    start_postgres
    wait_for postgres_up PostgreSQL
else
    fail "no PostgreSQL on $PG_HOST:$PG_PORT. Start it, e.g. as root:
    pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start
The tests connect as postgres (trust auth) to the database \"$PG_DATABASE\"."
fi

# The tests drop and recreate their tables, but the database itself must exist.
if command -v psql >/dev/null 2>&1; then
    psql_test() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -w -XtAq "$@"; }
    if ! exists=$(psql_test -d postgres -c \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" 2>&1); then
        fail "cannot connect to PostgreSQL as postgres without a password: $exists
The tests need trust auth for 127.0.0.1 in pg_hba.conf."
    fi
    if [[ "$exists" != 1 ]]; then
        say "creating database $PG_DATABASE"
        psql_test -d postgres -c "CREATE DATABASE $PG_DATABASE"
    fi
fi

say "ready"
