"""Named errors of the printer area.

Drivers raise the specific subclasses so that `print_ticket` can turn a device fault into a
`PrintOutcome` status without parsing messages. Everything else in Tongban only ever sees
`PrinterConfigError` (bad TOML) or an outcome, never these transport errors.
"""


class PrinterError(Exception):
    """A printer could not do what was asked; `status` is the PrintOutcome status it maps to."""

    status = "error"


class PrinterConfigError(PrinterError, ValueError):
    """A [[printers]] entry or printer URL is invalid; carries every problem found."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class PrinterRefused(PrinterError):
    status = "refused"


class PrinterTimeout(PrinterError):
    status = "timeout"


class PrinterReset(PrinterError):
    """The link dropped while we were talking to the printer (TCP reset/EOF, serial unplug)."""

    status = "reset"


class PrinterOffline(PrinterError):
    """The device is not there: no such USB device, serial port or device file."""

    status = "offline"


class PrinterFontError(PrinterError):
    """Image mode needs a CJK font on this machine and none was found."""
