#!/usr/bin/env bash
# Installs the Debian packages AstroLab needs, as listed in debian-packages.txt.
#
#   scripts/deps.sh [TAG...]    TAG: test, bench (the untagged packages are always included)
#
# Each package is checked with dpkg-query. When some are missing: as root, runs apt-get update
# and installs them; otherwise prints the exact apt-get command and exits with status 1.
# Set ASTROLAB_SKIP_DEPS=1 to skip the check (a machine whose packages come from elsewhere).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
list="${ASTROLAB_PACKAGES_FILE:-$here/../debian-packages.txt}"

if [[ "${ASTROLAB_SKIP_DEPS:-0}" == 1 ]]; then
    echo "deps: ASTROLAB_SKIP_DEPS=1, not checking Debian packages"
    exit 0
fi
if [[ ! -r "$list" ]]; then
    echo "deps: cannot read the package list $list" >&2
    exit 1
fi
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found: this script expects Debian 12 (bookworm)." >&2
    echo "deps: install the packages listed in $list by hand, then rerun with ASTROLAB_SKIP_DEPS=1" >&2
    exit 1
fi

wanted_tags=("$@")
for t in "${wanted_tags[@]}"; do
    case "$t" in
    test | bench) ;;
    *)
        echo "deps: unknown tag '$t' (known: test, bench)" >&2
        exit 2
        ;;
    esac
done

# Reads "package [tag]" lines; '#' starts a comment.
wanted=()
lineno=0
while IFS= read -r line || [[ -n "$line" ]]; do
    lineno=$((lineno + 1))
    line="${line%%#*}"
    read -r pkg tag extra <<<"$line" || true
    [[ -z "${pkg:-}" ]] && continue
    if [[ -n "${extra:-}" ]]; then
        echo "deps: $list:$lineno: expected 'package [tag]', got '$line'" >&2
        exit 1
    fi
    if [[ -z "${tag:-}" ]]; then
        wanted+=("$pkg")
        continue
    fi
    for t in "${wanted_tags[@]}"; do
        if [[ "$t" == "$tag" ]]; then
            wanted+=("$pkg")
            break
        fi
    done
done <"$list"

# Packages whose program may come from another source than Debian's package of that name: a
# NodeSource nodejs ships npm itself and conflicts with Debian's npm package.
provided_by_command() {
    case "$1" in
    npm) command -v npm >/dev/null 2>&1 ;;
    nodejs) command -v node >/dev/null 2>&1 ;;
    *) return 1 ;;
    esac
}

missing=()
for pkg in "${wanted[@]}"; do
    if provided_by_command "$pkg"; then
        continue
    fi
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#wanted[@]} Debian packages present${wanted_tags[*]:+ (with: ${wanted_tags[*]})}"
    exit 0
fi

install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ "$(id -u)" -ne 0 ]]; then
    {
        echo "deps: missing Debian packages: ${missing[*]}"
        echo "deps: run this as root (through sudo or su), then the same make command again:"
        echo
        echo "    apt-get update && DEBIAN_FRONTEND=noninteractive $install_cmd"
        echo
    } >&2
    exit 1
fi

echo "deps: installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
    echo "deps: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
echo "deps: installed ${missing[*]}"
