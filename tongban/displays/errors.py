"""Named errors for serial displays and keypads."""


class DisplayError(Exception):
    """Anything that goes wrong with window displays, hall boards or caller keypads."""


class FrameError(DisplayError):
    """A frame spec that cannot work, or bytes that are not a valid frame for it."""


class BusConfigError(DisplayError):
    """A `[[buses]]` entry that does not validate; `errors` holds every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = list(errors)
