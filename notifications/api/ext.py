"""/ext/v1/notifications/{notification_uuid}/…: an operator confirms a failed
host is off (confirm-fenced), so that its recovery goes on without a power-off
by the engine, or stops a recovery (cancel)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from masakari_site.api.views import ExtViewSet
from notifications import services
from notifications.api.ext_serializers import (
    CancelBody,
    ConfirmFencedBody,
    FenceRecordBody,
    FenceRecordSerializer,
)
from notifications.selectors import get_notification


class ConfirmFencedViewSet(ExtViewSet):
    """An operator confirms that the failed host of a COMPUTE_HOST notification is
    off (when the service could not power it off), with a reason. Recorded with
    who and when; an `error` or `failed` recovery is tried again at once."""

    policy_rules = {"create": "masakari_ext:notifications:confirm_fenced"}

    @extend_schema(request=ConfirmFencedBody, responses={202: FenceRecordBody})
    def create(self, request, notification_uuid):
        reason = self.validated(ConfirmFencedBody)["confirm"]["reason"]
        record = services.confirm_fenced(actor=request.user,
                                         notification=get_notification(uuid=notification_uuid),
                                         reason=reason)
        return Response({"fence_record": FenceRecordSerializer(record).data},
                        status=status.HTTP_202_ACCEPTED)


class CancelViewSet(ExtViewSet):
    """An operator stops a recovery that is `new` or waiting for its retry
    (`error`), with a reason: it ends `cancelled` (v1 clients see `failed`), and
    the host can then be put on maintenance or its segment changed."""

    policy_rules = {"create": "masakari_ext:notifications:cancel"}

    @extend_schema(request=CancelBody, responses={204: None})
    def create(self, request, notification_uuid):
        notification = get_notification(uuid=notification_uuid)
        services.cancel_notification(actor=request.user, notification=notification,
                                     reason=self.validated(CancelBody)["cancel"]["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)
