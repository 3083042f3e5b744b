#!/usr/bin/env bash
# The demo behind `make demo`: a small lab fleet on this machine, the policy
# applied with site.yml through an inventory repo shaped like examples/, then
# the proof with the real clients, in plain words, and last the read-only audit
# of the fleet (buildfleet.mirrors.audit) with its report under .build/demo/.
#
#   scripts/demo.sh up      start the fleet, apply, prove, tear down (KEEP=1: leave the fleet up)
#   scripts/demo.sh down    tear down a fleet that `KEEP=1 scripts/demo.sh up` left up
#
# The fleet is the Molecule scenario `site` (molecule/site/molecule.yml): three
# build servers (Debian 11, 12 and 13) and the mirror host, created and
# prepared by `molecule create -s site`. The lab uses fixed loopback ports, so
# the run holds the lab lock (/tmp/buildfleet-lab.lock) from start to end; with
# KEEP=1 a `sleep` keeps holding it until `down`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
set -a
# shellcheck source=tests/images/lab.env disable=SC1091  # read at run time
. tests/images/lab.env
set +a
export PATH="$repo/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$repo/.build/collections}
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY_COLORS=0

lab_lock=${LAB_LOCK:-/tmp/buildfleet-lab.lock}
demo_dir=$repo/scripts/demo
logs=$repo/.build/demo
holder_pid_file=$logs/lock-holder.pid
mirror=buildfleet-mirror
build_servers=(buildfleet-bullseye buildfleet-bookworm buildfleet-trixie)
module=corp.example.com/platform/greeting
module_version=v1.1.0
goproxy_log=/var/log/buildfleet/goproxy-access.log
pypi_log=/var/log/buildfleet/pypi-access.log
npm_log=/var/log/buildfleet/npm-access.log
registry_unit=buildfleet-registry.service
keep=${KEEP:-0}
step=0
steps=7

say() { printf '%s\n' "$*"; }
heading() { step=$((step + 1)); printf '\n==> [%d/%d] %s\n' "$step" "$steps" "$*"; }
indent() { sed 's/^/      /'; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

# --- the lab lock -------------------------------------------------------------
holder_alive() {
  [ -s "$holder_pid_file" ] || return 1
  local pid; pid=$(cat "$holder_pid_file")
  # Only the sleep this script started (a recycled pid is not ours).
  [ "$(ps -o args= -p "$pid" 2>/dev/null)" = "sleep infinity" ]
}

take_lab_lock() {
  exec 9>"$lab_lock"
  if ! flock -n 9; then
    say "The lab is busy: another lab run holds $lab_lock (a Molecule scenario, a benchmark or a demo)."
    say "Waiting for it, up to 15 minutes..."
    flock -w 900 9 || die "the lab stayed busy for 15 minutes; try again later"
  fi
}

# --- the fleet (the Molecule scenario 'site') ---------------------------------
molecule_site() {
  local action=$1 log=$logs/molecule-$1.log
  if ! molecule "$action" -s site >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "molecule $action -s site failed; its whole output is in $log"
  fi
}

fleet_down() { molecule_site destroy; }

# At the end, failed or not: KEEP=1 leaves the fleet up and keeps the lab lock
# with a sleep that inherits fd 9 (other lab runs wait instead of colliding with
# the fleet); otherwise the fleet goes.
on_exit() {
  local rc=$?
  [ "${fleet_started:-0}" = 1 ] || return 0
  if [ "$keep" = 1 ]; then
    nohup sleep infinity >/dev/null 2>&1 &
    echo $! >"$holder_pid_file"
    if [ "$rc" != 0 ]; then say "The fleet stays up (KEEP=1) and holds the lab lock until you run:  make demo-down"; fi
  else
    if [ "$rc" != 0 ]; then say "Tearing the lab fleet down after the failure above..."; fi
    fleet_down || true
  fi
}

# --- what a host uses, asked from the host itself -----------------------------
on_host() { docker exec "$1" sh -c "$2"; }
as_builder() { on_host "$1" "su - builder -c '$2'"; }

dockerd_mirrors() {
  local mirrors
  mirrors=$(on_host "$1" "docker info --format '{{range .RegistryConfig.Mirrors}}{{.}} {{end}}'" | sed 's/ *$//')
  say "${mirrors:-none (dockerd goes to Docker Hub itself)}"
}

describe_host() {
  local os docker go
  # shellcheck disable=SC2016  # expanded by the host's shell
  os=$(on_host "$1" '. /etc/os-release && echo "$PRETTY_NAME"')
  docker=$(on_host "$1" "docker version --format '{{.Server.Version}}'")
  go=$(on_host "$1" 'go version' | awk '{print $3}')
  say "$os, Docker $docker, $go"
}

registry_log_lines() { on_host "$mirror" "journalctl --unit $registry_unit --output cat --no-pager --quiet | grep -c '^127.0.0.1 - -' || true"; }
goproxy_log_lines() { on_host "$mirror" "cat $goproxy_log 2>/dev/null | wc -l"; }

# The registry's access-log lines after line $1, as: request -> status (client).
registry_log_since() {
  on_host "$mirror" "journalctl --unit $registry_unit --output cat --no-pager --quiet | grep '^127.0.0.1 - -'" \
    | tail -n +"$(($1 + 1))" \
    | sed -nE 's/^[^"]*"([^"]*)" ([0-9]+) [0-9-]+ "[^"]*" "([^ "]*).*$/\1  ->  \2  (\3)/p' \
    | sed -E 's/(sha256:[0-9a-f]{12})[0-9a-f]+/\1.../'
}

goproxy_log_since() {
  on_host "$mirror" "tail -n +$(($1 + 1)) $goproxy_log" | sed -nE 's/^[^"]*"([^"]*)" ([0-9]+).*$/\1  ->  \2/p'
}

# The lab index's and registry's logging fronts: "<client> <scheme>:<port> <METHOD> <path> <status> ua=<agent> ...".
front_log_lines() { on_host "$mirror" "cat $1 2>/dev/null | wc -l"; }
front_log_since() {
  on_host "$mirror" "tail -n +$(($2 + 1)) $1" | awk '{ ua = $6; sub(/^ua=/, "", ua); printf "%s %s  ->  %s  (%s)\n", $3, $4, $5, ua }'
}

# What pip and npm of user builder resolve (the global files the roles wrote, as the clients read them).
pip_index() {
  as_builder "$1" 'python3 -m pip config list 2>/dev/null' | sed -nE "s/^(global|install)\.index-url='(.*)'$/\2/p" | head -n1
}
npm_registry() { as_builder "$1" 'npm config get registry 2>/dev/null'; }

run_site() {
  local log=$1
  ( cd "$demo_dir" && ansible-playbook site.yml ) >"$log" 2>&1 || return $?
}

# The list items a task printed, from its TASK line to the next TASK or PLAY
# line of a run's log (YAML output wraps long items over indented lines: join
# them back). $1: the start of the task's name, $2: the log.
task_lines() {
  sed -n "/^TASK \\[$1/,/^\\(PLAY\\|TASK\\) /p" "$2" | sed '1d' \
    | awk '/^ *- / { if (item) print item; sub(/^ *- /, ""); item = $0; next }
           /^      +[^ ]/ && item { sub(/^ +/, " "); item = item $0; next }
           END { if (item) print item }' \
    | sed -E "s/^'(.*)'\$/\\1/; s/''/'/g"
}

site_summary() { task_lines 'Summarise each host' "$1"; }

run_audit() {
  local log=$1
  ( cd "$demo_dir" && ansible-playbook buildfleet.mirrors.audit -e "buildfleet_audit_report_dir=$logs/mirror-audit" ) \
    >"$log" 2>&1 || return $?
}

# Each build server's counters from the PLAY RECAP of a run's log.
site_recap() {
  sed -n '/^PLAY RECAP/,$p' "$1" | awk '/^buildfleet-/ { printf "%-20s %s %s %s %s\n", $1, $3, $4, $6, $7 }'
}

show_run() {
  say "    The playbook's own summary:"
  site_summary "$1" | indent
  say "    Ansible's recap (ok: tasks run, changed: tasks that changed something, skipped: not needed here):"
  site_recap "$1" | indent
}

# --- up -----------------------------------------------------------------------
up() {
  mkdir -p "$logs"
  holder_alive && die "a demo fleet from 'make demo KEEP=1' is still up: run 'make demo-down' first"
  # The demo inventory names the lab's ports in plain numbers, for a reader: they must be lab.env's.
  local port
  for port in "$BUILDFLEET_GOPROXY_PORT" "$BUILDFLEET_REGISTRY_PORT" "$BUILDFLEET_PYPI_PORT" "$BUILDFLEET_NPM_PORT"; do
    grep -q "127.0.0.1:$port" "$demo_dir/inventory/group_vars/build_servers.yml" \
      || die "scripts/demo/inventory/group_vars/build_servers.yml does not use port $port of tests/images/lab.env"
  done
  take_lab_lock
  trap on_exit EXIT

  say "buildfleet.mirrors demo: one ansible-playbook run makes every build server fetch Go modules,"
  say "Docker Hub images, Python and npm packages through the company's mirrors, after checking from"
  say "each host that the mirrors answer. Everything runs on this machine; nothing leaves 127.0.0.1."

  heading "Start a lab fleet: three build servers and the mirror host (containers running systemd and Docker)"
  fleet_started=1
  local started=$SECONDS
  molecule_site destroy   # leftovers of an interrupted run, if any
  molecule_site create    # creates the containers, then prepares them (molecule/_shared/prepare_lab.yml)
  say "    up in $((SECONDS - started)) s:"
  local host
  for host in "${build_servers[@]}"; do
    say "      $host  $(describe_host "$host")"
  done
  say "      $mirror  a Docker Hub mirror on http://127.0.0.1:$BUILDFLEET_REGISTRY_PORT and a Go module proxy on http://127.0.0.1:$BUILDFLEET_GOPROXY_PORT,"
  say "        a Python index on http://127.0.0.1:$BUILDFLEET_PYPI_PORT/simple/ and an npm registry on http://127.0.0.1:$BUILDFLEET_NPM_PORT/"

  heading "Before: what the build servers use today"
  for host in "${build_servers[@]}"; do
    say "    $host"
    say "      Docker Hub mirrors of dockerd:  $(dockerd_mirrors "$host")"
    say "      GOPROXY of user builder:        $(as_builder "$host" 'go env GOPROXY')   (Go's default)"
    say "      pip index of user builder:      $(pip_index "$host" | grep . || echo 'none set (pip goes to pypi.org)')"
    say "      npm registry of user builder:   $(npm_registry "$host")"
  done

  heading "Apply the policy: ansible-playbook site.yml, from the inventory repo scripts/demo/"
  say "    scripts/demo/ is laid out like examples/: ansible.cfg, site.yml (imports buildfleet.mirrors.site),"
  say "    inventory/hosts.yml (the group build_servers) and the policy, inventory/group_vars/build_servers.yml:"
  grep -vE '^\s*(#|$)|^---' "$demo_dir/inventory/group_vars/build_servers.yml" | indent
  say "    Running it (full output: .build/demo/site-run-1.log)..."
  started=$SECONDS
  if ! run_site "$logs/site-run-1.log"; then
    show_run "$logs/site-run-1.log"
    die "site.yml failed on a host (see its line above); full output in $logs/site-run-1.log"
  fi
  say "    done in $((SECONDS - started)) s."
  show_run "$logs/site-run-1.log"

  heading "Proof, host by host: the real clients now fetch through the mirror"
  say "    The lab has no route to Docker Hub or proxy.golang.org: what arrives came from the mirror,"
  say "    and the mirror's own logs show each request."
  local before manifest_line sum
  for host in "${build_servers[@]}"; do
    say ""
    say "    $host"
    say "      dockerd's Docker Hub mirrors: $(dockerd_mirrors "$host")"
    on_host "$host" 'docker rmi --force hello >/dev/null 2>&1 || true'
    before=$(registry_log_lines)
    say "      \$ docker pull hello"
    on_host "$host" 'docker pull hello' | grep -E '^(Status|Digest):' | indent | sed 's/^/  /'
    say "      \$ docker run --rm --network none hello"
    on_host "$host" 'docker run --rm --network none hello' | indent | sed 's/^/  /'
    say "      the mirror's registry log:"
    registry_log_since "$before" | indent | sed 's/^/  /'
    on_host "$host" 'docker rmi --force hello >/dev/null 2>&1 || true'

    say "      GOPROXY of user builder: $(as_builder "$host" 'go env GOPROXY')"
    before=$(goproxy_log_lines)
    say "      \$ su - builder -c 'go mod download $module@$module_version'   (in a fresh module cache)"
    manifest_line=$(as_builder "$host" "work=\$(mktemp -d) && cd \$work && go mod init example.com/job >/dev/null 2>&1 && GOMODCACHE=\$work/mod go mod download -json $module@$module_version; rc=\$?; rm -rf \$work; exit \$rc")
    sum=$(printf '%s\n' "$manifest_line" | sed -nE 's/^\s*"Sum": "([^"]+)".*/\1/p')
    say "        downloaded $module $module_version, checksum $sum"
    say "      the mirror's GOPROXY log:"
    goproxy_log_since "$before" | indent | sed 's/^/  /'

    say "      pip index of user builder: $(pip_index "$host")"
    before=$(front_log_lines "$pypi_log")
    say "      \$ su - builder -c 'python3 -m venv venv && venv/bin/pip install --no-cache-dir buildfleet-hello'   (in a fresh directory)"
    as_builder "$host" "work=\$(mktemp -d) && cd \$work && python3 -m venv venv && venv/bin/pip install --no-cache-dir --disable-pip-version-check -q buildfleet-hello && venv/bin/pip show buildfleet-hello | sed -n \"s/^Version: /installed buildfleet-hello /p\"; rc=\$?; rm -rf \$work; exit \$rc" | indent | sed 's/^/  /'
    say "      the mirror's Python index log:"
    front_log_since "$pypi_log" "$before" | indent | sed 's/^/  /'

    say "      npm registry of user builder: $(npm_registry "$host")"
    before=$(front_log_lines "$npm_log")
    say "      \$ su - builder -c 'npm install buildfleet-hello @corp/hello'   (in a fresh directory, with an empty cache)"
    as_builder "$host" "work=\$(mktemp -d) && cd \$work && npm install --cache \$work/cache --no-audit --no-fund --loglevel=error buildfleet-hello @corp/hello >/dev/null && ls -d node_modules/buildfleet-hello node_modules/@corp/hello | sed \"s/^node_modules./installed /\"; rc=\$?; rm -rf \$work; exit \$rc" | indent | sed 's/^/  /'
    say "      the mirror's npm registry log:"
    front_log_since "$npm_log" "$before" | indent | sed 's/^/  /'
  done

  heading "Run site.yml again: the fleet already has the policy, so nothing changes"
  started=$SECONDS
  run_site "$logs/site-run-2.log" || die "the second run failed; full output in $logs/site-run-2.log"
  say "    done in $((SECONDS - started)) s (full output: .build/demo/site-run-2.log), changed=0 everywhere:"
  site_recap "$logs/site-run-2.log" | indent

  heading "Audit the fleet, read-only: ansible-playbook buildfleet.mirrors.audit"
  say "    On each host one task reads what every consumer really gets (login shells, PAM, systemd units,"
  say "    each user's go env, dockerd against daemon.json, pip, uv and npm) and probes every mirror; nothing is changed."
  say "    Running it (full output: .build/demo/audit-run.log)..."
  started=$SECONDS
  local audit_rc=0
  run_audit "$logs/audit-run.log" || audit_rc=$?
  say "    done in $((SECONDS - started)) s. One line per host:"
  task_lines 'One line per host' "$logs/audit-run.log" | indent
  if [ -f "$logs/mirror-audit/index.html" ]; then
    say "    The report: .build/demo/mirror-audit/index.html (open it in a browser), report.json and report.xml (JUnit)."
  fi
  [ "$audit_rc" = 0 ] || die "the audit failed (exit code $audit_rc): a host has a high finding or was not audited; see $logs/audit-run.log"

  if [ "$keep" = 1 ]; then
    heading "The fleet stays up (KEEP=1)"
    say "    Look around, for example:"
    say "      docker exec -it buildfleet-trixie su - builder       (then: go env GOPROXY; docker info)"
    say "      cd scripts/demo && ansible-playbook site.yml --check --diff"
    say "    It keeps the lab lock ($lab_lock), so other lab runs wait for it, until you run:  make demo-down"
  else
    heading "Tear the lab fleet down (make demo KEEP=1 leaves it up)"
    fleet_down
    fleet_started=0
    say "    removed."
  fi
  say ""
  say "Next, a real fleet: copy examples/, put your hosts in inventory/hosts.yml and your mirrors in"
  say "inventory/group_vars/build_servers.yml, then run: ansible-playbook site.yml --check --diff, and: ansible-playbook site.yml"
}

# --- down ---------------------------------------------------------------------
down() {
  mkdir -p "$logs"
  if holder_alive; then
    # The demo's own sleep holds the lab lock: the fleet is ours to remove.
    fleet_down
    kill "$(cat "$holder_pid_file")"
  else
    take_lab_lock
    fleet_down
  fi
  rm -f "$holder_pid_file"
  say "The demo fleet is down and the lab lock is free."
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 [up|down]" ;;
esac
