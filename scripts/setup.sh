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

# The test suite compiles in its own global setup; `--no-build` skips the duplicate here.
if [ "${1:-}" != "--no-build" ]; then
  npx tsc -p tsconfig.build.json
fi
