"""Webhooks in the Django admin: endpoints written through webhooks.services
(the change log names the admin user), under the /ext/v1 webhook rules; the
secret write-only; deliveries and events read-only."""

from django import forms
from django.contrib import admin

from masakari_site.admin import ReadOnlyAdmin, ServiceAdmin
from masakari_site.api.policy import is_allowed
from masakari_site.api.principal import request_principal
from masakari_site.exceptions import Invalid
from webhooks import services
from webhooks.models import (
    ALL_EVENTS,
    MAX_URL_LENGTH,
    Delivery,
    Event,
    EventType,
    Webhook,
    validate_url,
)

# How many of an endpoint's latest deliveries its page shows.
DELIVERIES_SHOWN = 50
# The admin's actions, as the /ext/v1 rule names them.
RULE_ACTIONS = {"index": "list", "detail": "get", "create": "create", "update": "update",
                "delete": "delete"}


def _allowed(request, action: str) -> bool:
    return is_allowed(f"masakari_ext:webhooks:{action}", request_principal(request))


class WebhookForm(forms.ModelForm):
    url = forms.CharField(max_length=MAX_URL_LENGTH, validators=[validate_url],
                          help_text="http:// or https://; called from the webhook workers.")
    events = forms.MultipleChoiceField(
        choices=[(ALL_EVENTS, "every event")] + EventType.choices,
        widget=forms.CheckboxSelectMultiple, initial=[ALL_EVENTS])
    secret = forms.CharField(
        required=False, strip=True, widget=forms.PasswordInput(render_value=False),
        help_text="Standard Webhooks' form (whsec_ + base64 of the key). Blank: a new "
                  "endpoint gets a generated one; an existing one keeps its own.")

    class Meta:
        model = Webhook
        fields = ["url", "description", "events", "enabled", "secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # A new endpoint's secret, shown on this page only (copy it now).
            secret = self.fields["secret"]
            secret.widget = forms.TextInput(attrs={"size": 60, "autocomplete": "off"})
            secret.initial, secret.required = services.generate_secret(), True
            secret.help_text = ("The signing secret the receiver verifies with: copy it "
                                "now, it is never shown again.")

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"]
        if secret:
            try:
                services.check_secret(secret)
            except Invalid as exc:
                raise forms.ValidationError(exc.message) from None
        return secret


class DeliveryInline(admin.TabularInline):
    """The endpoint's latest deliveries, under the /ext/v1 deliveries rule."""

    model = Delivery
    extra = 0
    can_delete = False
    verbose_name_plural = f"deliveries (the latest {DELIVERIES_SHOWN}, newest first)"
    fields = readonly_fields = ["event", "status", "attempts", "next_attempt_at",
                                "last_status_code", "last_error", "last_answer",
                                "delivered_at", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and _allowed(request, "deliveries")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class Latest(formset):
            def get_queryset(self):
                if not hasattr(self, "_latest"):
                    self._latest = super().get_queryset()[:DELIVERIES_SHOWN]
                return self._latest

        return Latest


@admin.register(Webhook)
class WebhookAdmin(ServiceAdmin):
    form = WebhookForm
    list_display = ["url", "description", "events", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description", "uuid"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    inlines = [DeliveryInline]

    def _policy(self, request, action: str) -> bool:
        return _allowed(request, RULE_ACTIONS[action])

    def get_inline_instances(self, request, obj=None):
        # A POST changes the endpoint alone: the read-only log takes nothing from it.
        return [] if request.method == "POST" else super().get_inline_instances(request, obj)

    def service_create(self, *, actor, fields):
        webhook, _ = services.create_webhook(
            actor=actor, url=fields["url"], events=fields["events"],
            description=fields.get("description") or "", enabled=fields["enabled"],
            secret=fields.get("secret") or None)
        return webhook

    def service_update(self, *, actor, obj, changes):
        if not changes.get("secret"):
            changes.pop("secret", None)  # blank: keep the stored one
        return services.update_webhook(actor=actor, webhook=obj, changes=changes)

    def service_delete(self, *, actor, obj):
        services.delete_webhook(actor=actor, webhook=obj)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """Events as published (CloudEvents), under the /ext/v1 deliveries rule."""

    list_display = ["time", "type", "subject", "source"]
    list_filter = ["type"]
    search_fields = ["subject", "uuid"]
    date_hierarchy = "time"
    fields = readonly_fields = ["uuid", "type", "subject", "source", "time", "data",
                                "created_at"]

    def _may_see(self, request, obj=None) -> bool:
        return _allowed(request, "deliveries")
