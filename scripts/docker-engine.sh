#!/usr/bin/env bash
# Make sure a Docker engine answers. An engine that already answers is left
# alone. Otherwise install docker.io (where apt is available) and start dockerd
# directly: the machines this runs on have no systemd as PID 1. The daemon we
# start never creates a bridge or NAT rules: every lab container uses host
# networking, and nothing here may touch the host's own network.
set -euo pipefail

log() { printf 'docker-engine: %s\n' "$*" >&2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "an engine already answers; leaving it alone"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    log "no dockerd and no apt-get: install a Docker engine and start it, then run this again"
    exit 1
  fi
  log "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  log "starting docker.service with systemd"
  systemctl start docker
else
  logfile=${DOCKERD_LOG:-/var/log/buildfleet-dockerd.log}
  log "starting dockerd directly (log: $logfile)"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false \
    >"$logfile" 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if engine_answers; then
    log "engine answers: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; last lines of its log:"
tail -n 20 "${logfile:-/dev/null}" >&2 || true
exit 1
