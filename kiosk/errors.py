"""Errors the kiosk reports to the user as one line, without a traceback."""


class KioskError(Exception):
    """A problem the user can fix (bad config, bad model, bad file). Exit code 2."""

    exit_code = 2


class RuntimeFault(KioskError):
    """A failure while running (camera gone, model crashed). Exit code 1."""

    exit_code = 1
