# The one place of the package version: setup.cfg reads it, and the metafiles'
# `Code: Version:` repeat it (tests/test_packaging/test_version.py checks).
__version__ = '0.1.0'
