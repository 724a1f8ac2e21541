#!/usr/bin/env bash
# Installs the system packages kubetrail's tests use, from Debian's repositories.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v gzip >/dev/null || need+=(gzip)
command -v jq >/dev/null || need+=(jq)   # the query presets are checked against real jq
command -v promtool >/dev/null || need+=(prometheus)   # promtool tests the alert rules
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)   # alert sink end-to-end test

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing ${need[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
