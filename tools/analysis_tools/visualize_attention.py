"""Draw what the attention blocks of a segmentor do on one image.

Runs the model once on the image with hooks on the probe points of every
attention block and writes, into --out-dir: panel.png (input, prediction in
the dataset palette, Grad-CAM of one class, titled with model, class and
layer), spatial_maps.png (every spatial map over the image with colour
bars), channel_gates.png (every channel gate as a sorted curve with the
strongest channels marked), one PNG per attention map, a Grad-CAM alone and
attention_maps.json describing the files. With --compare, the same image
through a second model, side by side, in comparison.png. Works on the CPU; without a
checkpoint a model keeps its random initialisation.

The Grad-CAM class is --class-name or --class-id, by default the most
frequent predicted foreground class (not 'background' / 'road', see
mmseg_attn/visualization/meta.py). Class names and colours come from the
checkpoint's meta, else from the config's dataset.

    python tools/analysis_tools/visualize_attention.py demo.png \\
        configs/attention/fcn_r18-d8-cbam_4xb2-80k_cityscapes-512x1024.py cbam.pth \\
        --out-dir vis --class-name car \\
        --compare mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py fcn.pth
"""
import argparse
import sys

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.apis import build_segmentor
from mmseg_attn.utils.config import add_cfg_options
from mmseg_attn.utils.image import MAX_IMAGE_PIXELS, ImageError, load_image
from mmseg_attn.visualization import visualize_attention, visualize_comparison


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualize the attention maps of a segmentor')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (default: random init)')
    parser.add_argument('--out-dir', default='attention_vis', help='folder of the pictures')
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--class-id',
        '--category-index',
        type=int,
        help='class of the Grad-CAM (default: the most frequent predicted foreground class)')
    group.add_argument('--class-name', help='class of the Grad-CAM by name, e.g. car')
    parser.add_argument(
        '--cam-layer',
        help='module path of the Grad-CAM target, e.g. backbone.layer4 or '
        'decode_head.bottleneck (default: the input of the decode head)')
    parser.add_argument('--cam-index', type=int, help='element of a tuple output of --cam-layer')
    parser.add_argument(
        '--compare',
        nargs='+',
        metavar=('CONFIG2', 'CHECKPOINT2'),
        help='a second model (config and optional checkpoint): the same image through both, '
        'side by side, in comparison.png')
    parser.add_argument('--overview-only', action='store_true',
                        help='write the overview figures only, not one file per spatial map '
                        'and channel gate')
    parser.add_argument('--name', help='name of the model in the titles (default: config name)')
    parser.add_argument('--compare-name', help='name of the second model in the titles')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the image to H x W first')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--max-pixels', type=int, default=MAX_IMAGE_PIXELS,
                        help='refuse larger images (height x width, read from the header; '
                        f'default: {MAX_IMAGE_PIXELS:,})')
    parser.add_argument('--alpha', type=float, default=0.5, help='heatmap opacity')
    parser.add_argument('--chart-size', type=int, nargs=2, default=(800, 400),
                        metavar=('W', 'H'), help='size of a channel-gate figure in pixels')
    parser.add_argument('--fla-size', type=int, nargs=2, default=(1000, 700),
                        metavar=('W', 'H'), help='size of an FLA figure in pixels')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.compare is not None and len(args.compare) > 2:
        parser.error('--compare takes a config and an optional checkpoint')
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        image = load_image(args.img, args.shape, args.max_pixels)
        model = build_segmentor(args.config, args.checkpoint, args.device, args.cfg_options)
        other = build_segmentor(args.compare[0], (args.compare[1:] or [None])[0], args.device,
                                args.cfg_options) if args.compare else None
    except (OSError, ImageError, ValueError) as exc:  # a bad image, checkpoint, option
        print(f'error: {exc}', file=sys.stderr)
        return 1
    options = dict(class_id=args.class_id, class_name=args.class_name,
                   cam_layer=args.cam_layer, cam_index=args.cam_index, alpha=args.alpha,
                   chart_size=args.chart_size, fla_size=args.fla_size,
                   per_map=not args.overview_only)
    if other is not None:
        index = visualize_comparison([(args.name, model), (args.compare_name, other)], image,
                                     args.out_dir, **options)
    else:
        index = visualize_attention(model, image, args.out_dir, name=args.name, **options)
    for m in index['maps']:
        if m['file']:
            print(f'{m["file"]}: {m["title"]} ({m["name"]})')
    cam = index['gradcam']
    for role, file in index['files'].items():
        if role == 'gradcam':
            print(f'{cam["file"]}: Grad-CAM of "{cam["class_name"]}" (class {cam["class_id"]}) '
                  f'on {cam["layer"]}' + (f'[{cam["index"]}]' if cam['index'] is not None
                                          else '') + f' {cam["activation_shape"]}')
        else:
            print(f'{file}: {role.replace("_", " ")}')
    if 'comparison' in index:
        comparison = index['comparison']
        names = ' vs '.join(m['name'] for m in comparison['models'])
        print(f'{comparison["file"]}: {names}, Grad-CAM of "{comparison["class_name"]}"')
    if index['unsupported_blocks']:
        print('blocks without a known attention map: ' + ', '.join(index['unsupported_blocks']))
    print(f'{len(index["maps"])} attention maps, a panel and a Grad-CAM written to '
          f'{args.out_dir} (described in attention_maps.json)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
