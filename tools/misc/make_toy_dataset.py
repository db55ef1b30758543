"""Write a synthetic toy dataset in the on-disk layout of a real one.

Examples::

    # data/cityscapes, read by mmseg::_base_/datasets/cityscapes.py as it is
    python tools/misc/make_toy_dataset.py cityscapes
    # data/ade/ADEChallengeData2016 and data/VOCdevkit/VOC2012
    python tools/misc/make_toy_dataset.py ade20k
    python tools/misc/make_toy_dataset.py voc --num-train 400 --size 240 320
"""
import argparse

from mmseg_attn.datasets import LAYOUTS, make_toy_dataset

DEFAULT_OUT = {'cityscapes': 'data/cityscapes', 'ade20k': 'data/ade', 'voc': 'data'}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('layout', choices=sorted(LAYOUTS))
    parser.add_argument('--out', help='output folder; defaults to where the stock mmseg '
                        f'config expects the data ({DEFAULT_OUT})')
    parser.add_argument('--num-train', type=int, default=40)
    parser.add_argument('--num-val', type=int, default=10)
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='image height and width')
    parser.add_argument('--classes', nargs='+', help='object classes (dataset class names)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    root = make_toy_dataset(args.layout, args.out or DEFAULT_OUT[args.layout],
                            num_train=args.num_train, num_val=args.num_val,
                            image_size=args.size, classes=args.classes, seed=args.seed)
    print(f'toy {args.layout} dataset written; use data_root={root!r}')


if __name__ == '__main__':
    main()
