"""The metadata of an exported model is input: every value is checked, and a bad
model file or value is refused naming the file and the key."""
import json

import onnx
import pytest

from mmseg_attn.deployment import (
    OnnxModelError,
    create_session,
    export_onnx,
    read_metadata,
    validate_metadata,
)
from tests.families import tiny_segmentor


@pytest.fixture(scope='module')
def static_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('meta') / 'static.onnx')
    export_onnx(tiny_segmentor('fcn_se_cbam'), path, (32, 48), dynamo=False)
    return path


def _with(path, out, **changes):
    """A copy of the model at ``path`` with metadata values changed (None: removed)."""
    model = onnx.load(path)
    props = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value if isinstance(value, str) else json.dumps(value)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(out))
    return str(out)


def test_the_exported_metadata_is_valid(static_model):
    meta = validate_metadata(read_metadata(static_model), static_model,
                             create_session(static_model))
    assert meta['num_classes'] == 19 and meta['export_shape'] == [32, 48]
    assert meta['test_resize'] == dict(scale=[2048, 1024], keep_ratio=True)


@pytest.mark.parametrize('changes, key, problem', [
    (dict(num_classes=1000000000), 'num_classes', 'an int from 1 to 65536'),
    (dict(num_classes=7), 'num_classes', "the graph's output has 19 channels"),
    (dict(mean='[1, 2, "x"]'), 'mean', 'a list of 3 finite numbers'),
    (dict(mean=[1, 2]), 'mean', 'a list of 3 finite numbers'),
    (dict(std=[1, 0, 1]), 'std', 'every std must be > 0'),
    (dict(export_shape=[64, 96]), 'export_shape', 'the graph takes 32 x 48 inputs'),
    (dict(export_shape='[32]'), 'export_shape', 'two positive ints'),
    (dict(export_shape=[100000, 100000]), 'export_shape', 'beyond the limit'),
    (dict(classes=['road']), 'classes', 'expected 19 class names'),
    (dict(classes='[[[[[[[[["a"]]]]]]]]]'), 'classes', 'expected 19 class names'),
    (dict(palette=[[0, 0, 300]] * 19), 'palette', 'three ints 0-255'),
    (dict(output='probs'), 'output', "one of ('logits', 'argmax')"),
    (dict(dynamic_shape='maybe'), 'dynamic_shape', 'true or false'),
    (dict(test_resize={'scale': [-1, 5]}), 'test_resize', '"scale": [W, H]'),
])
def test_bad_metadata_is_refused_naming_the_key(static_model, tmp_path, changes, key, problem):
    path = _with(static_model, tmp_path / 'bad.onnx', **changes)
    with pytest.raises(OnnxModelError) as info:
        validate_metadata(read_metadata(path), path, create_session(path))
    assert f"metadata key {key!r} of '{path}'" in str(info.value)
    assert problem in str(info.value)


@pytest.mark.parametrize('content, problem', [
    (b'', 'it is empty (0 bytes)'),
    (b'version https://git-lfs.github.com/spec/v1\n', 'it is a text file'),
])
def test_bad_model_files_are_named(tmp_path, content, problem):
    path = tmp_path / 'model.onnx'
    path.write_bytes(content)
    for read in (read_metadata, create_session):
        with pytest.raises(OnnxModelError) as info:
            read(str(path))
        assert f"'{path}' is not a readable ONNX model: {problem}" in str(info.value)


def test_truncated_model_is_named(static_model, tmp_path):
    data = open(static_model, 'rb').read()
    path = tmp_path / 'cut.onnx'
    path.write_bytes(data[:len(data) // 3])
    with pytest.raises(OnnxModelError, match='truncated or damaged'):
        create_session(str(path))
    with pytest.raises(IsADirectoryError, match='is a directory'):
        read_metadata(str(tmp_path))
