# The hooks that keep long runs safe
# (mmseg_attn.engine.hooks):
# - FiniteLossHook stops at the first NaN/Inf loss, before a checkpoint of the
#   bad weights is written, and refuses to write a checkpoint holding NaN/Inf;
# - RNGStateHook stores the random generators in every checkpoint and
#   restores them on --resume (a resumed run ends with the same weights as an
#   uninterrupted one);
# - CheckpointShapeHook turns a checkpoint that does not fit the model
#   (load_from, --resume, tools/test.py) into an error naming each tensor;
#   to fine-tune on a new set of classes, allow the classifier with
#   dict(type='CheckpointShapeHook', allow_mismatch=['conv_seg']);
# - GracefulStopHook turns SIGTERM (kill, slurm) into a stop after the current
#   iteration and its checkpoint, logging the last checkpoint and --resume.
# A config that sets its own custom_hooks replaces this list: keep these
# four in it. The hooks are registered by `import mmseg_attn`: the config
# that inherits this file imports it (custom_imports), as every config of
# this project does. (No custom_imports here: two bases that both set it
# cannot be combined.)
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(type='RNGStateHook'),
    dict(type='CheckpointShapeHook'),
    dict(type='GracefulStopHook'),
]
