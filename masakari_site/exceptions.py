"""Domain errors raised by services and selectors; the API maps each to a status."""


class MasakariError(Exception):
    status_code = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Invalid(MasakariError):
    """The request itself is wrong (400)."""

    status_code = 400


class NotFound(MasakariError):
    status_code = 404


class Conflict(MasakariError):
    """The request clashes with the current state: a duplicate, a resource in use (409)."""

    status_code = 409
