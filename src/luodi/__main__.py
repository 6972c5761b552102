"""``python -m luodi`` is the ``luodi`` command."""

from luodi.console import main

main()
