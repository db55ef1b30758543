#!/usr/bin/env bash
# mmseg's dist_test.sh: CONFIG CHECKPOINT GPUS [ARGS...]
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
exec bash "$(dirname "$0")/dist_launch.sh" test.py "$GPUS" "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
