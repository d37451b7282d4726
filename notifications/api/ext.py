"""/ext/v1/notifications/{notification_uuid}/…: an operator confirms a failed
host is off (confirm-fenced), so that its recovery goes on without a power-off
by the engine, stops a recovery (cancel), or releases one a storm gate holds
(release), or reads when each stage of its recovery happened (timeline);
/ext/v1/held-recoveries: the held ones, and releasing them all."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from masakari_site.api.views import ExtViewSet
from masakari_site.exceptions import Conflict
from notifications import services
from notifications.api.ext_serializers import (
    HELD_SCHEMA,
    RELEASED_SCHEMA,
    TIMELINE_SCHEMA,
    CancelBody,
    ConfirmFencedBody,
    FenceRecordBody,
    FenceRecordSerializer,
    ReleaseBody,
    held_body,
    released_body,
    timeline_body,
)
from notifications.selectors import get_notification, held_recoveries, recovery_timeline

HELD_RULE = "masakari_ext:held:%s"


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


class ReleaseViewSet(ExtViewSet):
    """An operator lets one host recovery that a storm gate holds go, with a
    reason: it is `new` again, passes the gates, and a worker takes it; who,
    when and why are kept on its hold and in the change log."""

    policy_rules = {"create": HELD_RULE % "release"}

    @extend_schema(request=ReleaseBody, responses={202: RELEASED_SCHEMA})
    def create(self, request, notification_uuid):
        notification = get_notification(uuid=notification_uuid)
        reason = self.validated(ReleaseBody)["release"]["reason"]
        released = services.release_held(actor=request.user, notifications=[notification],
                                         reason=reason)
        if not released:
            raise Conflict(f"Notification {notification.notification_uuid} is "
                           f"{notification.status}: only a held recovery can be released.")
        return Response(released_body(released), status=status.HTTP_202_ACCEPTED)


class HeldRecoveriesViewSet(ExtViewSet):
    """The host recoveries storm gates hold (a mass failure, or this service
    maybe being the isolated side): each with the gate (`rule`) and why. They
    wait for an operator: release one (/ext/v1/notifications/{uuid}/release),
    all of them (/ext/v1/held-recoveries/release), or stop one (…/cancel)."""

    policy_rules = {"list": HELD_RULE % "list", "release": HELD_RULE % "release"}

    @extend_schema(responses={200: HELD_SCHEMA})
    def list(self, request):
        return Response(held_body(held_recoveries()))

    @extend_schema(request=ReleaseBody, responses={202: RELEASED_SCHEMA})
    def release(self, request):
        """Release every held recovery (those held when the request is read)."""
        reason = self.validated(ReleaseBody)["release"]["reason"]
        held = [item.notification for item in held_recoveries()]
        released = services.release_held(actor=request.user, notifications=held, reason=reason)
        return Response(released_body(released), status=status.HTTP_202_ACCEPTED)


class TimelineViewSet(ExtViewSet):
    """When each stage of the notification's recovery happened: the failure
    reported (the monitor's generated_time) or detected (with the detector's
    evidence), accepted, held and released by a storm gate, started, the host
    fenced, the first evacuation call, all instances settled, ended; the
    durations between them in seconds, and each instance move and workflow
    step with its times. Only the stages that happened are listed."""

    policy_rules = {"retrieve": "masakari_ext:notifications:timeline"}

    @extend_schema(responses={200: TIMELINE_SCHEMA})
    def retrieve(self, request, notification_uuid):
        notification = get_notification(uuid=notification_uuid)
        return Response(timeline_body(recovery_timeline(notification)))
