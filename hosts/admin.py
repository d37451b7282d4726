from django import forms
from django.contrib import admin

from hosts import services
from hosts.models import MAX_POWER_DEVICES, Host, PowerDevice, ironic_names
from masakari_site.admin import ServiceAdmin
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal

FIELDS = ("segment", "name", "type", "control_attributes", "reserved", "on_maintenance")
# The power devices' inline formset prefix: their related name.
POWER_FORMS_PREFIX = "power_devices"


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


@admin.register(Host)
class HostAdmin(ServiceAdmin):
    policy_resource = "os-hosts"
    list_display = ["name", "segment", "type", "reserved", "on_maintenance", "created_at"]
    list_filter = ["reserved", "on_maintenance", "type", "segment"]
    list_select_related = ["segment"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    autocomplete_fields = ["segment"]
    inlines = [PowerDeviceInline]

    def service_create(self, *, actor, fields):
        return services.create_host(actor=actor, **{name: fields[name] for name in FIELDS})

    def service_update(self, *, actor, obj, changes):
        if "segment" in changes:
            obj = services.move_host(actor=actor, host=obj, segment=changes.pop("segment"))
        return services.update_host(actor=actor, host=obj, changes=changes) if changes else obj

    def service_delete(self, *, actor, obj):
        services.delete_host(actor=actor, host=obj)

    def get_inline_instances(self, request, obj=None):
        # A form posted without the power devices' part (a script written before
        # fencing) leaves them as they are, rather than failing as tampered with.
        if request.method == "POST" and f"{POWER_FORMS_PREFIX}-TOTAL_FORMS" not in request.POST:
            return []
        return super().get_inline_instances(request, obj)

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
