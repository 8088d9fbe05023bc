#!/usr/bin/env bash
# hcml's container images, built with buildah from a Debian bookworm base made here with debootstrap (no image
# registry needed) and run with podman as OpenShift runs them (arbitrary UID in group 0, read-only root).
#   scripts/images.sh install                 buildah, podman, runc, debootstrap (apt) and syft (.tools/bin)
#   scripts/images.sh build [base|realtime|dagster|train]...   default: base realtime dagster; each with its SBOM
#   scripts/images.sh run realtime|dagster    run one in the foreground, as the cluster would (Ctrl-C stops it)
#   scripts/images.sh test [pytest args]      build, then the image tests (tests/images)
#   scripts/images.sh sbom NAME               (re)write the SBOM of hcml-NAME
#   scripts/images.sh usable                  exit 0 when podman can run containers here
#   scripts/images.sh base-tag                the local base image's name (for `podman build --build-arg`)
# Environment: HCML_IMAGES_CACHE (debootstrap tarball, .debs, pip cache; default .tools/images),
# HCML_IMAGES_OUT (SBOMs and sizes; default var/images), HCML_IMAGE_TAG (default: the project version),
# HCML_DEBIAN_MIRROR / HCML_DEBIAN_SECURITY_MIRROR (default: the mirrors apt on this machine uses),
# HCML_BASE_EPOCH (any new value rebuilds the base, e.g. to take the latest Debian security updates).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CONTAINERS_CONF="$ROOT/deploy/containers/containers.conf"
CACHE="${HCML_IMAGES_CACHE:-$ROOT/.tools/images}"
OUT="${HCML_IMAGES_OUT:-$ROOT/var/images}"
TAG="${HCML_IMAGE_TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)}"
SUITE=bookworm
BASE_PACKAGES="python3,python3-venv,ca-certificates"
SYFT_VERSION=v1.57.2
SYFT="${SYFT:-$ROOT/.tools/bin/syft}"

log() { echo "==> $*" >&2; }

apt_mirror() {  # the first URI apt is configured with for the given suite
  local suite="$1" fallback="$2"
  local uri
  uri=$(awk -v s="$suite" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s){print u; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  [[ -z "$uri" ]] && uri=$(awk -v s="$suite" '$1=="deb" && $3==s {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-$fallback}"
}
MIRROR="${HCML_DEBIAN_MIRROR:-$(apt_mirror $SUITE http://deb.debian.org/debian)}"
SECURITY_MIRROR="${HCML_DEBIAN_SECURITY_MIRROR:-$(apt_mirror $SUITE-security http://deb.debian.org/debian-security)}"

install_tools() {
  local missing=()
  for tool in buildah podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt)"
    [[ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      buildah podman runc debootstrap fuse-overlayfs uidmap >/dev/null
  fi
  # `go install` stamps the module version into the binary (syft's own `version` says "not provided")
  if [[ ! -x "$SYFT" ]] || ! go version -m "$SYFT" 2>/dev/null | grep -qE "^\s*mod\s+github.com/anchore/syft\s+$SYFT_VERSION\s"; then
    log "building syft $SYFT_VERSION (SBOMs) into $(dirname "$SYFT") (a few minutes, once)"
    mkdir -p "$(dirname "$SYFT")"
    GOBIN="$(dirname "$SYFT")" GOFLAGS=-trimpath go install -ldflags "-X main.version=${SYFT_VERSION#v}" \
      "github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
  fi
}

# ------------------------------------------------------------------------------------------------ base
base_recipe() {  # $1 = an empty directory: a minimal bookworm with the Debian python3.11 (requires-python 3.11)
  local root="$1"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" --cache-dir="$CACHE/debs" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$root" "$MIRROR" >&2
  cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq' >&2
  # what the image needs at run time only; dpkg's status stays (the SBOM reads the Debian packages there)
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* "$root"/tmp/* \
         "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/locale "$root"/etc/resolv.conf
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete  # keep the licences
  : > "$root/etc/resolv.conf"
}

base_key() {  # the base's inputs: mirrors, suite, packages, the recipe itself, the epoch
  { echo "$MIRROR $SECURITY_MIRROR $SUITE $BASE_PACKAGES ${HCML_BASE_EPOCH:-}"; declare -f base_recipe; } \
    | sha256sum | cut -c1-12
}

base_tag() { echo "localhost/hcml-base:$SUITE-$(base_key)"; }

build_base() {
  local tag tarball root
  tag=$(base_tag)
  if podman image exists "$tag"; then log "base $tag (cached)"; echo "$tag"; return; fi
  tarball="$CACHE/base/$(basename "${tag/:/-}").tar"
  if [[ ! -f "$tarball" ]]; then
    log "debootstrap $SUITE from $MIRROR into $tarball"
    mkdir -p "$CACHE/base" "$CACHE/debs"
    root=$(mktemp -d "$CACHE/base/root.XXXXXX")
    base_recipe "$root"
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
    rm -rf "$root"
    mv "$tarball.part" "$tarball"
  fi
  log "importing $tarball as $tag"
  podman import --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$tag" >/dev/null
  echo "$tag"
}

# ------------------------------------------------------------------------------------------------ images
image_name() { echo "localhost/hcml-$1:$TAG"; }

build_image() {  # $1 = realtime | dagster | train
  local what="$1" base file args=()
  base=$(build_base)
  case "$what" in
    realtime) file=deploy/containers/Containerfile.realtime ;;
    dagster) file=deploy/containers/Containerfile.code-location ;;
    train) file=deploy/containers/Containerfile.code-location; args=(--build-arg HCML_EXTRAS=pipeline,train) ;;
    *) echo "unknown image '$what' (realtime, dagster, train)" >&2; exit 2 ;;
  esac
  scripts/build-core.sh  # the compiled core's wheel, which the Containerfiles install (needs .venv: scripts/setup.sh)
  mkdir -p "$CACHE/pip"
  local mounts=(-v "$CACHE/pip:/root/.cache/pip")
  # the CAs this machine trusts (a TLS-inspecting egress proxy has its own), for pip during the build only:
  # a RUN step's mounts are not part of its layer
  local ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
  if [[ -f "$ca" ]]; then
    printf '[global]\ncert = /run/hcml-build/ca.crt\n' > "$CACHE/pip.conf"
    mounts+=(-v "$ca:/run/hcml-build/ca.crt:ro" -v "$CACHE/pip.conf:/etc/pip.conf:ro")
  fi
  log "building $(image_name "$what") from $file on $base"
  # --layers: every step whose inputs did not change is reused; the pip cache is shared between builds
  buildah build --layers --network host --pull=never --build-arg PYTHON_IMAGE="$base" "${args[@]}" \
    "${mounts[@]}" -f "$file" -t "$(image_name "$what")" . >&2
  write_sbom "$what"
}

write_sbom() {  # $1 = name [force]: CycloneDX JSON (Debian packages from dpkg's status, Python packages from
  # the venv) + the image's id and size; skipped while the image id is the one the record names
  local what="$1" image mnt size
  image=$(image_name "$what")
  mkdir -p "$OUT"
  local id record="$OUT/hcml-$what-$TAG.json"
  id=$(podman image inspect --format '{{.Id}}' "$image")
  if [[ "${2:-}" != force && -f "$record" && -f "$OUT/hcml-$what-$TAG.cdx.json" ]] && grep -q "\"$id\"" "$record"; then
    log "$image unchanged ($id): SBOM $OUT/hcml-$what-$TAG.cdx.json"
    return
  fi
  mnt=$(podman image mount "$image")
  "$SYFT" scan "dir:$mnt" --override-default-catalogers image --source-name "hcml-$what" --source-version "$TAG" \
    -q -o "cyclonedx-json=$OUT/hcml-$what-$TAG.cdx.json"
  podman image unmount "$image" >/dev/null
  size=$(podman image inspect --format '{{.Size}}' "$image")
  printf '{"image": "%s", "id": "%s", "size_bytes": %s, "sbom": "%s"}\n' "$image" "$id" "$size" \
    "hcml-$what-$TAG.cdx.json" > "$record"
  log "$image: $((size / 1000000)) MB, SBOM $OUT/hcml-$what-$TAG.cdx.json"
}

run_image() {  # the manifests' runtime shape: arbitrary UID in group 0, read-only root, tmpfs scratch
  case "$1" in
    realtime) exec podman run --rm --user 1000770000:0 --read-only --tmpfs /var/lib/hcml --tmpfs /tmp \
                "$(image_name realtime)" ;;
    dagster) exec podman run --rm --user 1000770000:0 --read-only --tmpfs /opt/hcml/var --tmpfs /tmp \
               --tmpfs /opt/dagster/dagster_home --tmpfs /opt/hcml/home "$(image_name dagster)" ;;
    *) echo "usage: scripts/images.sh run realtime|dagster" >&2; exit 2 ;;
  esac
}

cmd="${1:-build}"; shift || true
case "$cmd" in
  install) install_tools ;;
  base-tag) base_tag ;;
  usable) command -v podman >/dev/null && podman info >/dev/null 2>&1 ;;
  build)
    install_tools
    targets=("$@"); ((${#targets[@]})) || targets=(base realtime dagster)
    for t in "${targets[@]}"; do
      if [[ "$t" == base ]]; then build_base >/dev/null; else build_image "$t"; fi
    done ;;
  sbom) write_sbom "${1:?which image: realtime, dagster, train}" force ;;
  run) run_image "${1:-realtime}" ;;
  test)
    "$0" build
    exec .venv/bin/python -m pytest tests/images "$@" ;;
  *) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
