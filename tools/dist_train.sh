#!/usr/bin/env bash
# mmseg's dist_train.sh: CONFIG GPUS [ARGS...]
CONFIG=$1
GPUS=$2
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$GPUS" "$CONFIG" --launcher pytorch "${@:3}"
