#!/usr/bin/env bash
# Run tools/SCRIPT as a slurm job with srun, as mmseg's slurm_train.sh /
# slurm_test.sh do (GPUS, GPUS_PER_NODE, CPUS_PER_TASK and SRUN_ARGS from the
# environment). Usage: slurm_launch.sh PARTITION JOB_NAME SCRIPT [ARGS...]

set -x

PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u "tools/$SCRIPT" "${@:4}"
