"""Fuzzing: seeded mutations of a real checkpoint either load the same data or
are refused with one of the package's errors naming the file; never another
exception, a hang or a crash.

The cases run in a child process (a crash of torch's C++ reader, or a hang in
it, must not take pytest down) with a watchdog per case: faulthandler ends
the child, printing where it hung, when one case takes longer than
``CASE_TIMEOUT`` seconds.

Two groups of mutations of ``data/runner_iter_3.pth`` (a checkpoint written
by mmengine's Runner):

- raw: truncations, bit flips, inserted and deleted bytes anywhere in the
  file. Each must load the same data (a change in bytes that nothing reads)
  or be refused.
- pickle: the same mutations of the pickle inside the archive, written back
  as a valid archive (CRC-32s recomputed), so that torch's unpickler and the
  allow-listed rebuild functions see them. A valid archive may hold other
  data; each must load or be refused, and what loads holds only allowed
  types.
"""
import json
import subprocess
import sys
import textwrap

from tests.test_security.helpers import RUNNER_CHECKPOINT
from tests.utils import REPO_ROOT

RAW_CASES = 200
PICKLE_CASES = 200
CASE_TIMEOUT = 10

FUZZ = textwrap.dedent('''
    import faulthandler, io, json, os, random, sys, tempfile, zipfile
    import numpy as np, torch
    import mmseg_attn  # noqa: F401
    from mmengine.logging import HistoryBuffer
    from mmengine.runner.checkpoint import CheckpointLoader
    from mmseg_attn.compat import CheckpointError

    source, raw_cases, pickle_cases, timeout = sys.argv[1:5]
    original_bytes = open(source, 'rb').read()
    original = CheckpointLoader.load_checkpoint(source)

    def same(a, b):
        if type(a) is not type(b):
            return False
        if isinstance(a, torch.Tensor):
            return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        if isinstance(a, np.ndarray):
            return a.dtype == b.dtype and np.array_equal(a, b)
        if isinstance(a, HistoryBuffer):
            return a.max_length == b.max_length and all(map(same, a.data, b.data))
        if isinstance(a, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(map(same, a, b))
        return a == b or (a != a and b != b)

    PLAIN = (str, bytes, int, float, bool, type(None), torch.Tensor, torch.Size, torch.dtype,
             torch.device, HistoryBuffer, np.ndarray, np.generic, np.dtype, complex, bytearray,
             torch.storage.TypedStorage, torch.storage.UntypedStorage)
    from mmseg_attn.security import unpickler
    # the allow-listed functions and classes themselves, left uncalled by a mutation
    if unpickler.installed():  # torch < 2.5: the restricted unpickler
        ALLOWED = {id(v) for v in unpickler.allowed_globals().values()}
    else:
        from torch._weights_only_unpickler import _get_allowed_globals, _get_user_allowed_globals
        ALLOWED = {id(v) for v in [*_get_allowed_globals().values(),
                                   *_get_user_allowed_globals().values()]}

    def plain(value, depth=0):
        if depth > 300:
            return True
        if isinstance(value, dict):
            return all(plain(k, depth + 1) and plain(v, depth + 1) for k, v in value.items())
        if isinstance(value, (list, tuple, set)):
            return all(plain(v, depth + 1) for v in value)
        if isinstance(value, np.ndarray):
            return value.dtype.kind in 'biufc'
        return isinstance(value, PLAIN) or id(value) in ALLOWED

    def mutate(data, rng):
        data = bytearray(data)
        kind = rng.choice(['truncate', 'flip', 'insert', 'delete'])
        pos = rng.randrange(len(data))
        if kind == 'truncate':
            del data[pos:]
        elif kind == 'flip':
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 'insert':
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            del data[pos:pos + rng.randint(1, 8)]
        return kind, bytes(data)

    def rezip(pickle_bytes):
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(original_bytes)) as src, \\
                zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                data = pickle_bytes if info.filename.endswith('/data.pkl') else src.read(info)
                dst.writestr(info.filename, data)
        return out.getvalue()

    with zipfile.ZipFile(io.BytesIO(original_bytes)) as zf:
        original_pickle = zf.read(next(n for n in zf.namelist() if n.endswith('/data.pkl')))
    folder = tempfile.mkdtemp()
    counts, failures = {}, []
    cases = [('raw', i) for i in range(int(raw_cases))] + \\
        [('pickle', i) for i in range(int(pickle_cases))]
    for group, seed in cases:
        rng = random.Random(f'{group}-{seed}')
        if group == 'raw':
            kind, data = mutate(original_bytes, rng)
        else:
            kind, mutated = mutate(original_pickle, rng)
            data = rezip(mutated)
        path = os.path.join(folder, f'{group}_{seed}_{kind}.pth')
        with open(path, 'wb') as f:
            f.write(data)
        faulthandler.dump_traceback_later(float(timeout), exit=True)
        try:
            loaded = CheckpointLoader.load_checkpoint(path)
        except CheckpointError as e:
            outcome = 'refused'
            if path not in str(e) or e.filename != path:
                failures.append(f'{path}: refusal without the file name: {e}')
        except Exception as e:
            outcome = 'other exception'
            failures.append(f'{path}: {type(e).__module__}.{type(e).__name__}: {e}'[:500])
        else:
            if group == 'raw' and not same(loaded, original):
                outcome = 'different data'
                failures.append(f'{path}: loaded different data without an error')
            elif group == 'pickle' and not plain(loaded):
                outcome = 'foreign object'
                failures.append(f'{path}: loaded a non-data object')
            else:
                outcome = 'loaded'
        faulthandler.cancel_dump_traceback_later()
        counts[f'{group} {outcome}'] = counts.get(f'{group} {outcome}', 0) + 1
        os.remove(path)
    print(json.dumps(dict(counts=counts, failures=failures[:10])))
''')


def test_mutated_checkpoints_load_the_same_data_or_are_refused_by_name():
    result = subprocess.run(
        [sys.executable, '-c', FUZZ, RUNNER_CHECKPOINT, str(RAW_CASES), str(PICKLE_CASES),
         str(CASE_TIMEOUT)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f'crashed or hung:\n{result.stderr[-4000:]}'
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['failures'] == [], '\n'.join(report['failures'])
    counts = report['counts']
    assert sum(counts.values()) == RAW_CASES + PICKLE_CASES, counts
    # the mutations reached both outcomes and the unpickler itself
    assert counts.get('raw refused', 0) > RAW_CASES // 2, counts
    assert counts.get('pickle refused', 0) > 0 and counts.get('pickle loaded', 0) > 0, counts
