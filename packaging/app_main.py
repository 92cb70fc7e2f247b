"""The app bundle's entry point (py2app's main script): open the MLX Studio window."""

from mlxstudio.gui.app import main

if __name__ == "__main__":  # not when a Data page child process re-imports the main script
    raise SystemExit(main())
