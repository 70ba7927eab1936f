"""The `inhouse` command: one module per command group, errors translated in `main`.

`main` turns the egress lock on (inhouse.guard.egress) before any command runs: every command works with
outbound connections limited to loopback and the `egress_allow` setting.
"""
