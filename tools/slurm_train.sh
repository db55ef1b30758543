#!/usr/bin/env bash
# mmseg's slurm_train.sh: PARTITION JOB_NAME CONFIG [ARGS...]
exec bash "$(dirname "$0")/slurm_launch.sh" "$1" "$2" train.py "$3" --launcher="slurm" "${@:4}"
