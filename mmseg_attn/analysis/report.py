# Copyright (c) mmseg_attn contributors. All rights reserved.
"""The one table writer of the benchmarks: markdown tables of values and ratios."""
from typing import Iterable, Optional, Sequence

__all__ = ['markdown_table', 'value_ratio']


def value_ratio(value: Optional[float], ratio: Optional[float] = None, fmt: str = '.1f',
                scale: float = 1.0) -> str:
    """``'12.3 (0.45x)'``: a value (divided by ``scale``) and its ratio; ``'-'``
    for a value that was not measured."""
    if value is None:
        return '-'
    text = f'{value / scale:{fmt}}'
    return text if ratio is None else f'{text} ({ratio:.2f}x)'


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; every cell is written with ``str``.

    Raises:
        ValueError: A row with another number of cells than the header.
    """
    lines = ['| ' + ' | '.join(map(str, header)) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f'a row of {len(row)} cells under a header of {len(header)}: '
                             f'{row!r:.120}')
        lines.append('| ' + ' | '.join(map(str, row)) + ' |')
    return '\n'.join(lines)
