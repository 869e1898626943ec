#!/bin/sh
# on_rank.sh RANK NAME=VALUE COMMAND...: runs COMMAND with NAME=VALUE in its environment on MPI
# rank RANK only (the rank as Open MPI, PMI or Slurm give it), so that a test can inject a fault
# (ASTROLAB_FAIL_AFTER) into one rank of a job.
rank=$1 assign=$2
shift 2
me=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${SLURM_PROCID:-}}}
if [ "$me" = "$rank" ]; then
    export "${assign?}"
fi
exec "$@"
