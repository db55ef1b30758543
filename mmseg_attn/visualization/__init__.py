# Copyright (c) mmseg_attn contributors. All rights reserved.
"""Attention pictures through the blocks' probe points (see :mod:`.recorder`)."""
from .attention import (
                        AttentionAnalysis,
                        analyze,
                        attention_figures,
                        compare_models,
                        default_cam_target,
                        describe_record,
                        grad_cam,
                        load_image,
                        load_segmentor,
                        png_text,
                        preprocess,
                        visualize_attention,
    visualize_comparison,
)
from .draw import (
                        channel_gate_figure,
                        channel_gates_figure,
                        colorize,
                        comparison_figure,
                        figure_to_array,
                        fla_figure,
                        heatmap_figure,
                        heatmap_grid_figure,
                        normalize_map,
                        overlay_heatmap,
                        panel_figure,
                        save_png,
)
from .meta import (
                        BACKGROUND_CLASSES,
                        background_ids,
                        dataset_meta,
                        default_class_id,
                        model_name,
                        resolve_class_id,
)
from .recorder import AttentionRecord, AttentionRecorder, attention_blocks, probe_of

__all__ = [
    'AttentionAnalysis', 'AttentionRecord', 'AttentionRecorder', 'BACKGROUND_CLASSES',
    'analyze', 'attention_blocks', 'attention_figures', 'background_ids',
    'channel_gate_figure', 'channel_gates_figure', 'colorize', 'compare_models',
    'comparison_figure', 'dataset_meta', 'default_cam_target', 'default_class_id',
    'describe_record', 'figure_to_array', 'fla_figure', 'grad_cam', 'heatmap_figure',
    'heatmap_grid_figure', 'load_image', 'load_segmentor', 'model_name', 'normalize_map',
    'overlay_heatmap', 'panel_figure', 'png_text', 'preprocess', 'probe_of',
    'resolve_class_id', 'save_png', 'visualize_attention', 'visualize_comparison'
]
