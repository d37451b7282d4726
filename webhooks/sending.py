"""One delivery attempt on the wire: the event as a CloudEvents 1.0 JSON
document (structured mode), signed as Standard Webhooks says, POSTed with a
bounded wait.

Receivers verify with any Standard Webhooks library: `webhook-id` is the
event's id (the same on every try, for deduplication), `webhook-timestamp`
the try's time, `webhook-signature` "v1," + base64(HMAC-SHA256(key,
"{id}.{timestamp}.{body}")).
"""

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from standardwebhooks.webhooks import Webhook as Signer

from webhooks.models import Event

CONTENT_TYPE = "application/cloudevents+json"
USER_AGENT = "masakari-site-webhooks/1"
# How much of an endpoint's answer is read and kept in the delivery log.
ANSWER_CHARS = 1000


def cloudevents_time(value: datetime) -> str:
    """RFC 3339 in UTC, e.g. 2026-01-02T03:04:05.123456Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_document(event: Event) -> dict:
    return {
        "specversion": "1.0",
        "id": str(event.uuid),
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": cloudevents_time(event.time),
        "datacontenttype": "application/json",
        "data": event.data,
    }


def event_body(event: Event) -> str:
    return json.dumps(event_document(event), separators=(",", ":"), ensure_ascii=False)


def signature_headers(*, secret: str, message_id: str, body: str, at: datetime
                      ) -> dict[str, str]:
    """The Standard Webhooks headers of `body` sent at `at`."""
    at = at.astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": Signer(secret).sign(msg_id=message_id, timestamp=at, data=body),
    }


@dataclass(frozen=True)
class Answer:
    """What the endpoint did: a status code and the start of its body, or an error."""

    status_code: int | None = None
    text: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post_event(*, url: str, body: str, headers: dict[str, str], timeout: float) -> Answer:
    """POST the body; redirects are not followed (the URL registered is the one
    called), and only the first ANSWER_CHARS of the answer are read."""
    try:
        response = requests.post(
            url, data=body.encode(), timeout=(timeout, timeout), allow_redirects=False,
            stream=True, headers={"content-type": CONTENT_TYPE, "user-agent": USER_AGENT,
                                  **headers})
    except requests.Timeout:
        return Answer(error=f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}"[:ANSWER_CHARS])
    with response:
        try:
            raw = response.raw.read(ANSWER_CHARS * 4, decode_content=True) or b""
        except (requests.RequestException, OSError, ValueError) as exc:
            raw, read_error = b"", f"answer unreadable: {exc}"
        else:
            read_error = ""
    text = raw.decode(response.encoding or "utf-8", errors="replace")[:ANSWER_CHARS]
    error = read_error
    if not error and 300 <= response.status_code < 400:
        error = f"redirect to {response.headers.get('location', '?')} not followed"
    elif not error and not 200 <= response.status_code < 300:
        error = f"HTTP {response.status_code}"
    return Answer(status_code=response.status_code, text=text, error=error[:ANSWER_CHARS])
