"""The dashboard's generic views, one per kind of change (create, edit, a
button, a change that asks first), as NetBox's ObjectEditView and
ObjectDeleteView: a resource's pages are these views given its selector,
domain services, form and words.

Every view is for a logged-in user the policy allows (`dashboard_view`), and a
domain refusal (MasakariError) becomes a message on the page, never an error page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import permissions
from dashboard.forms import ApiValidatedForm
from masakari_site.changelog import Actor
from masakari_site.exceptions import MasakariError, NotFound

View = Callable[..., HttpResponse]
T = TypeVar("T")


def dashboard_view(action: str) -> Callable[[View], View]:
    """Logged in, and the policy rule for `action` (permissions.RULES) allows it.
    An unknown uuid is a 404 page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.headers.get("X-Requested-With") == "fetch":
                    # A live fragment after the session ended: the page reloads itself.
                    return HttpResponse(status=401)
                return redirect_to_login(request.get_full_path())
            if not permissions.allowed(request, action):
                raise PermissionDenied("The policy does not allow you to do this.")
            try:
                response = view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from None
            # Pages about an operator's cloud: no shared or back-button cache keeps them.
            patch_cache_control(response, private=True, no_store=True)
            return response
        return wrapper
    return decorate


def run_service(request: HttpRequest, call: Callable[[], T], *,
                success: str | Callable[[T], str]) -> bool:
    """Make one change; `success` (or `success(result)`), or the domain's refusal,
    is the next page's message."""
    try:
        result = call()
    except MasakariError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success(result) if callable(success) else success)
    return True


def form_errors(form: forms.Form) -> list[str]:
    """A form's errors as messages, each naming its field."""
    return [error if name == NON_FIELD_ERRORS else f"{form[name].label}: {error}"
            for name, errors in form.errors.items() for error in errors]


@dataclass(frozen=True)
class Resource:
    """One kind of object the dashboard changes.

    The domain services take the acting user as `actor` and their object by
    the resource's noun (`segment=`, `host=`), as segments/ and hosts/ do.
    """

    noun: str  # names the policy actions (`<noun>_update`) and goes in titles and messages
    get: Callable[..., Model]  # a selector: get(uuid=...), NotFound when there is none
    list_url: str  # URL names
    detail_url: str
    create_service: Callable[..., Model]  # (actor=..., **fields)
    update_service: Callable[..., Model]  # (actor=..., <noun>=obj, changes={...})
    delete_service: Callable[..., None]  # (actor=..., <noun>=obj)

    def detail(self, obj: Model) -> str:
        return reverse(self.detail_url, args=[obj.uuid])

    def create(self, actor: Actor, fields: dict) -> Model:
        return self.create_service(actor=actor, **fields)

    def update(self, actor: Actor, obj: Model, changes: dict) -> Model:
        return self.update_service(actor=actor, changes=changes, **{self.noun: obj})

    def delete(self, actor: Actor, obj: Model) -> None:
        self.delete_service(actor=actor, **{self.noun: obj})


def form_page(request: HttpRequest, form: forms.Form, *, save: Callable[[], T],
              saved: Callable[[T], str], then: Callable[[T], str], page: Callable[[], dict],
              template: str = "dashboard/form.html") -> HttpResponse:
    """A POSTed valid form is saved and leads to `then(saved object)`; the form
    again otherwise, with the domain's refusal above the fields."""
    if request.method == "POST" and form.is_valid():
        try:
            obj = save()
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, saved(obj))
            return redirect(then(obj))
    return render(request, template, {"form": form, **page()})


def create_view(resource: Resource, *, form_class: type[ApiValidatedForm],
                created: Callable[[Model], str], submit: str,
                initial: Callable[[HttpRequest], dict] | None = None) -> View:
    """The "New <noun>" form; `form_class.fields_for_service()` are the create
    service's arguments."""

    @require_http_methods(["GET", "POST"])
    @dashboard_view(f"{resource.noun}_create")
    def create(request: HttpRequest) -> HttpResponse:
        form = form_class(request.POST or None, initial=initial(request) if initial else None)
        return form_page(
            request, form,
            save=lambda: resource.create(request.user, form.fields_for_service()),
            saved=created, then=resource.detail,
            page=lambda: {"title": f"New {resource.noun}", "submit": submit,
                          "cancel_url": reverse(resource.list_url)})
    return create


def edit_view(resource: Resource, *, form_class: type[ApiValidatedForm]) -> View:
    """The "Edit <noun>" form, filled from the object; what the user changed
    goes to the update service."""

    @require_http_methods(["GET", "POST"])
    @dashboard_view(f"{resource.noun}_update")
    def edit(request: HttpRequest, uuid: str) -> HttpResponse:
        obj = resource.get(uuid=uuid)
        form = form_class.for_object(obj, data=request.POST or None)
        return form_page(
            request, form,
            save=lambda: resource.update(request.user, obj, form.changes_for_service()),
            saved=lambda saved: f"{resource.noun.capitalize()} {saved.name} saved.",
            then=resource.detail,
            page=lambda: {"title": f"Edit {resource.noun} {obj.name}", "submit": "Save",
                          "cancel_url": resource.detail(obj)})
    return edit


def action_view(*, action: str, get: Callable[..., Model],
                change: Callable[[Actor, Model, dict], T],
                done: Callable[[Model, dict, T], str], back: Callable[[Model], str],
                form_class: type[forms.Form] = forms.Form) -> View:
    """A button on an object's page, with the few fields of `form_class`: a POST
    makes one change, `change(actor, obj, cleaned_data)`, and goes `back`; the
    message there is `done(obj, cleaned_data, result)`, or what the form or
    the domain refused."""

    @require_POST
    @dashboard_view(action)
    def act(request: HttpRequest, uuid: str) -> HttpResponse:
        obj = get(uuid=uuid)
        form = form_class(request.POST)
        if form.is_valid():
            run_service(request, lambda: change(request.user, obj, form.cleaned_data),
                        success=lambda result: done(obj, form.cleaned_data, result))
        for error in form_errors(form):
            messages.error(request, error)
        return redirect(back(obj))
    return act


def toggle_view(resource: Resource, *, field: str, done: Callable[[Model, bool], str]) -> View:
    """A button that sets one boolean `field` to the POSTed "true" or "false"."""
    flag_form = type(forms.Form)("FlagForm", (forms.Form,), {field: forms.TypedChoiceField(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true")})
    return action_view(
        action=f"{resource.noun}_update", get=resource.get, form_class=flag_form,
        change=lambda actor, obj, values: resource.update(actor, obj, values),
        done=lambda obj, values, _: done(obj, values[field]), back=resource.detail)


def safe_next(request: HttpRequest) -> str | None:
    """The page a `next` parameter asks to go to afterwards, if it is one of ours."""
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return None


def confirm_page(request: HttpRequest, *, question: str, consequence: str, button: str,
                 change: Callable[[dict], T], done: Callable[[T], str], then: str, back: str,
                 form: forms.Form | None = None, items: list | None = None) -> HttpResponse:
    """A change that asks first: GET asks the `question` (saying the
    `consequence`, listing `items` if given, with the fields of `form`); a
    POST with the form valid makes `change(cleaned data)` and goes to `then`,
    or `back` if the domain refuses; a safe `next` parameter wins over both."""
    if request.method == "POST" and (form is None or form.is_valid()):
        values = form.cleaned_data if form is not None else {}
        if run_service(request, lambda: change(values), success=done):
            return redirect(safe_next(request) or then)
        return redirect(safe_next(request) or back)
    return render(request, "dashboard/confirm_delete.html", {
        "question": question, "consequence": consequence, "button": button, "form": form,
        "items": items, "next": safe_next(request), "cancel_url": safe_next(request) or back})


def confirm_view(*, action: str, get: Callable[..., Model], question: Callable[[Model], str],
                 consequence: Callable[[Model], str], button: str,
                 change: Callable[[Actor, Model, dict], object], done: Callable[[Model], str],
                 then: Callable[[Model], str], back: Callable[[Model], str],
                 form_class: type[forms.Form] | None = None) -> View:
    """confirm_page for one object: `change(actor, obj, cleaned data of form_class)`."""

    @require_http_methods(["GET", "POST"])
    @dashboard_view(action)
    def confirm(request: HttpRequest, uuid: str) -> HttpResponse:
        obj = get(uuid=uuid)
        return confirm_page(
            request, question=question(obj), consequence=consequence(obj), button=button,
            change=lambda values: change(request.user, obj, values),
            done=lambda _: done(obj), then=then(obj), back=back(obj),
            form=form_class(request.POST or None) if form_class else None)
    return confirm


def delete_view(resource: Resource, *, consequence: Callable[[Model], str],
                deleted: Callable[[Model], str], then: Callable[[Model], str]) -> View:
    """Delete the object, asking first (confirm_view)."""
    return confirm_view(
        action=f"{resource.noun}_delete", get=resource.get,
        question=lambda obj: f"Delete {resource.noun} {obj.name}?", consequence=consequence,
        button=f"Delete {resource.noun}",
        change=lambda actor, obj, _: resource.delete(actor, obj), done=deleted, then=then,
        back=resource.detail)
