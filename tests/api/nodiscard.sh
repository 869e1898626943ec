#!/bin/sh
# Usage: nodiscard.sh CC SOURCE INCLUDE_DIR. Compiles SOURCE (to no object; not -fsyntax-only,
# which skips gcc's unused-result check) and passes when each line marked "/* discarded */"
# draws exactly one -Wunused-result warning and nothing else warns.
cc=$1 src=$2 inc=$3
want=$(grep -c '/\* discarded \*/' "$src")
out=$("$cc" -std=c11 -Wall -Wextra -c -o /dev/null -I"$inc" "$src" 2>&1)
got=$(printf '%s\n' "$out" | grep -c 'warning:.*\[-Wunused-result\]')
other=$(printf '%s\n' "$out" | grep 'warning:\|error:' | grep -vc '\[-Wunused-result\]')
if [ "$got" -ne "$want" ] || [ "$other" -ne 0 ]; then
    printf '%s\n' "$out"
    echo "nodiscard.sh: $got of $want discarded results warned; $other other diagnostics" >&2
    exit 1
fi
echo "nodiscard.sh: all $want discarded results warned"
