"""The desktop app: a wizard of pages over mlxstudio.core, fed by mlxstudio.engine."""
