"""Rewrite a trusted mmengine checkpoint so that it loads with ``weights_only=True``.

Checkpoints written by an mmengine Runner without mmseg_attn pickle their
``HistoryBuffer`` logs through ``builtins.getattr``, which secure loading
refuses. If (and only if) you trust where the file came from, convert it once:

    python tools/model_converters/upgrade_checkpoint.py old.pth new.pth --trust

The source file is unpickled without ``weights_only`` here, which can run code
that it carries: never use this on a file from an unknown source. DST is
written only if it then loads securely; otherwise nothing is written and the
objects that block it are named (they have to be removed or replaced by plain
data in the code that wrote the checkpoint).
"""
import argparse
import sys

from mmseg_attn.compat import CheckpointError, rewrite_trusted_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint file you trust')
    parser.add_argument('dst', help='where to write the upgraded checkpoint')
    parser.add_argument('--trust', action='store_true',
                        help='confirm that SRC comes from a source you trust')
    args = parser.parse_args(argv)
    if not args.trust:
        print(f'refusing to unpickle without weights_only: pass --trust if you trust '
              f'{args.src!r} (loading an untrusted file can run arbitrary code)', file=sys.stderr)
        return 2
    try:
        rewrite_trusted_checkpoint(args.src, args.dst)
    except CheckpointError as e:
        print(e, file=sys.stderr)
        return 1
    print(f'wrote {args.dst}; it loads with weights_only=True')
    return 0


if __name__ == '__main__':
    sys.exit(main())
