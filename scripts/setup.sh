#!/usr/bin/env bash
# Set-up shared by `npm start`, `npm test` and `npm run bench`: installs what is missing (rclone
# from Debian's packages, the npm dependencies) and compiles the TypeScript. Idempotent and quiet
# when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${RCLONE_PATH:-rclone}" >/dev/null 2>&1; then
  echo "setup: rclone not found; installing Debian's rclone package" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq rclone >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq rclone >/dev/null
  }
fi

# Install npm dependencies when missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# Compile only when the build is older than a source (~15-25 s of tsc on a 2-core machine,
# ~20 ms for this check). tsconfig.build.json has noEmitOnError, so dist/ is only ever written
# by a successful build and its entry point's age is the age of the last good build. Directories
# count too: deleting or renaming a source changes its directory's mtime. `npm run build` always
# compiles (and makes the entry point executable, for the `rclone-sync-worker` bin).
BUILD_MARKER=dist/worker/src/main.js
build_is_current() {
  [ -f "$BUILD_MARKER" ] || return 1
  local newer
  newer=$(find worker/src shared scripts tsconfig.json tsconfig.build.json package-lock.json \
    \( -type d -o \( -name '*.ts' ! -name '*.test.ts' \) -o -name '*.json' \) \
    -newer "$BUILD_MARKER" -print -quit)
  [ -z "$newer" ]
}

# The test suite compiles in its own global setup; `--no-build` skips the duplicate here.
if [ "${1:-}" != "--no-build" ] && ! build_is_current; then
  npm run --silent build
fi
