# mmseg's runtime settings plus the reliability hooks of ./reliability_hooks.py.
_base_ = ['mmseg::_base_/default_runtime.py', './reliability_hooks.py']
