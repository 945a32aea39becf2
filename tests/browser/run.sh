#!/usr/bin/env bash
# Browser tests of Keel's web UI: starts a demo server on a fresh SQLite database and runs
# tests/browser/*.test.mjs against it in headless Chromium (Debian's /usr/bin/chromium).
#
#   bash tests/browser/run.sh [path/to/keel]   (default /var/tmp/keel-target/debug/keel)
#
# Exits with the test runner's status. Screenshots go to /tmp/keel-list.png and /tmp/keel-item.png.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KEEL_BIN="${1:-/var/tmp/keel-target/debug/keel}"
READY_TIMEOUT=60

if [[ ! -x "$KEEL_BIN" ]]; then
  echo "run.sh: keel binary not found or not executable: $KEEL_BIN" >&2
  exit 2
fi
KEEL_BIN="$(cd "$(dirname "$KEEL_BIN")" && pwd)/$(basename "$KEEL_BIN")"

if [[ ! -x /usr/bin/chromium ]]; then
  echo "run.sh: installing Debian's chromium" >&2
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/keel-browser.XXXXXX")"
SERVER_PID=""
cleanup() {
  local status=$?
  if [[ -n "${OIDC_PID:-}" ]] && kill -0 "$OIDC_PID" 2>/dev/null; then
    kill "$OIDC_PID" 2>/dev/null || true
  fi
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -f "$WORK/server.log" ]]; then
    echo "--- last lines of the keel server log ($WORK/server.log) ---" >&2
    tail -n 40 "$WORK/server.log" >&2 || true
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
URL="http://127.0.0.1:$PORT"

# A real OpenID Connect provider for the single sign-on test, and Keel configured to use it.
OIDC_PORT="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
(cd "$HERE" && OIDC_PORT="$OIDC_PORT" KEEL_CALLBACK="$URL/auth/oidc/callback" exec node oidc-provider.mjs) >"$WORK/oidc.log" 2>&1 &
OIDC_PID=$!
cat >"$WORK/keel.toml" <<TOML
[oidc]
issuer = "http://127.0.0.1:$OIDC_PORT"
client_id = "keel"
client_secret = "keel-test-secret"
redirect_url = "$URL/auth/oidc/callback"
label = "Sign in with Test SSO"
TOML

# Run from the temporary directory so that no keel.toml of the caller's is picked up (only the
# one written above).
(cd "$WORK" && exec "$KEEL_BIN" --database-url "sqlite://$WORK/keel-browser.db" serve --demo --listen "127.0.0.1:$PORT") \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
until node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$URL/readyz"; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: keel exited before it was ready" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "run.sh: $URL/readyz did not answer 200 within ${READY_TIMEOUT}s" >&2
    exit 1
  fi
  sleep 0.5
done

set +e
(cd "$HERE" && KEEL_URL="$URL" KEEL_SSO=1 node --test)
status=$?
set -e
exit "$status"
