"""Subcommand groups of `mlxstudio` that live in their own modules.

Each module listed here has `register(subparsers)` adding its subcommands; cli.py calls it.
"""

GROUPS: list[str] = [
    "mlxstudio.commands.data",
    "mlxstudio.commands.serve",
    "mlxstudio.commands.models",
    "mlxstudio.commands.doctor",
    "mlxstudio.commands.config",
    "mlxstudio.commands.eval",
    "mlxstudio.commands.plot",
    "mlxstudio.commands.push",
]
