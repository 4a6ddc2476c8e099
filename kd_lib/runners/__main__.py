"""``python -m kd_lib.runners NAME ...``: see :mod:`kd_lib.runners`."""

from . import main

main()
