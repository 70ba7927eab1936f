"""The `inhouse` command: one module per command group, errors translated in `main`.

Importing the CLI turns the egress lock on (inhouse.guard.egress): every command runs with outbound
connections limited to loopback and the `egress_allow` setting.
"""

from inhouse.guard.egress import install_default

install_default()
