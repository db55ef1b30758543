"""model-index.yml, the generated model-zoo tables and the blocks table are current."""
import contextlib
import glob
import io
import os
import os.path as osp
import sys
import types

import pytest
import yaml

from tests.utils import REPO_ROOT, load_tool

TOOL = osp.join(REPO_ROOT, 'tools', 'misc', 'gen_model_zoo.py')
START, END = '<!-- model-zoo-start -->', '<!-- model-zoo-end -->'


def _metafiles(root):
    return sorted(
        osp.relpath(p, root).replace(os.sep, '/')
        for p in glob.glob(osp.join(root, 'configs', '*', 'metafile.yaml')))


def _tool(*args, root=REPO_ROOT):
    """The tool's main on ``args`` in this process: ``returncode`` and ``stdout``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = load_tool('tools/misc/gen_model_zoo.py').main(['--root', str(root),
                                                             *map(str, args)])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue())


def test_model_index_lists_every_metafile():
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert sorted(index['Import']) == _metafiles(REPO_ROOT)
    assert index['Import'], 'no metafile found'
    for path in index['Import']:
        with open(osp.join(REPO_ROOT, path)) as f:
            meta = yaml.safe_load(f)
        for model in meta['Models']:
            assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), model['Config']


def test_model_index_loads_with_modelindex():
    """The format is the one mim reads (the ``model-index`` package)."""
    import modelindex
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        index = modelindex.load('model-index.yml')
    finally:
        os.chdir(cwd)
    expected = 0
    for path in _metafiles(REPO_ROOT):
        with open(osp.join(REPO_ROOT, path)) as f:
            expected += len(yaml.safe_load(f)['Models'])
    assert len(index.models) == expected


def test_generated_tables_are_up_to_date():
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        readme = f.read()
    args = ['--check'] + (['--readme'] if START in readme and END in readme else [])
    result = _tool(*args)
    assert result.returncode == 0, result.stdout
    with open(osp.join(REPO_ROOT, 'docs', 'model_zoo.md')) as f:
        page = f.read()
    for path in _metafiles(REPO_ROOT):
        with open(osp.join(REPO_ROOT, path)) as f:
            for model in yaml.safe_load(f)['Models']:
                assert f'[{model["Name"]}](../{model["Config"]})' in page


def test_generation_in_a_fresh_tree(tmp_path):
    meta = {
        'Collections': [{'Name': 'Toy', 'Paper': {'Title': 'A toy', 'URL': 'https://x.org/1'},
                         'README': 'configs/toy/README.md'}],
        'Models': [
            {'Name': 'toy_a', 'In Collection': 'Toy', 'Config': 'configs/toy/toy_a.py',
             'Results': {'Task': 'Semantic Segmentation', 'Dataset': 'Cityscapes',
                         'Metrics': {'mIoU': 71.5}, 'Source': 'the paper'},
             'Metadata': {'Training Data': 'Cityscapes', 'Crop Size': '(512, 1024)'},
             'Weights': 'https://x.org/toy_a.pth'},
            {'Name': 'toy_b', 'In Collection': 'Toy', 'Config': 'configs/toy/toy_b.py',
             'Metadata': {'Training Data': 'ADE20K', 'FLOPs (G)': 12.5}},
        ]
    }
    os.makedirs(tmp_path / 'configs' / 'toy')
    os.makedirs(tmp_path / 'docs')
    with open(tmp_path / 'configs' / 'toy' / 'metafile.yaml', 'w') as f:
        f.write('# Numbers are not reproduced.\n')
        yaml.safe_dump(meta, f)
    readme = f'# Title\n\nintro\n\n## Model zoo\n\n{START}\nold\n{END}\n\n## After\n'
    (tmp_path / 'README.md').write_text(readme)

    assert _tool('--check', '--readme', root=tmp_path).returncode == 1  # nothing written yet
    result = _tool('--readme', root=tmp_path)
    assert result.returncode == 0, result.stdout
    assert _tool('--check', '--readme', root=tmp_path).returncode == 0

    assert (tmp_path / 'model-index.yml').read_text() == \
        'Import:\n- configs/toy/metafile.yaml\n'
    page = (tmp_path / 'docs' / 'model_zoo.md').read_text()
    assert '## Toy' in page and '[A toy](https://x.org/1)' in page
    assert '> Numbers are not reproduced.' in page
    header = next(line for line in page.splitlines() if line.startswith('| Config'))
    assert header.split(' | ') == ['| Config', 'Dataset', 'Crop Size', 'FLOPs (G)', 'mIoU',
                                   'Source of the numbers', 'Download |']
    assert ('| [toy_a](../configs/toy/toy_a.py) | Cityscapes | (512, 1024) | - | 71.5 | '
            'the paper | [model](https://x.org/toy_a.pth) |') in page
    assert '| [toy_b](../configs/toy/toy_b.py) | ADE20K | - | 12.5 | - | - | - |' in page

    new_readme = (tmp_path / 'README.md').read_text()
    assert new_readme.startswith('# Title\n\nintro\n\n## Model zoo\n\n' + START)
    assert new_readme.endswith(END + '\n\n## After\n')
    assert 'old' not in new_readme
    assert '### Toy' in new_readme and '[toy_a](configs/toy/toy_a.py)' in new_readme

    # a changed metafile makes the check fail until the tables are generated again
    meta['Models'][1]['Metadata']['FLOPs (G)'] = 13.0
    with open(tmp_path / 'configs' / 'toy' / 'metafile.yaml', 'w') as f:
        yaml.safe_dump(meta, f)
    result = _tool('--check', root=tmp_path)
    assert result.returncode == 1 and 'docs/model_zoo.md' in result.stdout


def test_readme_without_markers_is_an_error(tmp_path):
    os.makedirs(tmp_path / 'docs')
    (tmp_path / 'README.md').write_text('# no markers\n')
    with pytest.raises(ValueError, match='model-zoo-start'):
        _tool('--readme', root=tmp_path)


def _load_tool():
    return load_tool('tools/misc/gen_model_zoo.py')


def test_blocks_table_of_the_docs():
    """docs/blocks.md holds the generated table (its currency: the --check above)."""
    gen = _load_tool()
    with open(osp.join(REPO_ROOT, 'docs', 'blocks.md')) as f:
        text = f.read()
    assert gen.BLOCKS_BEGIN in text and gen.BLOCKS_END in text
    # counted from the built block: SE at C = 256, ratio 16: 256 * 16 * 2 + 16 + 256
    assert '| `SqueezeExcitation` (ratio=16) | [SENet]' in text and '| 8,464 |' in text
    assert '| `CBAM` (ratio=16) |' in text
    for row in gen.BLOCKS.strip().splitlines():
        assert f'| `{row.split(" | ")[0]}`' in text


def test_blocks_table_between_markers(tmp_path, monkeypatch, capsys):
    gen = _load_tool()
    os.makedirs(tmp_path / 'docs')
    blocks = tmp_path / 'docs' / 'blocks.md'
    blocks.write_text(f'# Blocks\n\n{gen.BLOCKS_BEGIN}\nold\n{gen.BLOCKS_END}\n\nafter\n')
    monkeypatch.setattr(sys, 'argv', ['gen_model_zoo.py', '--root', str(tmp_path)])
    assert gen.main() == 0
    assert capsys.readouterr().out.startswith('wrote ')
    text = blocks.read_text()
    assert text.startswith(f'# Blocks\n\n{gen.BLOCKS_BEGIN}\n| block (`type=`) | paper |')
    assert text.endswith(f' |\n{gen.BLOCKS_END}\n\nafter\n') and 'old' not in text
    assert text.count('\n| `') == len(gen.BLOCKS.strip().splitlines())
    monkeypatch.setattr(sys, 'argv', ['gen_model_zoo.py', '--blocks-table'])
    assert gen.main() == 0
    assert capsys.readouterr().out.splitlines()[2:] == text.splitlines()[5:-3]
    blocks.write_text('# no markers\n')
    monkeypatch.setattr(sys, 'argv', ['gen_model_zoo.py', '--root', str(tmp_path)])
    with pytest.raises(ValueError, match='blocks-table:begin'):
        gen.main()
