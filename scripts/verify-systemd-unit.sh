#!/usr/bin/env bash
# Verifies the shipped systemd unit with `systemd-analyze verify` (CI runs it when systemd-analyze
# is installed). systemd-analyze exits 0 on directives it cannot parse and only warns ("Failed to
# parse …, ignoring"), so any output at all fails the check. The unit names /usr/bin/node (Debian's
# and NodeSource's path); where node lives elsewhere, a copy naming this node is verified instead.
set -uo pipefail
cd "$(dirname "$0")/.."
unit=config/systemd/rclone-sync-worker.service
if [ ! -x /usr/bin/node ]; then
  copy="$(mktemp -d)"
  trap 'rm -rf "$copy"' EXIT
  sed "s|^ExecStart=/usr/bin/node |ExecStart=$(command -v node) |" "$unit" >"$copy/$(basename "$unit")"
  unit="$copy/$(basename "$unit")"
fi
output="$(systemd-analyze verify "$unit" 2>&1)"
status=$?
if [ "$status" -ne 0 ] || [ -n "$output" ]; then
  printf '%s\n' "$output"
  echo "systemd unit: verification failed"
  exit 1
fi
echo "systemd unit: verified ($unit)"
