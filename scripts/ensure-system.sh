#!/usr/bin/env bash
# Make sure the system pieces Wangge needs are present: PostgreSQL server binaries and the
# matching PostGIS extension (and, with --browser, Chromium for the map tests).
# Installs them with apt-get when run as root on Debian/Ubuntu; otherwise stops with the exact
# command to run. Prints what it found. Idempotent: does nothing when all is present.
set -euo pipefail

want_browser=0
for a in "$@"; do
  case "$a" in
    --browser) want_browser=1 ;;
    *) echo "usage: $0 [--browser]" >&2; exit 2 ;;
  esac
done

say() { printf 'ensure-system: %s\n' "$*"; }

# Highest installed PostgreSQL major version with server binaries (initdb), or empty.
pg_bindir() {
  if [ -n "${WANGGE_PG_BIN:-}" ] && [ -x "${WANGGE_PG_BIN}/initdb" ]; then echo "$WANGGE_PG_BIN"; return; fi
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && best="$d"
  done
  if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then best=$(dirname "$(command -v initdb)"); fi
  if [ -z "$best" ] && command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    best=$(pg_config --bindir)
  fi
  echo "$best"
}

# Major version of the server in a bin dir.
pg_major() { "$1/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/'; }

# The extension folder of that server (where postgis.control must be).
pg_extdir() {
  local bindir=$1 major
  major=$(pg_major "$bindir")
  for d in "/usr/share/postgresql/$major/extension" "$("$bindir/pg_config" --sharedir 2>/dev/null)/extension"; do
    [ -d "$d" ] && { echo "$d"; return; }
  done
  echo "/usr/share/postgresql/$major/extension"
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
how_to_install() {
  if command -v apt-get >/dev/null 2>&1; then echo "sudo apt-get update && sudo apt-get install -y $*"
  elif command -v dnf >/dev/null 2>&1; then echo "sudo dnf install -y postgresql-server postgis  (package names vary by release)"
  elif command -v brew >/dev/null 2>&1; then echo "brew install postgresql postgis"
  else echo "install PostgreSQL (>= 13) and PostGIS 3 for it, then set WANGGE_PG_BIN to the folder holding initdb"
  fi
}

bindir=$(pg_bindir)
if [ -z "$bindir" ]; then
  if can_apt; then
    apt_install postgresql
    bindir=$(pg_bindir)
  else
    say "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them:"
    say "  $(how_to_install postgresql postgresql-contrib)"
    exit 1
  fi
fi
major=$(pg_major "$bindir")
extdir=$(pg_extdir "$bindir")
if [ ! -f "$extdir/postgis.control" ]; then
  if can_apt; then
    apt_install "postgresql-$major-postgis-3"
  else
    say "PostGIS for PostgreSQL $major is missing ($extdir/postgis.control). Install it:"
    say "  $(how_to_install "postgresql-$major-postgis-3")"
    exit 1
  fi
fi
# pgRouting (walking distances): installed when possible; without it Wangge falls back to
# straight-line distances, labelled as such
if [ ! -f "$extdir/pgrouting.control" ] && can_apt; then
  apt_install "postgresql-$major-pgrouting" || say "pgRouting could not be installed: straight-line distances only"
fi
say "PostgreSQL $major at $bindir, PostGIS $(sed -nE "s/^default_version = '(.*)'/\1/p" "$extdir/postgis.control"), pgRouting $( [ -f "$extdir/pgrouting.control" ] && sed -nE "s/^default_version = '(.*)'/\1/p" "$extdir/pgrouting.control" || echo absent)"

# Node.js and npm: the maps inline Leaflet and its plugins from their npm packages
if ! command -v npm >/dev/null 2>&1; then
  if can_apt; then
    apt_install nodejs npm
  else
    say "npm (for the maps' Leaflet assets) is missing. Install it:"
    say "  $(how_to_install nodejs npm)"
    exit 1
  fi
fi
say "npm $(npm --version)"

if [ $want_browser = 1 ]; then
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    if can_apt; then
      apt_install chromium fonts-noto-cjk
    else
      say "Chromium (for the map tests) is missing. Install it:"
      say "  $(how_to_install chromium fonts-noto-cjk)"
      exit 1
    fi
  fi
  say "browser: $(command -v chromium || command -v chromium-browser)"
fi
