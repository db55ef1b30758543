#!/usr/bin/env bash
# Launch tools/SCRIPT on GPUS processes per node with torch.distributed.launch,
# as mmseg's dist_train.sh / dist_test.sh do (NNODES, NODE_RANK, PORT and
# MASTER_ADDR from the environment). Usage: dist_launch.sh SCRIPT GPUS [ARGS...]

SCRIPT=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
python -m torch.distributed.launch \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}"
