from .toy import LAYOUTS, make_toy_dataset

__all__ = ['LAYOUTS', 'make_toy_dataset']
