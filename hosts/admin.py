from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from hosts import services
from hosts.models import (
    MAX_POWER_DEVICES,
    HealthChange,
    Host,
    HostHealth,
    PowerDevice,
    ironic_names,
)
from hosts.selectors import nova_report_age_seconds
from masakari_site.admin import ServiceAdmin
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal

FIELDS = ("segment", "name", "type", "control_attributes", "reserved", "on_maintenance")
PROBE_FIELDS = ("probe_address", "probe_port")
# The power devices' inline formset prefix: their related name.
POWER_FORMS_PREFIX = "power_devices"
# How many of a host's latest health changes its page shows.
HEALTH_CHANGES_SHOWN = 20


def _ext_allowed(request, rule: str) -> bool:
    return is_allowed(f"masakari_ext:{rule}", request_principal(request))


class PowerDeviceForm(forms.ModelForm):
    # Write-only: never rendered back, blank keeps the stored password.
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored password (same driver and address).")

    class Meta:
        model = PowerDevice
        fields = ["driver", "address", "port", "system_id", "username", "password", "verify_ca"]

    def ironic_device(self) -> dict:
        """The device as hosts.services.set_power_devices takes it (Ironic's names);
        fields the driver does not use are left out."""
        driver = self.cleaned_data["driver"]
        return {"driver": driver, **{
            name: self.cleaned_data[field] for field, name in ironic_names(driver).items()
            if self.cleaned_data.get(field) not in (None, "")}}


class PowerDeviceInline(admin.TabularInline):
    """Saved through hosts.services.set_power_devices (HostAdmin.save_formset), under
    the /ext/v1 power rules."""

    model = PowerDevice
    form = PowerDeviceForm
    extra = 0
    max_num = MAX_POWER_DEVICES
    readonly_fields = ["last_check"]

    def _policy(self, request, action: str) -> bool:
        # Nobody changes what the policy does not let them see.
        principal = request_principal(request)
        return all(is_allowed(f"masakari_ext:power:{name}", principal)
                   for name in {"get", action})

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._policy(request, "get")

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._policy(request, "update")

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._policy(request, "update")

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._policy(request, "update")

    @admin.display(description="last check")
    def last_check(self, device: PowerDevice) -> str:
        if device.last_checked_at is None:
            return "never"
        outcome = f"power {device.last_power_state}" if device.last_check_ok \
            else f"failed: {device.last_error}"
        return f"{device.last_checked_at:%Y-%m-%d %H:%M:%S} UTC, {outcome}"


class ReadOnlyHealthInline:
    """The detector's records, shown under the /ext/v1 health rule; nobody edits them."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and _ext_allowed(request, "health:get")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class HostHealthInline(ReadOnlyHealthInline, admin.StackedInline):
    model = HostHealth
    verbose_name = verbose_name_plural = "health (the detector's last verdict)"
    fields = readonly_fields = [
        "state", "since", "message", "nova_state", "nova_disabled", "nova_forced_down",
        "nova_updated_at", "nova_report_age", "power_state", "power_since", "power_error",
        "probe_ok", "probe_since", "probe_error", "monitor_reported_at"]

    @admin.display(description="nova report age")
    def nova_report_age(self, health: HostHealth) -> str:
        age = nova_report_age_seconds(health, now=timezone.now())
        return "-" if age is None else f"{age:.0f} s"


class LatestHealthChanges(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:HEALTH_CHANGES_SHOWN]
        return self._latest


class HealthChangeInline(ReadOnlyHealthInline, admin.TabularInline):
    model = HealthChange
    formset = LatestHealthChanges
    verbose_name_plural = f"health changes (the latest {HEALTH_CHANGES_SHOWN}, newest first)"
    fields = readonly_fields = ["at", "previous", "state", "message", "evidence"]


@admin.register(Host)
class HostAdmin(ServiceAdmin):
    policy_resource = "os-hosts"
    list_display = ["name", "segment", "type", "reserved", "on_maintenance", "created_at"]
    list_filter = ["reserved", "on_maintenance", "type", "segment"]
    list_select_related = ["segment"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    autocomplete_fields = ["segment"]
    inlines = [HostHealthInline, PowerDeviceInline, HealthChangeInline]
    fieldsets = [
        (None, {"fields": [*FIELDS, "uuid", "created_at", "updated_at"]}),
        ("Detection probe", {
            "fields": list(PROBE_FIELDS),
            "description": "The detector's TCP probe of the host: the address (blank: the "
                           "host's name) and port (blank: the segment's probe port; no "
                           "probe if that is unset too)."}),
    ]

    def get_fieldsets(self, request, obj=None):
        # The probe under the /ext/v1 probe rules, as the power devices under theirs.
        if _ext_allowed(request, "probe:get"):
            return self.fieldsets
        return [(name, options) for name, options in self.fieldsets
                if not set(options["fields"]) & set(PROBE_FIELDS)]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not _ext_allowed(request, "probe:update"):
            readonly += PROBE_FIELDS
        return readonly

    def service_create(self, *, actor, fields):
        host = services.create_host(actor=actor, **{name: fields[name] for name in FIELDS})
        probe = {name: fields[name] for name in PROBE_FIELDS if fields.get(name) not in (None, "")}
        if probe:
            host = services.set_probe(actor=actor, host=host,
                                      address=probe.get("probe_address", ""),
                                      port=probe.get("probe_port"))
        return host

    def service_update(self, *, actor, obj, changes):
        probe = {name: changes.pop(name) for name in PROBE_FIELDS if name in changes}
        if "segment" in changes:
            obj = services.move_host(actor=actor, host=obj, segment=changes.pop("segment"))
        if changes:
            obj = services.update_host(actor=actor, host=obj, changes=changes)
        if probe:
            obj = services.set_probe(
                actor=actor, host=obj, address=probe.get("probe_address", obj.probe_address),
                port=probe.get("probe_port", obj.probe_port))
        return obj

    def service_delete(self, *, actor, obj):
        services.delete_host(actor=actor, host=obj)

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if request.method != "POST":
            return inlines
        # A POST changes only the power devices: the read-only inlines take
        # nothing from it, and a form posted without the power devices' part (a
        # script written before fencing) leaves them as they are, rather than
        # failing as tampered with.
        posted_power = f"{POWER_FORMS_PREFIX}-TOTAL_FORMS" in request.POST
        return [inline for inline in inlines
                if isinstance(inline, PowerDeviceInline) and posted_power]

    def save_formset(self, request, form, formset, change):
        if formset.model is not PowerDevice:
            return super().save_formset(request, form, formset, change)
        if not formset.has_changed():
            return None
        # The devices kept and added, in their order: the service replaces them all.
        devices = [device_form.ironic_device() for device_form in formset.forms
                   if device_form.cleaned_data and not device_form.cleaned_data.get("DELETE")]
        services.set_power_devices(actor=request.user, host=form.instance, devices=devices)
        # What Django's own history message reads; the change log has the real record.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None
