#!/usr/bin/env bash
# `make sam-local` (run by `make test`, so by CI): the deployed artifact, run as SAM runs it.
# This script gets the machine ready to run arm64 Lambda containers (steps 1 to 5), builds the
# artifact with `sam build` on template.yaml (`make lambda-build`: four arm64 bootstraps in
# .aws-sam/build), then hands over to the `sam-local` binary (local/src/bin/sam-local), which
# starts the local stack's emulators, runs `sam local invoke` for every file in events/, then
# `sam local start-api` and the document's flow with curl. README, "With Docker", says the same.
#
# Needs root for what is missing (packages, dockerd, binfmt); with all of it already in place
# it runs as any user that can talk to Docker. What it cannot get, it names and fails: never a
# silent skip.
set -euo pipefail
cd "$(dirname "$0")/.."

SAM=${SAM:-.venv-deploy/bin/sam}
WORK=target/sam-local            # logs and the files handed to SAM (per run)
mkdir -p "$WORK"

say() { echo "--- sam-local: $*"; }
die() {
    echo "sam-local: $*" >&2
    exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
# $1: what is missing; fails unless this run may fix it.
need_root() { is_root || die "$1, and fixing that needs root: run as root (CI does), or fix it and rerun"; }

# Everything this run started is stopped on exit, whatever the exit: only that.
DOCKERD_PID=
BASE_ROOT=
cleanup() {
    local rc=$?
    if [ -n "$BASE_ROOT" ]; then rm -rf "$BASE_ROOT"; fi
    if [ -n "$DOCKERD_PID" ]; then
        say "stopping the dockerd this run started (pid $DOCKERD_PID)"
        kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        # dockerd stops its containers and the containerd it started, then exits.
        for _ in $(seq 60); do
            kill -0 "$DOCKERD_PID" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$DOCKERD_PID" 2>/dev/null; then
            echo "sam-local: dockerd did not stop within 30 s; killing it" >&2
            kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        fi
        wait "$DOCKERD_PID" 2>/dev/null || true
    fi
    exit "$rc"
}
trap cleanup EXIT

# --- 1. Packages (Debian's): the container engine, the arm64 emulator and what registers it
# with the kernel, the tool that builds the base image, and curl for the start-api flow.
PACKAGES=(docker.io qemu-user-static binfmt-support debootstrap curl)
command -v dpkg-query >/dev/null ||
    die "not a Debian-like system (no dpkg-query): install Docker, qemu-user-static with binfmt, debootstrap and curl yourself"
missing=()
for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    need_root "missing packages: ${missing[*]}"
    say "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# --- 2. Docker: the running daemon if there is one, else dockerd started here (and stopped by
# `cleanup`). Debian's dockerd runs without systemd; it starts its own containerd.
if docker_info=$(docker info 2>&1); then
    say "Docker: using the daemon already running"
elif [[ $docker_info == *"permission denied"* ]]; then
    die "Docker runs, but this user may not use it (permission denied on its socket): run as root or as a member of the docker group"
else
    need_root "Docker is not running"
    command -v dockerd >/dev/null || die "no dockerd although docker.io is installed"
    say "Docker: starting dockerd (log: $WORK/dockerd.log)"
    dockerd >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -20 "$WORK/dockerd.log" >&2 || true
        die "dockerd did not come up (above: the end of its log); containers cannot run here"
    fi
fi

# --- 3. arm64 binaries on this machine: the kernel hands them to qemu-aarch64-static. The F
# flag (Debian's default) makes the kernel open qemu once, at registration, so containers need
# no qemu inside them.
BINFMT=/proc/sys/fs/binfmt_misc
if [ "$(uname -m)" != aarch64 ]; then
    if [ ! -e "$BINFMT/status" ]; then
        need_root "binfmt_misc is not mounted"
        say "mounting binfmt_misc"
        mount -t binfmt_misc binfmt_misc "$BINFMT" ||
            die "cannot mount binfmt_misc (an unprivileged container?): arm64 binaries cannot run here"
    fi
    if ! grep -qx enabled "$BINFMT/qemu-aarch64" 2>/dev/null; then
        need_root "qemu-aarch64 is not registered with binfmt_misc"
        say "registering qemu-aarch64 with binfmt_misc"
        update-binfmts --enable qemu-aarch64 || die "update-binfmts could not register qemu-aarch64"
    fi
    grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" ||
        die "qemu-aarch64 is registered without the F flag: arm64 containers would need qemu inside"
fi

# --- 4. The base image. SAM runs provided.al2023 functions on public.ecr.aws/lambda/provided:al2023
# (pulled from the internet when SAM can); here no registry is reachable, so a stand-in:
# Debian bookworm minbase for arm64, whose glibc (2.36) is newer than Amazon Linux 2023's
# (2.34), which is all cargo-lambda's bootstraps need. SAM adds its Runtime Interface Emulator
# to it, as it does to the real image. Built once: the tag is a hash of the recipe below, so
# editing the recipe builds a new one and the old tags are removed.
BASE_REPO=payments-api/provided-al2023-standin
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
build_base_image() {
    BASE_ROOT=$(mktemp -d /var/tmp/sam-local-base.XXXXXX)
    debootstrap --arch=arm64 --variant=minbase "$SUITE" "$BASE_ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
        tail -20 "$WORK/debootstrap.log" >&2
        die "debootstrap failed (above: the end of its log)"
    }
    rm -rf "$BASE_ROOT"/var/cache/apt/archives/*.deb "$BASE_ROOT"/var/lib/apt/lists/*
    tar -C "$BASE_ROOT" -c . | docker import --platform linux/arm64 \
        --message "stand-in for public.ecr.aws/lambda/provided:al2023 (scripts/sam-local.sh)" - "$1"
    rm -rf "$BASE_ROOT"
    BASE_ROOT=
}
recipe_hash=$({
    declare -f build_base_image
    echo "$SUITE $MIRROR"
} | sha256sum | cut -c1-12)
IMAGE=$BASE_REPO:$recipe_hash
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "base image $IMAGE (cached)"
else
    is_root || die "the base image $IMAGE is missing, and debootstrap needs root"
    say "building the base image $IMAGE (debootstrap arm64, about 75 s)"
    build_base_image "$IMAGE"
    # Older recipes' images (and what SAM built on them) go.
    docker images --format '{{.Repository}}:{{.Tag}}' |
        grep -E "^$BASE_REPO:" | grep -v -E "^$BASE_REPO:$recipe_hash(-|$)" |
        xargs -r docker rmi >/dev/null || true
fi
arch=$(docker run --rm "$IMAGE" uname -m 2>/dev/null) || arch="(did not run)"
[ "$arch" = aarch64 ] || die "the base image does not run arm64 binaries here: uname -m said $arch"

# --- 5. Where the containers reach this machine: the docker bridge's address (docker0, by
# default 172.17.0.1). The emulators listen there as well as on loopback; no other address.
BRIDGE=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
[ -n "$BRIDGE" ] || BRIDGE=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)
[ -n "$BRIDGE" ] || die "cannot find the docker bridge's address (docker network inspect bridge)"

# --- 6. The artifact: `sam build` (and the bootstraps' sizes), as the README's deploy does.
say "sam build (make lambda-build)"
"${MAKE:-make}" --no-print-directory lambda-build

# --- 7. The runs.
cargo build --quiet -p local-stack --bin sam-local
target/debug/sam-local --sam "$SAM" --image "$IMAGE" --bridge "$BRIDGE" --work "$WORK"
