#!/usr/bin/env bash
# Run tools/SCRIPT as a slurm job with srun, as mmseg's slurm_train.sh /
# slurm_test.sh do (GPUS, GPUS_PER_NODE, CPUS_PER_TASK and SRUN_ARGS from the
# environment). Usage: slurm_launch.sh PARTITION JOB_NAME SCRIPT [ARGS...]

set -x

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
srun -p "$1" \
    --job-name="$2" \
    --gres=gpu:${GPUS_PER_NODE:-4} \
    --ntasks=${GPUS:-4} \
    --ntasks-per-node=${GPUS_PER_NODE:-4} \
    --cpus-per-task=${CPUS_PER_TASK:-5} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS:-} \
    python -u "tools/$3" "${@:4}"
