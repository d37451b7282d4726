"""The dashboard's generic views, one per kind of change (create, edit, toggle,
delete), as NetBox's ObjectEditView and ObjectDeleteView: a resource's pages
are these views given its selector, domain services, form and words.

Every view is for a logged-in user the policy allows (`dashboard_view`), and a
domain refusal (MasakariError) becomes a message on the page, never an error page.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dashboard import permissions
from dashboard.forms import ApiValidatedForm
from masakari_site.changelog import Actor
from masakari_site.exceptions import MasakariError, NotFound

View = Callable[..., HttpResponse]


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
                return view(request, *args, **kwargs)
            except NotFound as exc:
                raise Http404(exc.message) from None
        return wrapper
    return decorate


def run_service(request: HttpRequest, call: Callable[[], object], *, success: str) -> bool:
    """Make one change; `success`, or the domain's refusal, is the next page's message."""
    try:
        call()
    except MasakariError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


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


def _form_page(request: HttpRequest, resource: Resource, form: ApiValidatedForm, *,
               save: Callable[[], Model], saved: Callable[[Model], str],
               page: Callable[[], dict]) -> HttpResponse:
    """A POSTed valid form is saved and leads to the object's page; the form
    again otherwise, with the domain's refusal above the fields."""
    if request.method == "POST" and form.is_valid():
        try:
            obj = save()
        except MasakariError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, saved(obj))
            return redirect(resource.detail(obj))
    return render(request, "dashboard/form.html", {"form": form, **page()})


def create_view(resource: Resource, *, form_class: type[ApiValidatedForm],
                created: Callable[[Model], str], submit: str,
                initial: Callable[[HttpRequest], dict] | None = None) -> View:
    """The "New <noun>" form; `form_class.fields_for_service()` are the create
    service's arguments."""

    @require_http_methods(["GET", "POST"])
    @dashboard_view(f"{resource.noun}_create")
    def create(request: HttpRequest) -> HttpResponse:
        form = form_class(request.POST or None, initial=initial(request) if initial else None)
        return _form_page(
            request, resource, form,
            save=lambda: resource.create(request.user, form.fields_for_service()),
            saved=created,
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
        return _form_page(
            request, resource, form,
            save=lambda: resource.update(request.user, obj, form.changes_for_service()),
            saved=lambda saved: f"{resource.noun.capitalize()} {saved.name} saved.",
            page=lambda: {"title": f"Edit {resource.noun} {obj.name}", "submit": "Save",
                          "cancel_url": resource.detail(obj)})
    return edit


def toggle_view(resource: Resource, *, field: str, done: Callable[[Model, bool], str]) -> View:
    """A button that sets one boolean `field` to the POSTed "true" or "false"."""

    @require_POST
    @dashboard_view(f"{resource.noun}_update")
    def toggle(request: HttpRequest, uuid: str) -> HttpResponse:
        obj = resource.get(uuid=uuid)
        value = request.POST.get(field) == "true"
        run_service(request, lambda: resource.update(request.user, obj, {field: value}),
                    success=done(obj, value))
        return redirect(resource.detail(obj))
    return toggle


def delete_view(resource: Resource, *, consequence: Callable[[Model], str],
                deleted: Callable[[Model], str], then: Callable[[Model], str]) -> View:
    """GET asks first (saying the `consequence`); POST deletes and goes to `then(obj)`,
    or back to the object's page if the domain refuses."""

    @require_http_methods(["GET", "POST"])
    @dashboard_view(f"{resource.noun}_delete")
    def delete(request: HttpRequest, uuid: str) -> HttpResponse:
        obj = resource.get(uuid=uuid)
        if request.method == "POST":
            if run_service(request, lambda: resource.delete(request.user, obj),
                           success=deleted(obj)):
                return redirect(then(obj))
            return redirect(resource.detail(obj))
        return render(request, "dashboard/confirm_delete.html", {
            "object": obj, "what": resource.noun, "consequence": consequence(obj),
            "cancel_url": resource.detail(obj)})
    return delete
