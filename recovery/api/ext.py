"""/ext/v1/detection: whether the service watches the hosts itself, its last
pass, how often it ran lately, and the segments it watches."""

from datetime import datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from hosts.selectors import watched_segments
from masakari_site.api.views import ExtViewSet
from masakari_site.models import PeriodicRun
from recovery.api.ext_serializers import DETECTION_SCHEMA, DetectionStatus, detection_body
from recovery.detector import nova_configured
from recovery.gates import DETECTION

# The window `passes_last_hour` counts.
RECENT = timedelta(hours=1)


def detection_status(*, now: datetime | None = None) -> DetectionStatus:
    """The detector as an operator sees it; four queries."""
    now = now or timezone.now()
    runs = PeriodicRun.objects.filter(name=DETECTION)
    enabled = nova_configured()
    return DetectionStatus(
        enabled=enabled,
        reason=None if enabled else ("Nova is not configured (NOVA_CLOUD or NOVA_AUTH_URL): "
                                     "the service does not watch the hosts itself."),
        last_pass=runs.order_by("-started_at", "-id").first(),
        passes_last_hour=runs.filter(started_at__gte=now - RECENT).count(),
        segments=watched_segments(),
    )


class DetectionViewSet(ExtViewSet):
    """The detector: it runs when Nova is configured, once per
    DETECTION_INTERVAL across the cluster; `last_pass` is its latest pass
    (`result`: hosts judged, Nova and power devices reached, whether it held
    back as maybe the isolated side, states counted, actions, changes); the
    segments it watches have detection on and are enabled."""

    policy_rules = {"retrieve": "masakari_ext:detection:get"}

    @extend_schema(responses={200: DETECTION_SCHEMA})
    def retrieve(self, request):
        return Response(detection_body(detection_status()))
