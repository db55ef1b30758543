"""A checkpoint of another model is refused wherever this package loads weights,
naming the missing, unexpected and mis-shaped keys."""
import numpy as np
import pytest
import torch

from mmseg_attn.apis import CheckpointMismatchError, SegInferencer, build_segmentor
from mmseg_attn.utils.image import ImageError

BISENET = 'tests/data/deploy_bisenet_mmseg_tiny.py'
FLANET = 'tests/data/deploy_flanet_r_tiny.py'
FCN = 'tests/data/deploy_fcn_se_cbam_tiny.py'


@pytest.fixture(scope='module')
def bisenet_checkpoint(tmp_path_factory):
    model = build_segmentor(BISENET)
    path = str(tmp_path_factory.mktemp('ckpt') / 'bisenet.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path, model


def test_the_own_checkpoint_loads_with_its_classes(tmp_path):
    saved = build_segmentor(FCN, keep_auxiliary=True)
    assert saved.auxiliary_head is not None
    path = str(tmp_path / 'fcn.pth')
    meta = dict(dataset_meta=dict(classes=[f'c{i}' for i in range(19)]))
    torch.save(dict(state_dict=saved.state_dict(), meta=meta), path)
    model = build_segmentor(FCN, path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved.state_dict()[key]), key
    # the auxiliary heads of a training checkpoint are not an inference model's
    assert model.auxiliary_head is None and model.dataset_meta['classes'][0] == 'c0'
    assert model.dataset_meta['source'] == 'checkpoint'


def test_a_checkpoint_of_another_model_is_refused(bisenet_checkpoint):
    path, _ = bisenet_checkpoint
    with pytest.raises(CheckpointMismatchError) as info:
        build_segmentor(FLANET, path)
    message = str(info.value)
    assert f"checkpoint '{path}' does not fit the EncoderDecoder of" in message
    assert 'deploy_flanet_r_tiny.py' in message
    assert 'missing key(s) (backbone.' in message and 'unexpected key(s) (' in message
    assert 'tools/model_converters' in message


def test_another_num_classes_names_the_shapes(bisenet_checkpoint):
    path, _ = bisenet_checkpoint
    with pytest.raises(CheckpointMismatchError,
                       match=r'tensor\(s\) of another shape \(decode_head\.conv_seg\.weight: '
                       r'checkpoint \[19, .*model \[7, '):
        build_segmentor(BISENET, path, cfg_options={'model.decode_head.num_classes': 7})


def test_inferencer_refuses_weights_of_another_model_and_names_bad_images(
        bisenet_checkpoint, tmp_path):
    path, _ = bisenet_checkpoint
    with pytest.raises(CheckpointMismatchError, match=f"'{path}' does not fit"):
        SegInferencer(model=FLANET, weights=path, device='cpu')
    inferencer = SegInferencer(model=BISENET, weights=path, device='cpu')
    text = tmp_path / 'notes.png'
    text.write_text('not an image\n')
    with pytest.raises(ImageError, match=f"'{text}' is a text file"):
        inferencer(str(text))
    good = np.random.RandomState(0).randint(0, 256, (32, 48, 3), dtype=np.uint8)
    assert inferencer(good)['predictions'].shape == (32, 48)
