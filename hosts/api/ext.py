"""/ext/v1/hosts/{host_uuid}/…: a host's power devices (fencing) and a check of
its power state through them; its health as the detector judges it; the
detector's TCP probe of it."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from hosts import services
from hosts.api.ext_serializers import (
    CHECK_SCHEMA,
    HEALTH_SCHEMA,
    POWER_SCHEMA,
    PROBE_SCHEMA,
    PowerUpdateBody,
    ProbeUpdateBody,
    check_body,
    health_body,
    power_body,
    probe_body,
)
from hosts.models import Host
from hosts.selectors import get_host_with_health, host_health
from masakari_site.api.views import ExtViewSet
from masakari_site.selectors import get_by_uuid

RULE = "masakari_ext:power:%s"


def _host(uuid: str) -> Host:
    return get_by_uuid(Host.objects.select_related("segment"), uuid, what="host")


class PowerViewSet(ExtViewSet):
    """A host's power devices: how the service powers the host off (and checks it
    is off) before evacuating its instances. Settings use Ironic's driver_info
    names; passwords are write-only (`password_set` shows one is stored), and a
    device sent without its password keeps the stored one (same driver and
    address)."""

    policy_rules = {"retrieve": RULE % "get", "update": RULE % "update",
                    "destroy": RULE % "delete", "check": RULE % "check"}

    @extend_schema(responses={200: POWER_SCHEMA})
    def retrieve(self, request, host_uuid):
        return Response(power_body(_host(host_uuid).power_devices.all()))

    @extend_schema(request=PowerUpdateBody, responses={200: POWER_SCHEMA})
    def update(self, request, host_uuid):
        devices = self.validated(PowerUpdateBody)["power"]["devices"]
        return Response(power_body(services.set_power_devices(
            actor=request.user, host=_host(host_uuid), devices=devices)))

    @extend_schema(responses={204: None})
    def destroy(self, request, host_uuid):
        services.clear_power_devices(actor=request.user, host=_host(host_uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: CHECK_SCHEMA})
    def check(self, request, host_uuid):
        """Read the host's power state now, device 0 first, then 1 if 0 cannot be
        read. A device that cannot be read is an outcome (`ok` false, with the
        reason per device in `attempts`), not an error of the call. Each device's
        outcome is kept as its `last_check`."""
        return Response(check_body(services.check_power(host=_host(host_uuid))))


class HealthViewSet(ExtViewSet):
    """The host's health as the detector judged it at its last pass: the state,
    its evidence in words, the signals read (Nova's compute service, the power
    device, the TCP probe, the monitors' reports), and the latest changes,
    newest first. A host the detector has not seen yet is `unknown`, saying so."""

    policy_rules = {"retrieve": "masakari_ext:health:get"}

    @extend_schema(responses={200: HEALTH_SCHEMA})
    def retrieve(self, request, host_uuid):
        return Response(health_body(host_health(get_host_with_health(uuid=host_uuid))))


class ProbeViewSet(ExtViewSet):
    """The detector's TCP probe of the host (its management network): `address`
    (null: the host's name) and `port` (null: the segment's `probe_port`; no
    probe if that is unset too); `effective` is what is probed. A PUT changes
    the fields it names; a DELETE clears both."""

    policy_rules = {"retrieve": "masakari_ext:probe:get", "update": "masakari_ext:probe:update",
                    "destroy": "masakari_ext:probe:delete"}

    @extend_schema(responses={200: PROBE_SCHEMA})
    def retrieve(self, request, host_uuid):
        return Response(probe_body(_host(host_uuid)))

    @extend_schema(request=ProbeUpdateBody, responses={200: PROBE_SCHEMA})
    def update(self, request, host_uuid):
        changes = self.validated(ProbeUpdateBody)["probe"]
        host = _host(host_uuid)
        host = services.set_probe(
            actor=request.user, host=host,
            address=changes.get("address", host.probe_address) or "",
            port=changes.get("port", host.probe_port))
        return Response(probe_body(host))

    @extend_schema(responses={204: None})
    def destroy(self, request, host_uuid):
        services.set_probe(actor=request.user, host=_host(host_uuid), address="", port=None)
        return Response(status=status.HTTP_204_NO_CONTENT)
