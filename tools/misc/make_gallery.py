"""Train small models on the toy Cityscapes on the CPU and draw the attention gallery.

Trains, each for --iters iterations with the demo's data and schedule
(configs/demo/), a BiSeNet-R18, an FCN-R18 with and without CBAM, a
Semantic FPN-R18 with and without AFF and a FLANet-R18 (the full configs of
configs/attention/ and configs/flanet/ at half width: 32 base channels),
evaluates them on the toy validation set, and draws with
mmseg_attn.visualization on one validation image: the BiSeNet panel and
channel gates, FCN + CBAM vs FCN and FPN + AFF vs FPN side by side, the CBAM
spatial maps and channel gates, the AFF fusion weights and the FLA row and
column attention. The PNGs (8-bit
palette) go to --out-dir and docs/gallery.md describes them.

    python tools/misc/make_gallery.py                 # about 15 minutes on 2 CPU cores
    python tools/misc/make_gallery.py --tiny --out-dir /tmp/g --doc /tmp/g/gallery.md
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.datasets import make_toy_dataset
from mmseg_attn.security import atomic_write_text
from mmseg_attn.utils import convert_sync_bn_cfg, dataset_meta, drop_pretrained_cfg
from mmseg_attn.utils.image import load_image
from mmseg_attn.visualization import analyze, attention_figures, comparison_figure, save_png

DEMO_CONFIG = 'configs/demo/bisenet_r18_1xb4-400_toy-cityscapes-128x128.py'
#: Half-width ResNet-18 (32 base channels) for the FCN and FPN models.
HALF_R18 = dict(stem_channels=32, base_channels=32)
FPN_SHRINK = dict(backbone=dict(depth=18, **HALF_R18),
                  neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
                  decode_head=dict(in_channels=[64] * 4, channels=64))
FCN_SHRINK = dict(backbone=HALF_R18, decode_head=dict(in_channels=256, channels=64))

#: key: (name in the pictures, source config of the model, overrides).
MODELS = {
    'bisenet': ('BiSeNet-R18', DEMO_CONFIG, {}),
    'fcn': ('FCN-R18', 'mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py', FCN_SHRINK),
    'fcn_cbam': ('FCN-R18 + CBAM', 'configs/attention/fcn_r18-d8-cbam_4xb2-80k_cityscapes-'
                 '512x1024.py', FCN_SHRINK),
    'fpn': ('FPN-R18', 'mmseg::sem_fpn/fpn_r50_4xb2-80k_cityscapes-512x1024.py', FPN_SHRINK),
    'fpn_aff': ('FPN-R18 + AFF', 'configs/attention/fpn_r50-aff_4xb2-80k_cityscapes-'
                '512x1024.py', FPN_SHRINK),
    'flanet': ('FLANet-R18', 'configs/flanet/flanet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
               dict(backbone=dict(depth=18, **HALF_R18),
                    decode_head=dict(in_channels=256, channels=64))),
}
GRADCAM_CLASS = 'car'

#: What each picture shows, under it in gallery.md.
CAPTIONS = {
    'bisenet_panel.png':
    'BiSeNet-R18: the input, its prediction in the Cityscapes palette (the legend gives each '
    'class\'s share of the image) and the Grad-CAM of "car" at the input of the decode head '
    '(the FFM output): red is where the car score draws on.',
    'bisenet_channel_gates.png':
    'BiSeNet-R18: the channel gates of the two Attention Refinement Modules and the Feature '
    'Fusion Module on this image, each sorted from the strongest channel to the weakest; the '
    'red dots and labels name the five strongest channels and give the range of the weights. '
    'A flat curve treats every channel alike; a steep one selects channels.',
    'fcn_cbam_vs_fcn.png':
    'FCN-R18 + CBAM (top) and FCN-R18 (bottom), trained alike: the same image, their '
    'predictions and the Grad-CAM of "car" at the decode head\'s input, each normalised to its '
    'maximum.',
    'fpn_aff_vs_fpn.png':
    'FPN-R18 + AFF (top) and FPN-R18 (bottom), trained alike: the same image, their '
    'predictions and the Grad-CAM of "car" at the decode head\'s input, each normalised to its '
    'maximum.',
    'fcn_cbam_spatial_maps.png':
    'FCN-R18 + CBAM: the spatial attention map of the CBAM in each of the 8 residual blocks '
    '(stage 1 first) over the image. The map multiplies the block\'s features: 1 keeps a '
    'position, 0 suppresses it. Each colour bar spans that map\'s own range; a narrow range '
    'around 0.5 means the block barely reweights positions yet.',
    'fcn_cbam_channel_gates.png':
    'FCN-R18 + CBAM: the channel attention of every CBAM, sorted from the strongest channel to '
    'the weakest; the red labels name the five strongest channels and give the range of the '
    'weights. A flat curve near 0.5 treats all channels alike.',
    'fpn_aff_fusion_weights.png':
    'FPN-R18 + AFF: the fusion weight w of each top-down merge, averaged over the channels '
    '(neck.fusions.2 merges the coarsest level into the next, neck.fusions.0 the finest). Each '
    'merge outputs w * lateral + (1 - w) * upsampled coarser level: red keeps more of the '
    'lateral (finer) features, blue more of the coarser, semantic ones.',
    'flanet_row_column_attention.png':
    'FLANet-R18: the Fully Attentional block of the head. Each image column (top left) and '
    'each row (top right) attends over the channels with the pooled row and column priors; '
    'the colour says how peaked that attention is (0: uniform over the channels, 1: on one '
    'channel). Bottom: the channel-to-channel attention averaged over the columns and over '
    'the rows; gamma is the learnt weight of the attention output added to the input.',
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='docs/gallery', help='folder of the PNGs')
    parser.add_argument('--doc', default='docs/gallery.md', help='the Markdown page to write')
    parser.add_argument('--work-dir', default='work_dirs/gallery')
    parser.add_argument('--data-root', default='data/toy_cityscapes')
    parser.add_argument('--iters', type=int, default=150, help='training iterations per model')
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--tiny', action='store_true',
                        help='a check that everything runs: 2 iterations, 64 x 128 images')
    return parser.parse_args()


def ensure_toy_cityscapes(data_root: str, num_train: int, num_val: int, size) -> None:
    meta = osp.join(data_root, 'toy_dataset.json')
    if osp.exists(meta):
        with open(meta) as f:
            info = json.load(f)
        if (info['num_train'], info['num_val'], list(info['image_size'])) == (
                num_train, num_val, list(size)):
            return
    print(f'writing the toy Cityscapes dataset to {data_root} ...')
    make_toy_dataset('cityscapes', data_root, num_train=num_train, num_val=num_val,
                     image_size=size)


def gallery_config(key: str, args, image_size) -> Config:
    """The demo config (data, schedule, runtime) with the model of ``MODELS[key]``."""
    _, source, overrides = MODELS[key]
    cfg = Config.fromfile(DEMO_CONFIG)
    if source != DEMO_CONFIG:
        if source.startswith('mmseg::'):  # the file itself (mmengine's hub reads every metafile)
            import mmseg
            source = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs',
                              source[len('mmseg::'):])
        model = Config.fromfile(source).model
        model.auxiliary_head = None
        cfg.model = model
        cfg.merge_from_dict(dict(model=overrides))
    convert_sync_bn_cfg(cfg.model)
    drop_pretrained_cfg(cfg.model)
    h, w = image_size
    crop = (min(128, h), min(128, w))
    cfg.model.data_preprocessor.size = crop
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = args.data_root
        for t in cfg[loader].dataset.pipeline:
            if t['type'] in ('Resize', 'RandomResize'):
                t['scale'] = (w, h)
            elif t['type'] == 'RandomCrop':
                t['crop_size'] = crop
    iters = args.iters
    # validated once, at the last iteration; no checkpoint is written
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    warmup = min(20, max(iters // 10, 1))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup),
        dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=warmup, end=max(iters, warmup + 1),
             by_epoch=False),
    ]
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, min(50, iters // 5)),
                                    log_metric_by_epoch=False)
    cfg.visualizer.name = f'gallery_{key}'
    cfg.work_dir = osp.join(args.work_dir, key)
    return cfg


class _LastMetrics(Hook):
    """Keeps the metrics of the last validation."""

    metrics: dict = {}

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def train(key: str, args, image_size):
    """Train and evaluate one model; returns (model in eval mode, mIoU, minutes)."""
    start = time.time()
    runner = Runner.from_cfg(gallery_config(key, args, image_size))
    last = _LastMetrics()
    runner.register_hook(last)
    runner.train()
    metrics = last.metrics
    model = runner.model.eval()
    model.cfg = runner.cfg
    model.dataset_meta = dataset_meta(runner.cfg, None, model.decode_head.num_classes)
    return model, float(metrics['mIoU']), (time.time() - start) / 60


def pick_image(data_root: str, class_id: int) -> str:
    """The validation image with the most pixels of ``class_id`` in its ground truth."""
    import glob
    best, best_count = None, -1
    for label in sorted(glob.glob(osp.join(data_root, 'gtFine', 'val', '*',
                                           '*_labelTrainIds.png'))):
        count = int((load_image(label)[..., 0] == class_id).sum())
        if count > best_count:
            best, best_count = label, count
    return best.replace('gtFine', 'leftImg8bit', 1).replace('_gtFine_labelTrainIds',
                                                            '_leftImg8bit')


def main():
    args = parse_args()
    start = time.time()
    if args.tiny:
        args.iters = 2
        size, num_train, num_val = (64, 128), 8, 2
    else:
        size, num_train, num_val = (128, 256), 80, 20
    ensure_toy_cityscapes(args.data_root, num_train, num_val, size)
    os.makedirs(args.out_dir, exist_ok=True)
    colors = 256

    trained = {}
    for key in args.models:
        model, miou, minutes = train(key, args, size)
        trained[key] = dict(model=model, miou=miou, minutes=minutes,
                            name=f'{MODELS[key][0]} (mIoU {miou:.1f})')
        print(f'{MODELS[key][0]}: mIoU {miou:.2f} after {args.iters} iterations, '
              f'{minutes:.1f} min')

    first = next(iter(trained.values()))
    classes = first['model'].dataset_meta['classes']
    img_path = pick_image(args.data_root, classes.index(GRADCAM_CLASS))
    image = load_image(img_path)
    pictures = []

    def save(file, rgb, result, title):
        path = osp.join(args.out_dir, file)
        caption = CAPTIONS[file]
        save_png(path, rgb, {'Title': title, 'Software': 'mmseg_attn', 'model': result.model,
                             'class_name': result.class_name}, colors)
        pictures.append(dict(file=file, caption=caption, width=rgb.shape[1],
                             height=rgb.shape[0], bytes=os.path.getsize(path)))

    results = {key: analyze(t['model'], image, class_name=GRADCAM_CLASS, name=t['name'])
               for key, t in trained.items()}
    roles = dict(bisenet=('panel', 'channel_gates'), fcn_cbam=('spatial_maps', 'channel_gates'),
                 fpn_aff=('spatial_maps', ))
    figures = {key: {f['role']: f for f in attention_figures(r, roles=roles[key])}
               for key, r in results.items() if key in roles}
    if 'bisenet' in results:
        r = results['bisenet']
        for role in ('panel', 'channel_gates'):
            figure = figures['bisenet'][role]
            save(f'bisenet_{role}.png', figure['image'], r, figure['title'])
    for key, base in (('fcn_cbam', 'fcn'), ('fpn_aff', 'fpn')):
        if key not in results or base not in results:
            continue
        a, b = results[key], results[base]
        rows = [dict(name=r.model, pred=r.pred, cam=r.cam, cam_layer=r.cam_where)
                for r in (a, b)]
        rgb = comparison_figure(np.ascontiguousarray(image[..., ::-1]), rows, a.classes,
                                a.palette, a.class_id)
        save(f'{key}_vs_{base}.png', rgb, a, f'{a.model} vs {b.model}')
    if 'fcn_cbam' in results:
        for role in ('spatial_maps', 'channel_gates'):
            figure = figures['fcn_cbam'][role]
            save(f'fcn_cbam_{role}.png', figure['image'], results['fcn_cbam'], figure['title'])
    if 'fpn_aff' in results:
        figure = figures['fpn_aff']['spatial_maps']
        save('fpn_aff_fusion_weights.png', figure['image'], results['fpn_aff'], figure['title'])
    if 'flanet' in results:
        r = results['flanet']
        (fla, ) = attention_figures(r, roles=('fla', ), fla_size=(1000, 640))
        save('flanet_row_column_attention.png', fla['image'], r, fla['title'])
    total = sum(p['bytes'] for p in pictures)
    minutes = (time.time() - start) / 60
    threads = torch.get_num_threads()
    machine = f'{os.cpu_count()} CPU cores, {threads} torch thread' + 's' * (threads != 1)
    write_doc(args, trained, pictures, img_path, minutes, num_val, size, machine)
    print(f'{len(pictures)} pictures ({total / 1e6:.2f} MB) in {args.out_dir}, described in '
          f'{args.doc}; {minutes:.1f} min in all')


def write_doc(args, trained, pictures, img_path, minutes, num_val, size, machine):
    """Write the Markdown page of the gallery."""
    rel = osp.relpath(args.out_dir, osp.dirname(osp.abspath(args.doc)) or '.')
    lines = [
        '# Attention gallery',
        '',
        'Pictures drawn by `mmseg_attn.visualization` (the same figures as',
        '`tools/analysis_tools/visualize_attention.py` and the `AttentionVisualizationHook`) '
        'from small',
        'models trained on the CPU on the toy Cityscapes dataset',
        '(`mmseg_attn.datasets.make_toy_dataset`: coloured, textured shapes of 7 classes over',
        'a "road" background). They show what the pictures look like and how to read them;',
        'they are not results on real data.',
        '',
        'Written by `make gallery` (`python tools/misc/make_gallery.py`): every model trains for '
        f'{args.iters} iterations',
        f'(batch 4 of {min(128, size[0])} x {min(128, size[1])} crops of {size[0]} x {size[1]} '
        'images, SGD, the schedule of the demo config in',
        f'`configs/demo/`), from scratch, then is evaluated on the {num_val} validation '
        'images; the pictures use the',
        f'validation image with the most "car" pixels (`{osp.basename(img_path)}`). '
        f'The run took {minutes:.0f} minutes ({machine}).',
        '',
        '| model | derived from | mIoU (toy val) | training |',
        '|---|---|---|---|',
    ]
    for key, t in trained.items():
        name, source, _ = MODELS[key]
        lines.append(f'| {name} | `{source}`' + (' at half width' if key != 'bisenet' else '')
                     + f' | {t["miou"]:.1f} | {t["minutes"]:.1f} min |')
    lines += [
        '',
        'How to read them: every heatmap lies over the image with its own colour bar in the',
        "map's units (gate weights in [0, 1], Grad-CAM normalised to its maximum); titles name",
        'the model, the block (its path in the model) and the Grad-CAM class and layer; the',
        'class colours are the Cityscapes palette. The Grad-CAM class defaults to the most',
        'frequent predicted class that is not background ("road" here); these use `car`.',
        '',
        f'Each mIoU comes from one short run (one seed, {num_val} small images): differences '
        'between',
        'the models here say nothing about the blocks. After so few iterations from scratch',
        'some gates still sit near 0.5; read the range on each colour bar.',
        '',
    ]
    for p in pictures:
        lines += [f'![{p["file"]}]({rel}/{p["file"]})', '', p['caption'], '']
    lines += [
        '## Drawing your own',
        '',
        '```shell',
        '# one image, one model: panel, spatial maps, channel gates, per-block files',
        'python tools/analysis_tools/visualize_attention.py IMAGE CONFIG CHECKPOINT \\',
        '    --out-dir vis \\',
        '    --class-name car',
        '# the same image through two models, side by side (comparison.png)',
        'python tools/analysis_tools/visualize_attention.py IMAGE CBAM_CONFIG CBAM_CKPT \\',
        '    --out-dir vis \\',
        '    --compare PLAIN_CONFIG PLAIN_CKPT',
        '```',
        '',
        'During training, add the hook to a config; it sends the pictures of the first',
        'validation images to the Visualizer\'s backends (`vis_data/vis_image/`, TensorBoard):',
        '',
        '```python',
        "custom_hooks = [dict(type='AttentionVisualizationHook', interval=2000, num_images=2)]",
        '```',
        '',
    ]
    atomic_write_text('\n'.join(lines), args.doc)


if __name__ == '__main__':
    main()
