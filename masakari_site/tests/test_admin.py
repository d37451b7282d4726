"""The Django admin covers every model; what the API cannot change, it cannot either."""

import pytest
from django.contrib import admin
from django.urls import reverse

from hosts.models import Host
from hosts.tests.factories import HostFactory
from notifications.tests.factories import RecoveryStepEventFactory, VMoveFactory

READ_ONLY = {"notifications.notification", "notifications.vmove",
             "notifications.recoverystep", "masakari_site.objectchange",
             "masakari_site.periodicrun"}


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "", "pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_every_model_is_in_the_admin():
    from django.apps import apps

    ours = {"segments", "hosts", "notifications", "masakari_site"}
    models = {m._meta.label_lower for m in apps.get_models() if m._meta.app_label in ours}
    registered = {m._meta.label_lower for m in admin.site._registry}
    # Shown inline on their parent's page: step events on their step, power
    # devices and health (now and its changes) on their host, fence records
    # and storm gates' holds on their notification.
    inlined = {inline.model._meta.label_lower for model_admin in admin.site._registry.values()
               for inline in model_admin.inlines}
    assert models - registered == {"notifications.recoverystepevent", "hosts.powerdevice",
                                   "notifications.fencerecord", "hosts.hosthealth",
                                   "hosts.healthchange", "notifications.hold"}
    assert models - registered <= inlined


@pytest.mark.django_db
def test_changelists_and_change_pages_open(staff_client):
    HostFactory()
    RecoveryStepEventFactory()
    VMoveFactory()
    for model in admin.site._registry:
        meta = model._meta
        if meta.app_label not in {"segments", "hosts", "notifications", "masakari_site"}:
            continue
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert staff_client.get(url).status_code == 200, url
        row = model._default_manager.first()
        if row is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
            assert staff_client.get(change).status_code == 200, change
        add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
        expected = 403 if meta.label_lower in READ_ONLY else 200
        assert staff_client.get(add).status_code == expected, add


@pytest.fixture
def policy_override(settings):
    from masakari_site.api import policy

    def override(rules: dict[str, str]):
        settings.MASAKARI_POLICY = {f"os_masakari_api:{name}": rule
                                    for name, rule in rules.items()}
        policy.rules.cache_clear()
    yield override
    policy.rules.cache_clear()


@pytest.mark.django_db
def test_the_admin_obeys_policy_overrides(staff_client, policy_override):
    from notifications.tests.factories import NotificationFactory

    host = HostFactory()
    NotificationFactory(host=host, status="failed")
    policy_override({"os-hosts:delete": "!", "notifications:retry": "!"})
    delete = reverse("admin:hosts_host_delete", args=[host.pk])
    assert staff_client.get(reverse("admin:hosts_host_change", args=[host.pk])).status_code == 200
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert Host.objects.filter(pk=host.pk).exists()
    notifications = staff_client.get(reverse("admin:notifications_notification_changelist"))
    assert "retry_recovery" not in notifications.content.decode()
    policy_override({"segments:index": "!", "segments:detail": "!"})
    assert staff_client.get(reverse("admin:segments_segment_changelist")).status_code == 403


@pytest.mark.django_db
def test_the_segment_policy_is_grouped_and_under_the_ext_policy_rules(staff_client, settings):
    from masakari_site.api import policy
    from segments.models import Segment
    from segments.tests.factories import SegmentFactory

    segment = SegmentFactory(probe_port=22)
    url = reverse("admin:segments_segment_change", args=[segment.pk])
    page = staff_client.get(url).content.decode()
    for heading in ("Fencing", "Detection", "Storm gates"):
        assert f">{heading}</h2>" in page, heading
    assert 'name="max_down_hosts"' in page

    form = {"name": segment.name, "description": "", "service_type": segment.service_type,
            "recovery_method": segment.recovery_method, "enabled": "on", "detection": "on",
            "fencing": "required", "probe_port": "2222"}
    try:
        settings.MASAKARI_POLICY = {"masakari_ext:policy:update": "!"}
        policy.rules.cache_clear()
        page = staff_client.get(url).content.decode()
        assert 'name="probe_port"' not in page and ">Storm gates</h2>" in page
        assert staff_client.post(url, {**form, "description": "kept"}).status_code == 302
        segment = Segment.objects.get(pk=segment.pk)
        assert (segment.description, segment.fencing, segment.probe_port) == (
            "kept", "if_configured", 22)

        settings.MASAKARI_POLICY = {"masakari_ext:policy:get": "!",
                                    "masakari_ext:policy:update": "!"}
        policy.rules.cache_clear()
        page = staff_client.get(url).content.decode()
        assert ">Storm gates</h2>" not in page and ">Fencing</h2>" not in page
        add = staff_client.post(reverse("admin:segments_segment_add"), {
            "name": "rack-new", "description": "", "service_type": "COMPUTE",
            "recovery_method": "auto", "enabled": "on"})
        assert add.status_code == 302
        assert Segment.objects.get(name="rack-new").fencing == "if_configured"
    finally:
        policy.rules.cache_clear()
