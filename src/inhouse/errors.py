"""InHouse's own exceptions. Domain code raises these; the CLI and HTTP layers translate them.

Every message names the problem and, where there is one, the fix.
"""


class InHouseError(Exception):
    """Base class: a failure a user can understand and act on (shown without a traceback)."""

    exit_code = 1


class InputError(InHouseError):
    """The user's input (a file, an argument, a row) is unusable as given."""

    exit_code = 2


class NotFoundError(InHouseError):
    """A named thing (document, path, model, tenant data) does not exist."""

    exit_code = 3


class PermissionDenied(InHouseError):
    """The principal may not do or see this."""

    exit_code = 4


class StoreError(InHouseError):
    """The store is unusable (corrupt, wrong version, locked)."""

    exit_code = 5
