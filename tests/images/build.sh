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
  mask_units "$rootfs"
  # The inner dockerd shares the host's network: it must not make a bridge or NAT rules.
  install -D -m 0644 "$here/files/instance/daemon.json" "$rootfs/etc/docker/daemon.json"
  # The login user that stands in for a developer or a CI agent.
  chroot "$rootfs" useradd --create-home --shell /bin/bash --groups docker builder
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
  install_forky_engines "$rootfs"
  mask_units "$rootfs"
  chroot "$rootfs" useradd --create-home --shell /bin/bash --groups docker builder
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
  mask_units "$rootfs"
  cp -a "$here/files/mirror/." "$rootfs/"
  install -m 0644 "$here/lab.env" "$rootfs/etc/buildfleet/lab.env"
  # Debian enables its own registry unit on port 5000; the lab runs ours instead.
  ln -sf /dev/null "$rootfs/etc/systemd/system/docker-registry.service"
  chroot "$rootfs" systemctl enable buildfleet-registry.service buildfleet-goproxy.service >/dev/null 2>&1
  chroot "$rootfs" python3 /usr/local/lib/buildfleet/make_goproxy_tree.py /srv/goproxy
  chroot "$rootfs" /usr/local/lib/buildfleet/make_tls.sh /etc/buildfleet/tls
  seed_registry "$rootfs"
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
