"""The v1 API tests every resource shares, as a declaration (NetBox's APIViewTestCases).

A resource's tests subclass `ApiViewTestCase` and say what the resource is
(the class attributes and the `create_body` and `make` hooks below; see
`TestHostApi` in hosts/tests/test_api.py, `TestVMoveApi` in
notifications/tests/test_api.py), and get: create = show = list item; show = list item; unknown and
malformed uuids are an itemNotFound fault (of the row, and of the parent the
list hangs off); deleted rows and another parent's rows are neither listed
nor shown; limit + marker walk every row once, newest first; an empty marker
is none; a marker naming no live row is a 400; each filter keeps the matching
row and drops the other; a bad filter value is a 400 naming the parameter; a
list costs the same queries at two sizes and a marker one more.

A test that does not apply (create of a read-only resource, parents of a
top-level one) is not collected.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from testing import fault

MISSING_UUIDS = ["00000000-0000-0000-0000-000000000000", "not-a-uuid"]
MISSING_ID = 2**31 - 1


def queries_for(api, path: str) -> int:
    """How many queries answering GET `path` took (it must answer 200)."""
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(captured)


class ApiViewTestCase:
    collection: str  # the list body's key: "hosts"
    member: str  # the show and create bodies' key: "host"
    list_url: str  # "/v1/segments/{parent}/hosts": {parent} is the parent's uuid
    uuid_field = "uuid"  # the row's uuid, in the model and the representation
    factory = None  # a factory_boy factory of the resource's rows
    parent_factory = None  # makes the row the list hangs off (None: a top-level list)
    parent_field = ""  # the factory keyword that puts a row under the parent
    parent_uuid_field = "uuid"
    version: str | None = None  # the microversion every request asks for
    create_status = 201
    create_expected: dict = {}  # fields (a subset) the created representation has
    # (query parameter, value, factory kwargs of a matching row, of one that does not match)
    filters: list[tuple[str, str, dict, dict]] = []
    bad_filters: list[tuple[str, str]] = []  # (query parameter, a value refused with 400)
    # (query parameter, a value upstream accepts and that names nothing: an empty list)
    unknown_filters: list[tuple[str, str]] = []
    # None: read-only. A resource with create defines `def create_body(self) -> dict`,
    # the POST body, making first any row it needs (a notification's host).
    create_body = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A test that does not apply to the resource is not collected (None is no test).
        if cls.create_body is None:
            cls.test_create_equals_show_and_list = None
        if cls.parent_factory is None:
            cls.test_unknown_parent_is_404 = None
            cls.test_rows_of_another_parent_are_neither_listed_nor_shown = None
        if not cls.filters:
            cls.test_filter = None
        if not cls.bad_filters:
            cls.test_bad_filter_value_is_400 = None
        if not cls.unknown_filters:
            cls.test_unknown_filter_value_lists_nothing = None

    def pytest_generate_tests(self, metafunc):
        if "filter_case" in metafunc.fixturenames:
            metafunc.parametrize("filter_case", self.filters,
                                 ids=[f"{param}={value}" for param, value, *_ in self.filters])
        if "bad_filter" in metafunc.fixturenames:
            metafunc.parametrize("bad_filter", self.bad_filters,
                                 ids=[f"{param}={value}" for param, value in self.bad_filters])
        if "unknown_filter" in metafunc.fixturenames:
            metafunc.parametrize("unknown_filter", self.unknown_filters,
                                 ids=[f"{param}={value}" for param, value in self.unknown_filters])

    @pytest.fixture(autouse=True)
    def _resource(self, api):
        self.api = api.at(self.version) if self.version else api
        self.parent = self.parent_factory() if self.parent_factory else None

    # Hooks

    def make(self, **fields):
        """A row of the resource, under the parent."""
        if self.parent is not None:
            fields.setdefault(self.parent_field, self.parent)
        return self.factory(**fields)

    def url(self, query: str = "", *, parent: str | None = None) -> str:
        if parent is None and self.parent is not None:
            parent = str(getattr(self.parent, self.parent_uuid_field))
        url = self.list_url.format(parent=parent)
        return f"{url}?{query}" if query else url

    def detail_url(self, uuid) -> str:
        return f"{self.url()}/{uuid}"

    def listed(self, query: str = "") -> list[dict]:
        response = self.api.get(self.url(query))
        assert response.status_code == 200, response.content
        return response.json()[self.collection]

    def listed_ids(self, query: str = "") -> list[int]:
        return [item["id"] for item in self.listed(query)]

    def shown(self, uuid) -> dict:
        response = self.api.get(self.detail_url(uuid))
        assert response.status_code == 200, response.content
        return response.json()[self.member]

    def assert_only_row_seen(self, row, *, hidden) -> None:
        """The list holds `row` alone, and showing `hidden` is an itemNotFound fault."""
        assert self.listed_ids() == [row.pk]
        response = self.api.get(self.detail_url(getattr(hidden, self.uuid_field)))
        assert fault(response)[:2] == ("itemNotFound", 404)

    # Tests

    def test_create_equals_show_and_list(self, enqueued):
        response = self.api.post(self.url(), self.create_body())
        assert response.status_code == self.create_status, response.content
        created = response.json()[self.member]
        assert self.create_expected.items() <= created.items(), created
        assert self.shown(created[self.uuid_field]) == created
        assert self.listed() == [created]

    def test_show_equals_list_item(self):
        row = self.make()
        (item,) = self.listed()
        assert item["id"] == row.pk
        assert item[self.uuid_field] == str(getattr(row, self.uuid_field))
        assert self.shown(item[self.uuid_field]) == item

    @pytest.mark.parametrize("uuid", MISSING_UUIDS)
    def test_unknown_is_404(self, uuid):
        self.make()
        name, _, message = fault(self.api.get(self.detail_url(uuid)))
        assert name == "itemNotFound" and uuid in message

    @pytest.mark.parametrize("uuid", MISSING_UUIDS)
    def test_unknown_parent_is_404(self, uuid):
        self.make()
        response = self.api.get(self.url(parent=uuid))
        assert fault(response)[:2] == ("itemNotFound", 404)

    def test_rows_of_another_parent_are_neither_listed_nor_shown(self):
        row = self.make()
        self.assert_only_row_seen(row, hidden=self.make(
            **{self.parent_field: self.parent_factory()}))

    def test_deleted_rows_are_neither_listed_nor_shown(self):
        gone, here = self.make(), self.make()
        gone.soft_delete()
        self.assert_only_row_seen(here, hidden=gone)

    def test_limit_and_marker_walk_every_row_once_newest_first(self):
        rows = [self.make() for _ in range(5)]
        walked, marker = [], ""
        for _ in range(len(rows) + 1):
            page = self.listed_ids(f"limit=2&marker={marker}")
            if not page:
                break
            assert len(page) <= 2
            walked += page
            marker = page[-1]
        else:
            pytest.fail(f"still paging after {walked}")
        assert walked == [row.pk for row in reversed(rows)]

    def test_empty_marker_means_none(self):
        rows = [self.make() for _ in range(3)]
        assert self.listed_ids("marker=") == self.listed_ids() == [r.pk for r in reversed(rows)]

    @pytest.mark.parametrize("which", ["missing", "deleted"])
    def test_marker_naming_no_live_row_is_400(self, which):
        row = self.make()
        marker = MISSING_ID
        if which == "deleted":
            row.soft_delete()
            marker = row.pk
        name, _, message = fault(self.api.get(self.url(f"marker={marker}")))
        assert name == "badRequest" and f"Marker {marker}" in message

    def test_filter(self, filter_case):
        param, value, matching, other = filter_case
        match, miss = self.make(**matching), self.make(**other)
        assert sorted(self.listed_ids()) == sorted([match.pk, miss.pk])
        assert self.listed_ids(f"{param}={value}") == [match.pk]

    def test_bad_filter_value_is_400(self, bad_filter):
        param, value = bad_filter
        self.make()
        name, _, message = fault(self.api.get(self.url(f"{param}={value}")))
        assert name == "badRequest" and param in message

    def test_unknown_filter_value_lists_nothing(self, unknown_filter):
        """As upstream (Horizon keeps a filter for the session: a 400 breaks its panel)."""
        param, value = unknown_filter
        self.make()
        assert self.listed_ids() and self.listed_ids(f"{param}={value}") == []

    def test_list_queries_do_not_grow_with_the_rows(self):
        for _ in range(2):
            self.make()
        small = queries_for(self.api, self.url())
        for _ in range(20):
            self.make()
        assert queries_for(self.api, self.url()) == small
        marker = self.listed_ids("limit=5")[-1]
        assert queries_for(self.api, self.url(f"limit=5&marker={marker}")) == small + 1
