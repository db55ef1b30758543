"""Draw what every attention block of a segmentor does on one image.

Runs the model once on the image with hooks on every attention block of
mmseg_attn (found by type) and writes, into --out-dir, one PNG per attention
map (spatial maps and fusion weights over the image, channel weights as bar
charts, the FLA attention summarised per row and column), a Grad-CAM of one
class and attention_maps.json describing the files. Works on the CPU; without
a checkpoint the model keeps its random initialisation.

    python tools/visualize_attention.py demo.png \\
        configs/bisenet/bisenet_r18-d32-in1k-pre_4xb4-160k_cityscapes-1024x1024.py \\
        work_dirs/bisenet/iter_160000.pth --out-dir vis --class-id 13
"""
import argparse

from mmengine.config import DictAction

import mmseg_attn  # noqa: F401  (registration, secure checkpoint loading)
from mmseg_attn.apis import build_segmentor
from mmseg_attn.visualization import load_image, visualize_attention


def parse_args():
    parser = argparse.ArgumentParser(description='Visualize the attention maps of a segmentor')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file (default: random init)')
    parser.add_argument('--out-dir', default='attention_vis', help='folder of the pictures')
    parser.add_argument(
        '--class-id',
        '--category-index',
        type=int,
        help='class of the Grad-CAM (default: the class predicted on most pixels)')
    parser.add_argument(
        '--cam-layer',
        help='module path of the Grad-CAM target, e.g. backbone.layer4 or '
        'decode_head.bottleneck (default: the input of the decode head)')
    parser.add_argument('--cam-index', type=int, help='element of a tuple output of --cam-layer')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='resize the image to H x W first')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--alpha', type=float, default=0.5, help='heatmap opacity')
    parser.add_argument('--chart-size', type=int, nargs=2, default=(800, 400),
                        metavar=('W', 'H'), help='size of the bar charts in pixels')
    parser.add_argument('--fla-size', type=int, nargs=2, default=(1000, 700),
                        metavar=('W', 'H'), help='size of the FLA summaries in pixels')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    return parser.parse_args()


def main():
    args = parse_args()
    model = build_segmentor(args.config, args.checkpoint, args.device, args.cfg_options)
    image = load_image(args.img, args.shape)
    index = visualize_attention(
        model,
        image,
        args.out_dir,
        class_id=args.class_id,
        cam_layer=args.cam_layer,
        cam_index=args.cam_index,
        alpha=args.alpha,
        chart_size=args.chart_size,
        fla_size=args.fla_size)
    for m in index['maps']:
        print(f'{m["file"]}: {m["kind"]} {m["label"]}')
    cam = index['gradcam']
    print(f'{cam["file"]}: Grad-CAM of class {cam["class_id"]} on {cam["layer"]}'
          + (f'[{cam["index"]}]' if cam['index'] is not None else '')
          + f' {cam["activation_shape"]}')
    if index['unsupported_blocks']:
        print('blocks without a known attention map: ' + ', '.join(index['unsupported_blocks']))
    print(f'{len(index["maps"])} attention maps and a Grad-CAM written to {args.out_dir} '
          f'(described in attention_maps.json)')


if __name__ == '__main__':
    main()
