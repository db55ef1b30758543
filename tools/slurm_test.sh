#!/usr/bin/env bash
# mmseg's slurm_test.sh: PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS...]
exec bash "$(dirname "$0")/slurm_launch.sh" "$1" "$2" test.py "$3" "$4" --launcher="slurm" \
    "${@:5}"
