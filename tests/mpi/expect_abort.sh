#!/bin/sh
# Runs the command (mpirun ... mpi_fail kill) and passes when it failed with a message that
# names a rank that ended on a signal: what Open MPI's mpirun prints when a rank is killed.
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -eq 0 ]; then
    echo "expect_abort: the job exited 0 although a rank was killed" >&2
    exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq 'rank [0-9]+ .*(exited on signal|signal 9|Killed)'; then
    echo "expect_abort: no message naming the killed rank" >&2
    exit 1
fi
echo "expect_abort: the job ended (status $rc) and named the killed rank"
