from django import forms
from django.contrib import admin

from masakari_site.admin import ServiceAdmin
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal
from segments import services
from segments.models import FencingPolicy, Segment

FIELDS = ("name", "description", "service_type", "recovery_method", "enabled")


class SegmentForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form posted without it (a script written before fencing) keeps the policy.
        if "fencing" in self.fields:  # not when the policy rules make it read-only
            self.fields["fencing"].required = False

    def clean_fencing(self) -> str:
        return self.cleaned_data["fencing"] or self.instance.fencing


@admin.register(Segment)
class SegmentAdmin(ServiceAdmin):
    policy_resource = "segments"
    form = SegmentForm
    list_display = ["name", "recovery_method", "service_type", "enabled", "fencing",
                    "created_at"]
    list_filter = ["recovery_method", "enabled", "service_type", "fencing"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    # The policy (also /ext/v1/segments/{uuid}/policy), grouped.
    fieldsets = [
        (None, {"fields": [*FIELDS, "uuid", "created_at", "updated_at"]}),
        ("Fencing", {
            "fields": ["fencing"],
            "description": "Whether a failed host must be confirmed off before its instances "
                           "are evacuated."}),
        ("Detection", {
            "fields": ["detection", "host_stale_seconds", "probe_port"],
            "description": "The service watches the segment's hosts itself (when Nova is "
                           "configured): a host is stale after this many seconds without a "
                           "nova-compute report (blank: HOST_STALE_SECONDS); hosts without "
                           "their own probe port are probed on this one (blank: no probe)."}),
        ("Storm gates", {
            "fields": ["max_down_percent", "max_down_hosts"],
            "description": "Host recoveries are held for an operator when more than this "
                           "share (blank: HA_MAX_DOWN_PERCENT) or this many (blank: no cap) "
                           "of the segment's hosts are down at once."}),
    ]

    # The policy under the /ext/v1 policy rules, as through the API.
    def get_fieldsets(self, request, obj=None):
        if is_allowed("masakari_ext:policy:get", request_principal(request)):
            return self.fieldsets
        return [(name, options) for name, options in self.fieldsets
                if not set(options["fields"]) & set(services.POLICY_FIELDS)]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not is_allowed("masakari_ext:policy:update", request_principal(request)):
            readonly += services.POLICY_FIELDS
        return readonly

    def service_create(self, *, actor, fields):
        segment = services.create_segment(actor=actor, **{name: fields[name] for name in FIELDS},
                                          fencing=fields.get("fencing",
                                                             FencingPolicy.IF_CONFIGURED))
        policy = {name: fields[name] for name in services.POLICY_FIELDS
                  if name in fields and name != "fencing"
                  and fields[name] != Segment._meta.get_field(name).get_default()}
        return services.set_policy(actor=actor, segment=segment, changes=policy) if policy \
            else segment

    def service_update(self, *, actor, obj, changes):
        policy = {name: changes.pop(name) for name in services.POLICY_FIELDS if name in changes}
        if policy:
            obj = services.set_policy(actor=actor, segment=obj, changes=policy)
        return services.update_segment(actor=actor, segment=obj, changes=changes) if changes \
            else obj

    def service_delete(self, *, actor, obj):
        services.delete_segment(actor=actor, segment=obj)
