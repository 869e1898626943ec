#!/usr/bin/env bash
# Checks that debian-packages.txt names every Debian package that linking against our
# pkg-config dependencies needs, static linking included.
#
#   scripts/check-deps.sh [BUILD_DIR]
#
# The modules: each one a CMakeLists.txt finds with pkg_check_modules, and, given BUILD_DIR,
# its astrolab.pc (whose Libs.private has what CMake found otherwise, such as -lmimalloc).
# For each, the package owning every .pc file its Requires and Requires.private reach, and
# every library file behind the -lNAME flags of `pkg-config --static --libs`, must be in the
# list. A package missing there builds on a machine that has it anyway (a developer's, or one
# where it came along with another package) and fails on a fresh Debian 12: libbz2-dev, needed
# by `pkg-config --static` of cfitsio and libdw, went unnoticed that way.
# Exits 0 when every package is listed, 1 naming each missing one, 77 without dpkg.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
list="${ASTROLAB_PACKAGES_FILE:-$root/debian-packages.txt}"
build="${1:-}"
cc="${CC:-cc}"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "check-deps: no dpkg here (not Debian): nothing to check" >&2
    exit 77
fi

# The packages build-essential brings (the C library and the compiler's own libraries):
# -lm, -lpthread, -ldl and -latomic come from them.
toolchain_re='^(libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-[0-9]+-dev|libstdc\+\+-[0-9]+-dev)$'

declare -A listed=()
while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"
    read -r pkg _ <<<"$line" || true
    [[ -n "${pkg:-}" ]] && listed[$pkg]=1
done <"$list"

modules=()
while IFS= read -r cmakelists; do
    while IFS= read -r m; do
        modules+=("$m")
    done < <(sed -n 's/^[[:space:]]*pkg_check_modules([A-Z0-9_]*\(\( REQUIRED\| QUIET\| IMPORTED_TARGET\)*\) \([A-Za-z0-9_.+-]*\)).*/\3/p' \
        "$cmakelists")
done < <(find "$root" -name CMakeLists.txt -not -path '*/build*' -not -path '*/node_modules/*')
if [[ -n "$build" ]]; then
    [[ -f "$build/astrolab.pc" ]] || { echo "check-deps: no $build/astrolab.pc" >&2; exit 1; }
    export PKG_CONFIG_PATH="$build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    modules+=(astrolab)
fi
[[ ${#modules[@]} -gt 0 ]] || { echo "check-deps: found no pkg-config modules" >&2; exit 1; }

files=()   # each file the links need ...
reasons=() # ... and what needs it
missing=0
declare -A need=() # package -> what needs it
note() { # package, what needs it: each reason once
    case ", ${need[$1]:-}, " in
    *", $2, "*) ;;
    *) need[$1]="${need[$1]:-}${need[$1]:+, }$2" ;;
    esac
}

# .pc files: every module its Requires and Requires.private reach (pkg-config checks that
# they exist even for --cflags).
seen_pc=()
walk_pc() {
    local m="$1" r
    for r in "${seen_pc[@]}"; do [[ "$r" == "$m" ]] && return; done
    seen_pc+=("$m")
    local dir
    dir="$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)" || {
        echo "check-deps: pkg-config cannot find module $m" >&2
        missing=1
        return
    }
    if [[ "$m" != astrolab ]]; then
        files+=("$dir/$m.pc")
        reasons+=("$m.pc")
    fi
    for r in $(pkg-config --print-requires --print-requires-private "$m" | awk '{print $1}'); do
        walk_pc "$r"
    done
}
for m in "${modules[@]}"; do
    walk_pc "$m"
done

# Libraries: each -lNAME of a static link, as the compiler would find it.
for m in "${modules[@]}"; do
    for flag in $(pkg-config --static --libs "$m"); do
        [[ "$flag" == -l* ]] || continue
        name="${flag#-l}"
        [[ "$name" == astrolab ]] && continue
        file=""
        for f in "lib$name.so" "lib$name.a"; do
            found="$("$cc" -print-file-name="$f")"
            if [[ "$found" != "$f" ]]; then
                file="$(realpath -s "$found")"
                break
            fi
        done
        if [[ -z "$file" ]]; then
            echo "check-deps: $flag (pkg-config --static --libs $m): no lib$name.so or .a here" >&2
            missing=1
            continue
        fi
        files+=("$file")
        reasons+=("$flag ($m)")
    done
done

# Their packages, from one dpkg-query (one call per file took a minute on a busy machine).
# Each file is asked for under /usr and without it (usrmerge: either may be the one recorded).
queries=()
for f in "${files[@]}"; do
    case "$f" in
    /usr/*) queries+=("$f" "${f#/usr}") ;;
    *) queries+=("$f" "/usr$f") ;;
    esac
done
declare -A owner=()
while IFS= read -r line; do
    pkg="${line%%: *}"
    pkg="${pkg%%,*}"
    owner["${line#*: }"]="${pkg%%:*}"
done < <(dpkg-query -S "${queries[@]}" 2>/dev/null || true)
for i in "${!files[@]}"; do
    f="${files[$i]}"
    case "$f" in
    /usr/*) alt="${f#/usr}" ;;
    *) alt="/usr$f" ;;
    esac
    p="${owner[$f]:-${owner[$alt]:-}}"
    if [[ -n "$p" ]]; then
        note "$p" "${reasons[$i]}"
    else
        echo "check-deps: $f (for ${reasons[$i]}): no Debian package installed it" >&2
        missing=1
    fi
done

for p in $(printf '%s\n' "${!need[@]}" | sort); do
    if [[ -z "${listed[$p]:-}" ]] && ! [[ "$p" =~ $toolchain_re ]]; then
        echo "check-deps: $p is not in $(basename "$list") (needed for ${need[$p]})" >&2
        missing=1
    fi
done
if [[ $missing -ne 0 ]]; then
    echo "check-deps: FAILED: add the packages above to debian-packages.txt, with a comment" >&2
    exit 1
fi
echo "check-deps: ${#need[@]} packages behind ${modules[*]}: all listed or from build-essential"
