"""py2app build of "MLX Studio.app" (macOS only): run through packaging/build_macos.sh.

python packaging/setup_py2app.py py2app [--menubar-only]
"""

import sys

from setuptools import setup

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bundle import APP_NAME, ENTRY, py2app_options  # noqa: E402

menubar_only = "--menubar-only" in sys.argv
if menubar_only:
    sys.argv.remove("--menubar-only")

setup(
    name=APP_NAME,
    app=[str(ENTRY)],
    options={"py2app": py2app_options(menubar_only)},
    setup_requires=["py2app"],
)
