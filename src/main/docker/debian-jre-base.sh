#!/usr/bin/env bash
# Assembles a JRE 17 base image from Debian's own packages, for builders that cannot pull from a
# registry: debootstrap (minbase + openjdk-17-jre-headless + curl) into a folder, then podman import.
# Needs root (debootstrap), debootstrap and podman, and a Debian mirror; about a minute.
#
#   sudo src/main/docker/debian-jre-base.sh [IMAGE]          # default localhost/debian-jre17:bookworm
#   podman build --build-arg BASE_IMAGE=localhost/debian-jre17:bookworm -f src/main/docker/Dockerfile.jvm ...
#
# Environment: MIRROR (default http://deb.debian.org/debian), SUITE (bookworm), PODMAN (the podman
# command with any global flags, e.g. "podman --runtime runc --cgroup-manager cgroupfs").
set -euo pipefail
image=${1:-localhost/debian-jre17:bookworm}
suite=${SUITE:-bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
read -r -a podman <<<"${PODMAN:-podman}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
debootstrap --variant=minbase --include=openjdk-17-jre-headless,curl "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log"; exit 1; }
# What an image does not need: the downloaded .debs, apt's lists, documentation and translations.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | "${podman[@]}" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/sh"]' \
  --quiet - "$image" >/dev/null
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')
echo "$image: $size, Debian $suite, $("${podman[@]}" run --rm --user 185:0 "$image" java -version 2>&1 | head -1)"
