"""Reads of webhooks and their delivery log (the API, the admin, the dashboard)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from masakari_site.api.listing import ListParams, paginate
from masakari_site.exceptions import Invalid
from masakari_site.selectors import get_by_uuid
from webhooks.models import Delivery, DeliveryStatus, Webhook

# Lists are newest first; these keys page them (limit/marker).
SORT_FIELDS = {"id": "id", "created_at": "created_at"}


def webhook_list(*, params: ListParams) -> QuerySet[Webhook]:
    return paginate(Webhook.objects.all(), params, marker_scope=Webhook.objects.all())


def get_webhook(*, uuid: str) -> Webhook:
    return get_by_uuid(Webhook.objects.all(), uuid, what="webhook")


def delivery_list(*, webhook: Webhook, params: ListParams,
                  status: str | None = None) -> QuerySet[Delivery]:
    """The endpoint's delivery log, newest first; `status` keeps one status."""
    deliveries = webhook.deliveries.select_related("event")
    if status is not None:
        if status not in DeliveryStatus.values:
            raise Invalid(f"Invalid status {status!r}; valid statuses are "
                          f"{', '.join(DeliveryStatus.values)}")
        deliveries = deliveries.filter(status=status)
    return paginate(deliveries, params, marker_scope=webhook.deliveries.all())


@dataclass(frozen=True)
class WebhookSummary:
    """An endpoint and how its deliveries went (the dashboard's list)."""

    webhook: Webhook
    pending: int
    delivered: int
    failed: int
    last_delivered_at: datetime | None
    last_failure_at: datetime | None


def webhook_summaries() -> list[WebhookSummary]:
    """Every live endpoint with its delivery counts; one query."""
    failed = Q(deliveries__status=DeliveryStatus.FAILED)
    rows = Webhook.objects.annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        delivered=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DELIVERED)),
        failed=Count("deliveries", filter=failed),
        last_delivered_at=Max("deliveries__delivered_at"),
        last_failure_at=Max("deliveries__updated_at", filter=failed),
    ).order_by("-created_at", "-id")
    return [WebhookSummary(webhook=row, pending=row.pending, delivered=row.delivered,
                           failed=row.failed, last_delivered_at=row.last_delivered_at,
                           last_failure_at=row.last_failure_at) for row in rows]


def recent_deliveries(*, webhook: Webhook, limit: int = 50) -> list[Delivery]:
    """The endpoint's latest deliveries with their events, newest first; one query."""
    return list(webhook.deliveries.select_related("event").order_by("-created_at", "-id")[:limit])
