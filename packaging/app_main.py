"""The app bundle's entry point (py2app's main script): open the MLX Studio window."""

from mlxstudio.gui.app import main

raise SystemExit(main())
