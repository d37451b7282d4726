"""Forms for segments, hosts, power devices, fencing, detection and webhooks. They render
the fields; the checking is the API's own (its input serializers, and the power
device checks of /ext/v1), so what the API refuses is refused here with the
same words."""

from django import forms
from django.conf import settings
from django.db import models
from django.db.models import Model
from rest_framework import serializers

from hosts.api.ext_serializers import ProbeInput
from hosts.api.serializers import HostCreateInput
from hosts.models import MAX_POWER_DEVICES, Host, PowerDevice, PowerDriver, ironic_names
from masakari_site.exceptions import MasakariError
from masakari_site.power import validate_device
from notifications.api.ext_serializers import ConfirmInput
from segments.api.ext_serializers import PolicyInput
from segments.api.serializers import SegmentCreateInputV12
from segments.models import FencingPolicy, RecoveryMethod, Segment
from webhooks import services as webhook_services
from webhooks.api.ext_serializers import WebhookInput
from webhooks.models import ALL_EVENTS, EVENT_TYPE_PREFIX, MAX_URL_LENGTH, EventType


def api_choices(choices: type[models.TextChoices]) -> list[tuple[str, str]]:
    """Each value shown as the API spells it (reserved_host, COMPUTE_HOST), not
    the label Django makes of its name ("Reserved Host", "Compute Host")."""
    return [(value, value) for value in choices.values]


class ApiValidatedForm(forms.Form):
    """Runs `api_input` on the cleaned data and shows its errors on the fields."""

    api_input: type[serializers.Serializer]
    # The cleaned fields the domain service takes, by the same names.
    service_fields: tuple[str, ...]

    def clean(self):
        data = super().clean()
        if self.errors:  # a field's own check failed: its message is enough
            return data
        body = {name: data[name] for name in self.api_input().fields if name in data}
        api_input = self.api_input(data=body)
        if not api_input.is_valid():
            for name, errors in api_input.errors.items():
                target = name if name in self.fields else None
                for error in errors:
                    self.add_error(target, str(error))
            return data
        return {**data, **api_input.validated_data}

    @classmethod
    def for_object(cls, obj: Model, data=None) -> "ApiValidatedForm":
        """The form to edit `obj`, filled with its values (an empty text field for None)."""
        return cls(data=data, initial={
            name: "" if getattr(obj, name) is None else getattr(obj, name)
            for name in cls.service_fields})

    def fields_for_service(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.service_fields}

    def changes_for_service(self) -> dict:
        """Only the fields the user changed (a None shown as "" and sent back is no change)."""
        return {name: value for name, value in self.fields_for_service().items()
                if name in self.changed_data}


class SegmentForm(ApiValidatedForm):
    api_input = SegmentCreateInputV12
    service_fields = ("name", "description", "service_type", "recovery_method", "enabled")

    name = forms.CharField(max_length=255, strip=False)
    description = forms.CharField(max_length=255, required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    service_type = forms.CharField(max_length=255, strip=False, initial="COMPUTE",
                                   help_text="The Nova service the hosts run, e.g. COMPUTE.")
    recovery_method = forms.ChoiceField(choices=api_choices(RecoveryMethod))
    enabled = forms.BooleanField(required=False, initial=True,
                                 help_text="Disabled segments do not recover their hosts.")


class HostForm(ApiValidatedForm):
    api_input = HostCreateInput
    service_fields = ("name", "type", "control_attributes", "reserved", "on_maintenance")

    name = forms.CharField(max_length=255, strip=False,
                           help_text="The host's name as Nova's compute service knows it.")
    type = forms.CharField(max_length=255, required=False, initial="COMPUTE")
    control_attributes = forms.CharField(max_length=255, required=False, initial="SSH",
                                         strip=False, label="Control attributes")
    reserved = forms.BooleanField(required=False,
                                  help_text="Kept free to receive instances of failed hosts.")
    on_maintenance = forms.BooleanField(required=False, label="On maintenance",
                                        help_text="Notifications from it are ignored.")


class NewHostForm(HostForm):
    """A host is created in a segment and stays there (the API cannot move it)."""

    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"),
                                     to_field_name="uuid", empty_label=None)
    field_order = ["segment"]
    service_fields = ("segment", *HostForm.service_fields)


class FencingPolicyForm(ApiValidatedForm):
    api_input = PolicyInput
    service_fields = ("fencing",)

    fencing = forms.ChoiceField(choices=FencingPolicy.choices, label="Fencing policy")


def _optional_number(label: str) -> forms.IntegerField:
    return forms.IntegerField(required=False, label=label)


class DetectionPolicyForm(ApiValidatedForm):
    """Whether the detector watches the segment, and its thresholds (blank:
    the setting of the same name)."""

    api_input = PolicyInput
    service_fields = ("detection", "host_stale_seconds", "max_down_percent", "max_down_hosts",
                      "probe_port")

    # A choice, not a checkbox: a POST that leaves it out is refused, never "off".
    detection = forms.TypedChoiceField(choices=[("true", "on"), ("false", "off")],
                                       coerce=lambda value: value == "true", label="Detection")
    host_stale_seconds = _optional_number("Stale after (s)")
    max_down_percent = _optional_number("Hold when more than (% down)")
    max_down_hosts = _optional_number("Hold when more than (hosts down)")
    probe_port = _optional_number("Probe port")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        help_texts = {
            "detection": "The service watches the hosts itself (when Nova is configured).",
            "host_stale_seconds": "Without a nova-compute report for this long, a host is "
                                  f"stale. Blank: {settings.HOST_STALE_SECONDS} s "
                                  "(HOST_STALE_SECONDS).",
            "max_down_percent": "Storm gate: host recoveries are held when more than this "
                                "share of the segment's hosts is down at once. Blank: "
                                f"{settings.HA_MAX_DOWN_PERCENT} % (HA_MAX_DOWN_PERCENT).",
            "max_down_hosts": "... or more than this many hosts. Blank: no cap.",
            "probe_port": "TCP port probed on hosts without their own. Blank: no probe.",
        }
        for name, text in help_texts.items():
            self.fields[name].help_text = text

    @classmethod
    def for_segment(cls, segment: Segment) -> "DetectionPolicyForm":
        initial = {name: getattr(segment, name) for name in cls.service_fields}
        return cls(initial={**initial, "detection": "true" if segment.detection else "false"})


class ProbeForm(ApiValidatedForm):
    """The detector's TCP probe of a host; the fields are ProbeInput's, named
    as the host's."""

    api_input = ProbeInput
    service_fields = ("address", "port")

    address = forms.CharField(max_length=255, required=False, strip=False, label="Probe address",
                              help_text="Host name or IP address probed. Blank: the host's "
                                        "name.")
    port = forms.IntegerField(required=False, label="Probe port",
                              help_text="TCP port probed. Blank: the segment's probe port "
                                        "(no probe if that is unset too).")

    @classmethod
    def for_host(cls, host: Host) -> "ProbeForm":
        return cls(initial={"address": host.probe_address, "port": host.probe_port})


class ConfirmFencedForm(ApiValidatedForm):
    api_input = ConfirmInput
    service_fields = ("reason",)

    reason = forms.CharField(max_length=255, help_text="What you did or saw: it is recorded "
                             "with your name (e.g. \"pulled both power cables\").")


class StopRecoveryForm(ApiValidatedForm):
    api_input = ConfirmInput
    service_fields = ("reason",)

    reason = forms.CharField(max_length=255, help_text="Why no recovery is wanted: it is "
                             "recorded with your name (e.g. \"host is being replaced\").")


class ReleaseForm(ApiValidatedForm):
    api_input = ConfirmInput
    service_fields = ("reason",)

    reason = forms.CharField(max_length=255, help_text="Why it is safe to recover now: it is "
                             "recorded with your name (e.g. \"rack 4 lost power, hosts "
                             "checked off\").")


class ReleaseAllForm(ReleaseForm):
    # The recoveries held at this time are released, those held later are not:
    # only what the operator saw.
    as_of = forms.DateTimeField(widget=forms.HiddenInput)


def _device_fields(*, stored: PowerDevice | None) -> dict[str, forms.Field]:
    """One device's fields, by PowerDevice field name. `data-driver` names the
    drivers a field is for (the page shows only those of the chosen driver)."""

    def text(drivers: str, **kwargs) -> forms.CharField:
        return forms.CharField(required=False, max_length=kwargs.pop("max_length", 255),
                               widget=kwargs.pop("widget", forms.TextInput)(
                                   attrs={"data-driver": drivers, **kwargs.pop("attrs", {})}),
                               **kwargs)

    return {
        "driver": forms.ChoiceField(choices=[("", "none"), *PowerDriver.choices],
                                    required=False, label="Driver",
                                    help_text="none: no device here (its other fields are "
                                              "ignored).",
                                    widget=forms.Select(attrs={"data-power-driver": ""})),
        "address": text("redfish ipmi", label="Address",
                        help_text="Redfish: the BMC's URL, such as https://10.0.0.5 (no path). "
                                  "IPMI: its host name or IP address."),
        "system_id": text("redfish", label="System id", help_text="/redfish/v1/Systems/<id>; "
                          "blank when the BMC manages one system."),
        "verify_ca": text("redfish", max_length=1024, initial="true",
                          label="Verify the TLS certificate",
                          help_text="true, false, or the absolute path of a CA bundle."),
        "port": forms.IntegerField(required=False, min_value=1, max_value=65535, label="Port",
                                   widget=forms.NumberInput(attrs={"data-driver": "ipmi"}),
                                   help_text="623 when blank."),
        "username": text("redfish ipmi", strip=False, label="Username"),
        "password": text(
            "redfish ipmi", strip=False, label="Password", widget=forms.PasswordInput,
            attrs={"autocomplete": "new-password"},
            help_text="A password is stored: leave blank to keep it (while driver and address "
                      "stay the same)." if stored else "The BMC account's password."),
    }


DEVICE_FIELDS = tuple(_device_fields(stored=None))


class PowerDevicesForm(forms.Form):
    """A host's power devices: one group of fields a place, tried in order when
    the host is fenced. Passwords are write-only (never rendered back).

    The checks are the API's: each device's settings go through
    masakari_site.power.validate_device as an /ext/v1 body would, and
    `devices` (in Ironic's names) is what set_power_devices takes.
    """

    def __init__(self, data=None, *, stored: list[PowerDevice]):
        super().__init__(data, initial={
            f"device{device.position}_{name}": getattr(device, name)
            for device in stored for name in DEVICE_FIELDS if name != "password"})
        self.stored = stored
        by_place = {device.position: device for device in stored}
        for place in range(MAX_POWER_DEVICES):
            for name, field in _device_fields(stored=by_place.get(place)).items():
                self.fields[f"device{place}_{name}"] = field
        self.devices: list[dict] = []

    def places(self) -> list[list[forms.BoundField]]:
        return [[self[f"device{place}_{name}"] for name in DEVICE_FIELDS]
                for place in range(MAX_POWER_DEVICES)]

    def clean(self):
        data = super().clean()
        for place in range(MAX_POWER_DEVICES):
            names = [f"device{place}_{name}" for name in DEVICE_FIELDS]
            if any(name in self.errors for name in names):
                continue  # a field's own check failed: its message is enough
            values = {name: data[f"device{place}_{name}"] for name in DEVICE_FIELDS}
            if not values["driver"]:
                continue
            if place > len(self.devices):
                self.add_error(f"device{place}_driver", "Set device 0 first: device 1 is "
                               "tried when device 0 cannot be reached.")
                continue
            device = self._body(values)
            for name, error in validate_device(self._as_checked(device)).items():
                field = f"device{place}_{self._field_name(values['driver'], name)}"
                self.add_error(field if field in self.fields else None, error)
            self.devices.append(device)
        return data

    @staticmethod
    def _body(values: dict) -> dict:
        """The device as an /ext/v1 body gives it: blank settings left out
        (a blank password keeps the stored one)."""
        names = ironic_names(values["driver"])
        return {"driver": values["driver"],
                **{ironic: values[field] for field, ironic in names.items()
                   if values[field] not in (None, "")}}

    def _as_checked(self, device: dict) -> dict:
        """The device as set_power_devices checks it: a password kept from the
        stored device of the same driver and address is checked for presence only."""
        names = ironic_names(device["driver"])
        address = str(device.get(names["address"], "")).strip()
        keeps = names["password"] not in device and any(
            stored.driver == device["driver"] and stored.address == address
            for stored in self.stored)
        return {**device, names["password"]: "(stored)"} if keeps else device

    @staticmethod
    def _field_name(driver: str, ironic: str) -> str:
        return {name: field for field, name in ironic_names(driver).items()}.get(ironic, ironic)


# --- webhooks ----------------------------------------------------------------------

def short_event_type(event_type: str) -> str:
    """An event type as the README lists it: recovery.finished."""
    return event_type.removeprefix(EVENT_TYPE_PREFIX)


WEBHOOK_EVENT_CHOICES = [(ALL_EVENTS, "all events"),
                         *((value, short_event_type(value)) for value in EventType.values)]


def _service_check(check):
    """A check of webhooks.services as a field's validator, in the service's words
    (the API's serializer leaves these to the service)."""

    def validate(value):
        try:
            return check(value)
        except MasakariError as exc:
            raise forms.ValidationError(exc.message) from None
    return validate


class WebhookForm(ApiValidatedForm):
    """An endpoint's settings (its secret is rotated, never edited here)."""

    api_input = WebhookInput
    service_fields = ("url", "events", "description", "enabled")

    url = forms.CharField(max_length=MAX_URL_LENGTH, label="URL",
                          widget=forms.TextInput(attrs={"inputmode": "url"}),
                          help_text="http:// or https://, called from the webhook workers' "
                                    "network; redirects are not followed.")
    events = forms.MultipleChoiceField(
        choices=WEBHOOK_EVENT_CHOICES, initial=[ALL_EVENTS], widget=forms.CheckboxSelectMultiple,
        help_text="\"all events\" alone, or the event types wanted (each "
                  f"{EVENT_TYPE_PREFIX}…).")
    description = forms.CharField(max_length=255, required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(required=False, initial=True,
                                 help_text="A disabled endpoint gets no new events; its "
                                           "pending deliveries end failed without a call.")

    def clean_url(self) -> str:
        return _service_check(webhook_services.check_url)(self.cleaned_data["url"])

    def clean_events(self) -> list[str]:
        return _service_check(webhook_services.check_events)(self.cleaned_data["events"])


class NewWebhookForm(WebhookForm):
    """A new endpoint; its signing secret is generated unless one is given."""

    service_fields = ("url", "events", "description", "secret")

    enabled = None
    # Never rendered back: a refused form does not echo a typed secret.
    secret = forms.CharField(
        required=False, label="Signing secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=f"Blank (usual): one is generated. Or Standard Webhooks' form, "
                  f"{webhook_services.SECRET_PREFIX} + base64 of a 24-64 byte key. Shown "
                  "once, after creating, and never again.")

    def clean_secret(self) -> str | None:
        secret = self.cleaned_data["secret"]
        return _service_check(webhook_services.check_secret)(secret) if secret else None
