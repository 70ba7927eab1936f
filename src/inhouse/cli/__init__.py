"""The `inhouse` command: one module per command group, errors translated in `main`."""
