# Copyright (c) mmseg_attn contributors. All rights reserved.
from .attention import default_cam_target, grad_cam, load_image, preprocess, visualize_attention
from .draw import channel_bar_chart, fla_summary, normalize_map, overlay_heatmap
from .recorder import AttentionRecord, AttentionRecorder, attention_blocks, probe_of

__all__ = [
    'AttentionRecord', 'AttentionRecorder', 'attention_blocks', 'channel_bar_chart',
    'default_cam_target', 'fla_summary', 'grad_cam', 'load_image', 'normalize_map',
    'overlay_heatmap', 'preprocess', 'probe_of', 'visualize_attention'
]
