"""The CPU features that decide which low-precision path is fast on this machine."""
import functools
from typing import Dict

__all__ = ['cpu_features', 'describe_cpu', 'native_bf16', 'native_int8']

#: Feature name -> the /proc/cpuinfo flags that show it (any of them).
FEATURES = {
    'AVX2': ('avx2', ),
    'AVX512': ('avx512f', ),
    'VNNI': ('avx512_vnni', 'avx_vnni'),
    'AVX512-BF16': ('avx512_bf16', ),
    'AMX': ('amx_bf16', 'amx_int8', 'amx_tile'),
}


@functools.lru_cache(maxsize=1)
def _flags() -> frozenset:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith(('flags', 'Features')):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_features() -> Dict[str, bool]:
    """Which of :data:`FEATURES` this CPU has (all False where the kernel does
    not say, e.g. on another OS)."""
    flags = _flags()
    return {name: any(flag in flags for flag in names) for name, names in FEATURES.items()}


def native_bf16() -> bool:
    """Whether bfloat16 matrix products run natively (AMX or AVX512-BF16); without
    them oneDNN emulates bfloat16, slower than float32."""
    features = cpu_features()
    return features['AMX'] or features['AVX512-BF16']


def native_int8() -> bool:
    """Whether int8 dot products run natively (VNNI or AMX)."""
    features = cpu_features()
    return features['VNNI'] or features['AMX']


def describe_cpu() -> str:
    """``'CPU features: AVX2 yes, AVX512 yes, VNNI yes, AVX512-BF16 yes, AMX no'``."""
    return 'CPU features: ' + ', '.join(
        f'{name} {"yes" if present else "no"}' for name, present in cpu_features().items())
