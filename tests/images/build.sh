#!/usr/bin/env bash
# Build the offline lab images from Debian packages: debootstrap a root
# filesystem, add our files, `docker import` it. No image registry is used.
#
#   tests/images/build.sh [bullseye|bookworm|trixie|docker28|mirror ...]   (default: all)
#
# An image is rebuilt only when its recipe changes: each carries the label
# org.buildfleet.recipe with a hash of everything that shapes it (this script,
# the files under tests/images/, the suite, the package list). FORCE=1 rebuilds.
# The apt mirror is the one this machine uses (BUILDFLEET_APT_MIRROR overrides),
# so an air-gapped site builds from its own mirror.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/images/lab.env disable=SC1091  # found at run time, beside this script
. "$here/lab.env"
workdir=${BUILDFLEET_IMAGE_WORKDIR:-/var/tmp/buildfleet-images}
cache=${BUILDFLEET_DEB_CACHE:-/var/cache/buildfleet-debs}

log() { printf 'images: %s\n' "$*" >&2; }

apt_mirror() {
  if [ -n "${BUILDFLEET_APT_MIRROR:-}" ]; then echo "$BUILDFLEET_APT_MIRROR"; return; fi
  # The first Debian archive (not the security one) this machine is configured with.
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v '^\s*#' | grep -oE '(https?|file)://[^ ]+' | grep -vE 'security|cloud\.google|nodesource' \
    | grep -E '/debian/?$' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# Packages of an instance: a build server with systemd as PID 1, Docker and Go.
instance_packages() {
  local suite=$1
  local pkgs="systemd,systemd-sysv,python3,python3-apt,sudo,curl,ca-certificates,iproute2,procps,busybox-static,docker.io,containerd,golang-go,git,openssl"
  # trixie splits the docker client out of docker.io; podman there checks the
  # containers-registries drop-in with the real parser. trixie has no D-Bus, as
  # minimal installs and systemd containers often have none: root reaches
  # systemd over its private socket, and the roles must not need the bus.
  if [ "$suite" = trixie ]; then
    pkgs="$pkgs,docker-cli,podman"
  else
    pkgs="$pkgs,dbus"
  fi
  echo "$pkgs"
}
# docker28: the trixie instance with today's engines, Docker 28.5, containerd 2.1
# and buildx 0.29, taken from Debian 14 forky. Forky itself cannot be the image:
# its systemd no longer boots as PID 1 on a cgroup v1 host (these machines and CI).
# Its engine packages come in over the trixie root filesystem through an apt pin.
docker28_packages() {
  instance_packages trixie | tr , '\n' | grep -vxE 'docker\.io|docker-cli|containerd' | paste -sd,
}
docker28_forky_packages="docker.io docker-cli containerd docker-buildx"

mirror_packages() {
  echo "systemd,systemd-sysv,dbus,python3,ca-certificates,curl,openssl,busybox-static,docker-registry,iproute2,procps"
}
# Installed with apt after debootstrap, whose simple resolver leaves Debian's npm half configured
# (it misses dependencies that apt finds): Debian's Python and Node clients in the instances, what
# pypiserver and verdaccio run on in the mirror (uv, pnpm, pypiserver, verdaccio: see below).
instance_apt_packages="python3-pip python3-venv nodejs npm"
mirror_apt_packages="python3-venv nodejs npm"

# Servers and clients that Debian does not package, from PyPI and the npm registry when an image
# is built (never when the lab runs), pinned. verdaccio 6.5.2 is the last 6.x that runs on Node 18
# (the mirror is bookworm: Node 18.19; 6.6 needs Node 20). pnpm 10 needs Node 18.12 (bookworm,
# trixie); bullseye's Node 12 runs pnpm 6 at most.
pypiserver_version=2.4.2
verdaccio_version=6.5.2
uv_version=0.13.9
pnpm_version=10.34.8
pnpm_version_bullseye=6.35.1

# What the build steps need to reach PyPI and the npm registry, taken from this machine (a host
# behind a package proxy names its index, registry and CA bundle there) and handed to the chroot
# for those steps only: nothing of it is written into an image.
build_ca_bundle=${BUILDFLEET_BUILD_CA_BUNDLE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
build_pip_index=${BUILDFLEET_BUILD_PIP_INDEX_URL:-${PIP_INDEX_URL:-https://pypi.org/simple/}}
build_npm_registry=${BUILDFLEET_BUILD_NPM_REGISTRY:-${npm_config_registry:-https://registry.npmjs.org/}}

# Prepare the root filesystem for commands that download from PyPI or npm: /proc and the build CA
# bundle in it, and in online_env a clean environment naming the CA, the index, the registry and
# this machine's proxy variables (run them as `chroot "$rootfs" env -i "${online_env[@]}" ...`).
online_setup() {
  local rootfs=$1
  online_env=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp/build-home LANG=C.UTF-8
    PIP_INDEX_URL="$build_pip_index" PIP_CERT=/tmp/build-ca.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
    npm_config_registry="$build_npm_registry" npm_config_cafile=/tmp/build-ca.crt
    npm_config_cache=/tmp/build-home/npm-cache npm_config_update_notifier=false npm_config_fund=false
    npm_config_audit=false)
  local var
  for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [ -n "${!var:-}" ]; then online_env+=("$var=${!var}"); fi
  done
  mkdir -p "$rootfs/tmp/build-home"
  install -m 0644 "$build_ca_bundle" "$rootfs/tmp/build-ca.crt"
  mountpoint -q "$rootfs/proc" || mount -t proc proc "$rootfs/proc"
}

# Run a command in the root filesystem as online_setup prepares it.
online_chroot() {
  local rootfs=$1; shift
  online_setup "$rootfs"
  chroot "$rootfs" env -i "${online_env[@]}" "$@"
}

# Undo online_chroot: no CA bundle, cache or /proc mount stays behind.
offline_chroot() {
  local rootfs=$1
  if mountpoint -q "$rootfs/proc"; then umount "$rootfs/proc"; fi
  rm -rf "$rootfs/tmp/build-home" "$rootfs/tmp/build-ca.crt" "$rootfs/root/.npm" "$rootfs/root/.cache"
}

# uv (a virtual environment of its own, /usr/local/bin/uv) and pnpm (/usr/local/bin/pnpm) in an
# instance, and /etc/buildfleet/lab-clients saying which versions each client has there, as the
# clients themselves report them. No index or registry configuration is left in the image.
install_lab_clients() {
  local rootfs=$1 suite=$2 pnpm=$pnpm_version
  [ "$suite" = bullseye ] && pnpm=$pnpm_version_bullseye
  log "installing uv $uv_version and pnpm $pnpm from PyPI and npm (log: $rootfs.log)"
  if ! { online_chroot "$rootfs" python3 -m venv /opt/uv \
      && online_chroot "$rootfs" /opt/uv/bin/pip install -q "uv==$uv_version" \
      && ln -sf /opt/uv/bin/uv "$rootfs/usr/local/bin/uv" \
      && online_chroot "$rootfs" npm install -g --prefix /usr/local "pnpm@$pnpm"; } >>"$rootfs.log" 2>&1; then
    offline_chroot "$rootfs"
    tail -n 30 "$rootfs.log" >&2
    log "installing uv and pnpm failed"
    return 1
  fi
  mkdir -p "$rootfs/etc/buildfleet"
  {
    echo "# The package clients of this lab image, as they report their versions (written by build.sh)."
    echo "python3=$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')"
    echo "pip=$(chroot "$rootfs" python3 -m pip --version | cut -d' ' -f2)"
    echo "uv=$(online_chroot "$rootfs" uv --version | cut -d' ' -f2)"
    echo "node=$(online_chroot "$rootfs" node --version | sed 's/^v//')"
    echo "npm=$(online_chroot "$rootfs" npm --version)"
    echo "pnpm=$(online_chroot "$rootfs" pnpm --version)"
  } > "$rootfs/etc/buildfleet/lab-clients"
  offline_chroot "$rootfs"
  sed 's/^/images: '"$suite"' /' "$rootfs/etc/buildfleet/lab-clients" | grep -v '#' >&2
  local config
  for config in /etc/pip.conf /etc/xdg/pip/pip.conf /etc/npmrc /usr/local/etc/npmrc /etc/uv/uv.toml; do
    if [ -e "$rootfs$config" ]; then log "$suite: $config must not be in a lab image"; return 1; fi
  done
}

# The hash of what shapes one image: this script, its own files, its packages.
recipe_hash() {
  local name=$1 packages=$2 files=instance
  [ "$name" = mirror ] && files=mirror
  case "$name" in trixie-docker28*) packages="$packages $docker28_forky_packages" ;; esac
  { cat "$here/build.sh"; [ "$files" = mirror ] && cat "$here/lab.env"
    find "$here/files/$files" -type f | sort | xargs cat; echo "$name $packages"; } \
    | sha256sum | cut -c1-16
}

image_recipe() { docker image inspect --format '{{ index .Config.Labels "org.buildfleet.recipe" }}' "$1" 2>/dev/null || true; }

debootstrap_rootfs() {
  local suite=$1 packages=$2 rootfs=$3
  if mountpoint -q "$rootfs/proc" 2>/dev/null; then umount "$rootfs/proc"; fi
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$cache"
  log "debootstrap $suite from $(apt_mirror) (log: $rootfs.log)"
  if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$cache" \
      "$suite" "$rootfs" "$(apt_mirror)" >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    log "debootstrap $suite failed"
    return 1
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
}

# Install Debian packages with apt into a root filesystem that debootstrap made.
apt_install() {
  local rootfs=$1; shift
  log "apt-get install $* (log: $rootfs.log)"
  if ! { chroot "$rootfs" apt-get update \
      && DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y --no-install-recommends "$@"; } \
      >>"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    log "apt-get install $* failed"
    return 1
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
}

# Units that make no sense in a container on the host's network, or that would
# touch the host: nothing in the lab may configure interfaces or time.
mask_units() {
  local rootfs=$1
  local unit
  for unit in systemd-networkd.service systemd-networkd.socket systemd-resolved.service \
      systemd-timesyncd.service systemd-udevd.service systemd-udev-trigger.service \
      getty@tty1.service console-getty.service systemd-logind.service \
      apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service fstrim.timer \
      systemd-firstboot.service systemd-remount-fs.service systemd-modules-load.service sys-kernel-config.mount \
      sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
}

import_rootfs() {
  local rootfs=$1 tag=$2 recipe=$3; shift 3
  log "importing $tag"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change "LABEL org.buildfleet.recipe=$recipe" \
    --change 'ENV container=docker' \
    --change 'CMD ["/lib/systemd/systemd"]' \
    "$@" - "$tag" >/dev/null
}

build_instance() {
  local suite=$1 tag="$BUILDFLEET_IMAGE_PREFIX/debian:$1"
  local packages recipe rootfs
  packages=$(instance_packages "$suite"); recipe=$(recipe_hash "$suite" "$packages")
  if [ "${FORCE:-0}" != 1 ] && [ "$(image_recipe "$tag")" = "$recipe" ]; then
    log "$tag is up to date ($recipe)"; return 0
  fi
  rootfs="$workdir/$suite"
  debootstrap_rootfs "$suite" "$packages" "$rootfs"
  # shellcheck disable=SC2086  # a list of package names
  apt_install "$rootfs" $instance_apt_packages
  mask_units "$rootfs"
  # The inner dockerd shares the host's network: it must not make a bridge or NAT rules.
  install -D -m 0644 "$here/files/instance/daemon.json" "$rootfs/etc/docker/daemon.json"
  # The login user that stands in for a developer or a CI agent.
  chroot "$rootfs" useradd --create-home --shell /bin/bash --groups docker builder
  install_lab_clients "$rootfs" "$suite"
  echo "buildfleet-$suite" > "$rootfs/etc/hostname"
  import_rootfs "$rootfs" "$tag" "$recipe"
  rm -rf "$rootfs"
}

# Install the engine packages from forky into a trixie root filesystem: forky
# has priority 100 (never picked unless asked for), the named packages are asked
# for by release; whatever else apt needs stays trixie where trixie satisfies it.
# Forky's Release file is past its Valid-Until on the package mirror.
install_forky_engines() {
  local rootfs=$1 pkg pkgs=()
  for pkg in $docker28_forky_packages; do pkgs+=("$pkg/forky"); done
  echo "deb $(apt_mirror) forky main" > "$rootfs/etc/apt/sources.list.d/forky.list"
  printf 'Package: *\nPin: release n=forky\nPin-Priority: 100\n' > "$rootfs/etc/apt/preferences.d/forky"
  log "installing forky's ${docker28_forky_packages// /, } (log: $rootfs.log)"
  if ! { chroot "$rootfs" apt-get -o Acquire::Check-Valid-Until=false update \
      && DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get -o Acquire::Check-Valid-Until=false \
        install -y --no-install-recommends "${pkgs[@]}"; } >>"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    log "installing forky's engines failed"
    return 1
  fi
  # What came from forky, for the build log: the engines and whatever they pulled in.
  grep -oE ' forky/main [a-z0-9]+ [^ ]+ [a-z0-9]+ [^ ]+' "$rootfs.log" | awk '{print "images: from forky: " $3 " " $5}' >&2 || true
  # The instances never reach forky again: apt there sees trixie only.
  rm -f "$rootfs/etc/apt/sources.list.d/forky.list" "$rootfs/etc/apt/preferences.d/forky"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
}

# Two images from one root filesystem: buildfleet-test/debian:trixie-docker28
# with the classic graphdriver, and ...:trixie-docker28-cs with the containerd
# image store ("features": {"containerd-snapshotter": true} in daemon.json).
build_docker28() {
  local tag="$BUILDFLEET_IMAGE_PREFIX/debian:trixie-docker28" tag_cs="$BUILDFLEET_IMAGE_PREFIX/debian:trixie-docker28-cs"
  local packages recipe recipe_cs rootfs
  packages=$(docker28_packages)
  recipe=$(recipe_hash trixie-docker28 "$packages"); recipe_cs=$(recipe_hash trixie-docker28-cs "$packages")
  if [ "${FORCE:-0}" != 1 ] && [ "$(image_recipe "$tag")" = "$recipe" ] && [ "$(image_recipe "$tag_cs")" = "$recipe_cs" ]; then
    log "$tag and $tag_cs are up to date ($recipe, $recipe_cs)"; return 0
  fi
  rootfs="$workdir/trixie-docker28"
  debootstrap_rootfs trixie "$packages" "$rootfs"
  # shellcheck disable=SC2086  # a list of package names
  apt_install "$rootfs" $instance_apt_packages
  install_forky_engines "$rootfs"
  mask_units "$rootfs"
  chroot "$rootfs" useradd --create-home --shell /bin/bash --groups docker builder
  install_lab_clients "$rootfs" trixie
  echo "buildfleet-docker28" > "$rootfs/etc/hostname"
  install -D -m 0644 "$here/files/instance/daemon.json" "$rootfs/etc/docker/daemon.json"
  import_rootfs "$rootfs" "$tag" "$recipe"
  echo "buildfleet-docker28-cs" > "$rootfs/etc/hostname"
  install -D -m 0644 "$here/files/instance/daemon.containerd-store.json" "$rootfs/etc/docker/daemon.json"
  import_rootfs "$rootfs" "$tag_cs" "$recipe_cs"
  rm -rf "$rootfs"
}

build_mirror() {
  local tag="$BUILDFLEET_IMAGE_PREFIX/mirror:latest"
  local packages recipe rootfs
  packages=$(mirror_packages); recipe=$(recipe_hash mirror "$packages")
  if [ "${FORCE:-0}" != 1 ] && [ "$(image_recipe "$tag")" = "$recipe" ]; then
    log "$tag is up to date ($recipe)"; return 0
  fi
  rootfs="$workdir/mirror"
  debootstrap_rootfs bookworm "$packages" "$rootfs"
  # shellcheck disable=SC2086  # a list of package names
  apt_install "$rootfs" $mirror_apt_packages
  mask_units "$rootfs"
  cp -a "$here/files/mirror/." "$rootfs/"
  install -m 0644 "$here/lab.env" "$rootfs/etc/buildfleet/lab.env"
  # Debian enables its own registry unit on port 5000; the lab runs ours instead.
  ln -sf /dev/null "$rootfs/etc/systemd/system/docker-registry.service"
  chroot "$rootfs" systemctl enable buildfleet-registry.service buildfleet-goproxy.service >/dev/null 2>&1
  chroot "$rootfs" systemctl enable buildfleet-pypiserver.service buildfleet-pypi-front.service \
    buildfleet-verdaccio.service buildfleet-npm-front.service >/dev/null 2>&1
  chroot "$rootfs" python3 /usr/local/lib/buildfleet/make_goproxy_tree.py /srv/goproxy
  chroot "$rootfs" /usr/local/lib/buildfleet/make_tls.sh /etc/buildfleet/tls
  seed_registry "$rootfs"
  install_package_servers "$rootfs"
  seed_npm_registry "$rootfs"
  import_rootfs "$rootfs" "$tag" "$recipe"
  rm -rf "$rootfs"
}

# Put a Docker Hub-named image (library/hello) into the mirror's registry
# storage with a real `docker push`, by running the registry from the new root
# filesystem on a loopback port for the length of the push. The same image goes
# in as acme/hello too: the name of an image on another registry (ghcr.io/acme/hello
# in the tests), which only a mirror of that registry can serve here.
seed_registry() {
  local rootfs=$1 port=$BUILDFLEET_SEED_PORT
  local hello="$workdir/hello" repo
  rm -rf "$hello"; mkdir -p "$hello/bin"
  cp "$rootfs/bin/busybox" "$hello/bin/busybox"
  ln -s busybox "$hello/bin/sh"
  tar --numeric-owner -C "$hello" -c . | docker import \
    --change 'CMD ["/bin/busybox", "echo", "Hello from the buildfleet lab mirror"]' \
    - "127.0.0.1:$port/library/hello:latest" >/dev/null
  docker tag "127.0.0.1:$port/library/hello:latest" "127.0.0.1:$port/acme/hello:latest"
  REGISTRY_HTTP_ADDR="127.0.0.1:$port" chroot "$rootfs" /usr/bin/docker-registry serve /etc/buildfleet/registry.yml \
    >"$workdir/seed-registry.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 30); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 1; done
  for repo in library/hello acme/hello; do
    docker push "127.0.0.1:$port/$repo:latest" >/dev/null
    docker rmi "127.0.0.1:$port/$repo:latest" >/dev/null
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$hello"
  log "seeded library/hello and acme/hello into the mirror's registry"
}

# pypiserver and verdaccio in the mirror, and the lab's Python package: the wheel is built here.
install_package_servers() {
  local rootfs=$1
  log "installing pypiserver $pypiserver_version and verdaccio $verdaccio_version (log: $rootfs.log)"
  if ! { online_chroot "$rootfs" python3 -m venv /opt/pypiserver \
      && online_chroot "$rootfs" /opt/pypiserver/bin/pip install -q "pypiserver==$pypiserver_version" \
      && online_chroot "$rootfs" npm install --prefix /opt/verdaccio --omit=dev --no-package-lock "verdaccio@$verdaccio_version"
      } >>"$rootfs.log" 2>&1; then
    offline_chroot "$rootfs"
    tail -n 30 "$rootfs.log" >&2
    log "installing the package servers failed"
    return 1
  fi
  offline_chroot "$rootfs"
  chroot "$rootfs" python3 /usr/local/lib/buildfleet/make_wheel.py /srv/pypi >/dev/null
  chroot "$rootfs" useradd --system --home-dir /var/lib/verdaccio --shell /usr/sbin/nologin verdaccio
}

# Publish buildfleet-hello and @corp/hello into verdaccio's storage with a real `npm publish`, by
# running verdaccio from the new root filesystem on the seed port with a login that exists for the
# length of the publish only: the image's configuration then lets nobody log in or publish.
seed_npm_registry() {
  local rootfs=$1 port=$BUILDFLEET_SEED_PORT pkg token pid
  mkdir -p "$rootfs/var/lib/verdaccio/storage" "$rootfs/tmp/npm-seed"
  sed -e 's|/var/lib/verdaccio/htpasswd|/tmp/npm-seed/htpasswd|' -e 's|max_users: -1|max_users: 1|' \
    "$rootfs/etc/verdaccio/config.yaml" > "$rootfs/tmp/npm-seed/config.yaml"
  # chroot itself in the background (not a function, which would run in a subshell): $! is verdaccio.
  online_setup "$rootfs"
  chroot "$rootfs" env -i "${online_env[@]}" /opt/verdaccio/node_modules/.bin/verdaccio \
    --config /tmp/npm-seed/config.yaml --listen "127.0.0.1:$port" >"$workdir/seed-verdaccio.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 60); do curl -fs "http://127.0.0.1:$port/-/ping" >/dev/null && break; sleep 1; done
  if ! token=$(curl -fsS -X PUT -H 'Content-Type: application/json' \
      -d '{"name": "lab-seed", "password": "lab-seed-only"}' "http://127.0.0.1:$port/-/user/org.couchdb.user:lab-seed" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'); then
    kill "$pid"; wait "$pid" 2>/dev/null || true; offline_chroot "$rootfs"
    tail -n 30 "$workdir/seed-verdaccio.log" >&2
    log "the seed registry gave no login"
    return 1
  fi
  printf '//127.0.0.1:%s/:_authToken=%s\n' "$port" "$token" > "$rootfs/tmp/npm-seed/npmrc"
  for pkg in buildfleet-hello corp-hello; do
    if ! chroot "$rootfs" env -i PATH=/usr/bin:/bin HOME=/tmp/npm-seed npm_config_userconfig=/tmp/npm-seed/npmrc \
        npm_config_cache=/tmp/npm-seed/cache npm publish --registry "http://127.0.0.1:$port/" \
        "/usr/local/lib/buildfleet/npm/$pkg" >>"$workdir/seed-verdaccio.log" 2>&1; then
      kill "$pid"; wait "$pid" 2>/dev/null || true; offline_chroot "$rootfs"
      tail -n 30 "$workdir/seed-verdaccio.log" >&2
      log "publishing $pkg into the lab registry failed"
      return 1
    fi
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  offline_chroot "$rootfs"
  rm -rf "$rootfs/tmp/npm-seed"
  chroot "$rootfs" chown -R verdaccio:verdaccio /var/lib/verdaccio
  log "published buildfleet-hello and @corp/hello into the mirror's npm registry"
}

command -v debootstrap >/dev/null || {
  log "installing debootstrap"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
mkdir -p "$workdir"

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(mirror bullseye bookworm trixie docker28)
for target in "${targets[@]}"; do
  case "$target" in
    bullseye|bookworm|trixie) build_instance "$target" ;;
    docker28) build_docker28 ;;
    mirror) build_mirror ;;
    *) log "unknown image '$target' (bullseye, bookworm, trixie, docker28, mirror)"; exit 2 ;;
  esac
done
