"""Read every sample of a config's dataset once and list every bad file.

Each image and label is loaded with the checks of
``LoadCheckedImageFromFile`` / ``LoadCheckedAnnotations``
(mmseg_attn.datasets.transforms): missing, empty or corrupt files, colour
labels, label files in a lossy format (a JPEG named ``.png``: the format is
read from the bytes, PNG, BMP, GIF, PBM/PGM/PPM, TIFF without lossy
compression and lossless WebP pass), label values outside the class range
(and other than the ignore index), labels of another size than their image. The loading arguments of
the config's pipeline (``reduce_zero_label``, decoders, backends) are kept;
the random augmentations are not run. The exit code is 1 when a problem was
found, 0 otherwise.

Examples::

    python tools/analysis_tools/check_dataset.py configs/bisenet/<config>.py
    python tools/analysis_tools/check_dataset.py CONFIG --split val --jobs 8
    python tools/analysis_tools/check_dataset.py CONFIG --cfg-options \\
        train_dataloader.dataset.data_root=data/my_cityscapes
"""
import argparse
import copy
import functools
import os
import sys
from multiprocessing.pool import ThreadPool
from typing import List, Optional, Tuple

from mmengine.registry import init_default_scope

import mmseg_attn  # noqa: F401  (registration)
from mmseg_attn.datasets import CorruptSampleError
from mmseg_attn.utils import leaf_datasets
from mmseg_attn.utils.config import add_cfg_options, load_config

IMAGE_LOADERS = ('LoadImageFromFile', 'LoadCheckedImageFromFile')
LABEL_LOADERS = ('LoadAnnotations', 'LoadCheckedAnnotations')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='train',
                        help='which dataloader\'s dataset to check (default: train)')
    parser.add_argument('--jobs', type=int, default=min(4, os.cpu_count() or 1),
                        help='files read in parallel (threads)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


def _kind(transform_cfg: dict) -> str:
    return str(transform_cfg.get('type', '')).split('.')[-1]


def checked_loaders(pipeline: list, num_classes: int, ignore_index: int):
    """Checked loading transforms with the loading arguments of ``pipeline``."""
    from mmseg.registry import TRANSFORMS
    image_cfg = dict(type='LoadCheckedImageFromFile')
    label_cfg = dict(type='LoadCheckedAnnotations')
    for transform in pipeline or []:
        if _kind(transform) in IMAGE_LOADERS:
            image_cfg = dict(transform, type='LoadCheckedImageFromFile')
        elif _kind(transform) in LABEL_LOADERS:
            label_cfg = dict(transform, type='LoadCheckedAnnotations')
    image_cfg.update(on_error='raise', ignore_empty=False)
    label_cfg.update(on_error='raise')
    label_cfg.setdefault('num_classes', num_classes)
    label_cfg.setdefault('ignore_index', ignore_index)
    return TRANSFORMS.build(image_cfg), TRANSFORMS.build(label_cfg)


def check_sample(info: dict, load_image, load_label) -> List[Tuple[str, str]]:
    """Problems ``(path, problem)`` of one sample's image and label."""
    results = copy.deepcopy(info)
    problems = []
    for transform, key in ((load_image, 'img_path'), (load_label, 'seg_map_path')):
        if key not in results:
            continue
        try:
            transform(results)
        except CorruptSampleError as e:
            problems.append((e.path, e.problem))
    return problems


def check_dataset(dataset_cfg: dict, jobs: int = 1,
                  progress: Optional[bool] = None) -> Tuple[int, List[Tuple[str, str]]]:
    """Check every sample of every dataset under ``dataset_cfg``.

    Returns:
        tuple[int, list[tuple[str, str]]]: The number of samples and the
        problems found, ``(path, problem)``.
    """
    from mmseg.registry import DATASETS
    total, problems = 0, []
    for cfg in leaf_datasets(dataset_cfg):
        dataset = DATASETS.build(dict(cfg, lazy_init=False))
        num_classes = len(dataset.metainfo['classes'])
        ignore_index = getattr(dataset, 'ignore_index', 255)
        loaders = checked_loaders(cfg.get('pipeline'), num_classes, ignore_index)
        print(f'{type(dataset).__name__} at {cfg.get("data_root")!r}: {len(dataset)} samples, '
              f'{num_classes} classes, ignore_index {ignore_index}', flush=True)
        infos = (dataset.get_data_info(i) for i in range(len(dataset)))
        show = sys.stderr.isatty() if progress is None else progress
        bar = None
        if show:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(dataset), file=sys.stderr)
        with ThreadPool(max(1, jobs)) as pool:
            check = functools.partial(check_sample, load_image=loaders[0], load_label=loaders[1])
            for found in pool.imap(check, infos):
                problems.extend(found)
                if bar is not None:
                    bar.update()
        total += len(dataset)
    return total, problems


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader or 'dataset' not in loader:
        print(f'{args.config} has no {args.split}_dataloader.dataset', file=sys.stderr)
        return 2
    total, problems = check_dataset(loader['dataset'], jobs=args.jobs)
    for path, problem in problems:
        print(f'{path}: {problem}')
    files = len({path for path, _ in problems})
    if problems:
        print(f'{len(problems)} problem(s) in {files} file(s) among {total} samples '
              f'({args.split} split of {args.config})')
        return 1
    print(f'{total} samples checked ({args.split} split of {args.config}): no problem found')
    return 0


if __name__ == '__main__':
    sys.exit(main())
