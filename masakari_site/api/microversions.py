"""The `instance-ha` microversion range and how a request picks one."""

import re
from dataclasses import dataclass

SERVICE_NAME = "instance-ha"
HEADER = "OpenStack-API-Version"
MIN_VERSION = (1, 0)
MAX_VERSION = (1, 3)
# Microversions that changed the API (upstream's history).
RECOVERY_WORKFLOW_DETAILS = (1, 1)
SEGMENT_ENABLED = (1, 2)
VMOVES = (1, 3)


# One "<service> <version>" item of the header; the header is a comma-separated list.
_ITEM = r"\s*[A-Za-z][A-Za-z0-9_-]*\s+[^\s,]+\s*"
HEADER_PATTERN = rf"^$|^{_ITEM}(,{_ITEM})*$"


class MicroversionError(ValueError):
    """The requested microversion is malformed or outside the supported range."""


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, version: tuple[int, int]) -> bool:
        return (self.major, self.minor) >= version


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested_version(header_value: str | None) -> ApiVersion:
    """The version a request asks for; None means the minimum.

    The header may list several services ("compute 2.1, instance-ha 1.2");
    only ours counts. A header naming other services only is a request for
    the minimum, as in other OpenStack services.
    """
    if not header_value:
        return ApiVersion(*MIN_VERSION)
    if not re.fullmatch(HEADER_PATTERN, header_value):
        raise MicroversionError(f"Invalid {HEADER} header value: {header_value[:80]!r}")
    for item in header_value.split(","):
        service, version = item.split()
        if service.lower() == SERVICE_NAME:
            return _parse(version)
    return ApiVersion(*MIN_VERSION)


def _parse(text: str) -> ApiVersion:
    if text.lower() == "latest":
        return ApiVersion(*MAX_VERSION)
    # ASCII digits only, and few: str.isdigit() takes other scripts' digits,
    # and int() refuses thousands of them with a ValueError of its own.
    match = re.fullmatch(r"([0-9]{1,4})\.([0-9]{1,4})", text)
    if match is None:
        raise MicroversionError(f"API version string {text[:40]!r} is not valid; expected X.Y")
    version = ApiVersion(int(match[1]), int(match[2]))
    if not (MIN_VERSION <= (version.major, version.minor) <= MAX_VERSION):
        raise MicroversionError(
            f"Version {version} is not supported by the API. Minimum is "
            f"{format_version(MIN_VERSION)} and maximum is {format_version(MAX_VERSION)}."
        )
    return version
