"""Attention pictures from a model object, through the blocks' public probe points.

- :mod:`.recorder`: hooks on the probe points of every attention block;
- :mod:`.gradcam`: Grad-CAM of a class;
- :mod:`.analysis`: one model on one image (maps, prediction, Grad-CAM);
- :mod:`.figures` and :mod:`.draw`: the figures;
- :mod:`.report`: the files and their JSON report, comparisons of models;
- :mod:`.meta`: the class a picture is about.

Models are built and loaded by :mod:`mmseg_attn.apis`; images are read by
:func:`mmseg_attn.utils.image.load_image`.
"""
from . import analysis, draw, figures, gradcam, meta, recorder, report
from .analysis import *  # noqa: F401,F403
from .draw import *  # noqa: F401,F403
from .figures import *  # noqa: F401,F403
from .gradcam import *  # noqa: F401,F403
from .meta import *  # noqa: F401,F403
from .recorder import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403

__all__ = (analysis.__all__ + draw.__all__ + figures.__all__ + gradcam.__all__ + meta.__all__
           + recorder.__all__ + report.__all__)
