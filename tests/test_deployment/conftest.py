# Copyright (c) mmseg_attn contributors. All rights reserved.
import pytest

from tests.families import no_onednn

_one_thread_kernels = pytest.fixture(autouse=True)(no_onednn)
