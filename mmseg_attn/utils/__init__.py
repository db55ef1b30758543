"""The bottom floor: pure helpers that import nothing else of the package.

- :mod:`.config`: loading configs (also ``package::path``), config rewrites
  (SyncBN -> BN, no pretrained downloads);
- :mod:`.dataset_meta`: the dataset configs of a config, class names and palette;
- :mod:`.torch_compat`: the torch features that not every supported torch has.
"""
from .config import add_cfg_options, convert_sync_bn_cfg, drop_pretrained_cfg, load_config
from .dataset_meta import (
    config_dataset_meta,
    config_datasets,
    dataset_meta,
    generated_palette,
    leaf_datasets,
)

__all__ = [
    'add_cfg_options', 'config_dataset_meta', 'config_datasets', 'convert_sync_bn_cfg',
    'dataset_meta', 'drop_pretrained_cfg', 'generated_palette', 'leaf_datasets', 'load_config'
]
