"""The `openstack segment …` / `openstack notification …` CLI against a live server.

python-masakariclient's OSC plugin, as operators run it: default
microversion 1.3, booleans sent as the strings "True"/"False", every list
paged by openstacksdk with the integer `id` of the last row as marker.
"""

import json
import uuid

import pytest

from masakari_site.tests.clients.harness import (
    PROJECT_CLOUD,
    given_host,
    given_notification,
    given_segment,
    insert_vmoves,
    unique,
)

pytestmark = pytest.mark.clients

PROCESS_DOWN = {"event": "STOPPED", "process_name": "nova-compute"}
HOST_DOWN = {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}


def create_segment(clients, name: str | None = None, *options: str,
                   recovery_method: str = "auto", service_type: str = "COMPUTE") -> dict:
    name = name or unique("cli-segment")
    return clients.openstack("segment", "create", name, recovery_method, service_type, *options)


def create_host(clients, segment: dict, name: str | None = None, *options: str) -> dict:
    name = name or unique("cli-host")
    return clients.openstack("segment", "host", "create", name, "COMPUTE", "SSH",
                             segment["uuid"], *options)


def segment_names(clients, *options: str) -> list[str]:
    return [row["name"] for row in clients.openstack("segment", "list", *options)]


# --- segments ---------------------------------------------------------------

def test_segment_create_show_update_delete(clients):
    name = unique("cli-segment")
    created = create_segment(clients, name, "--description", "rack 1", "--is_enabled", "False",
                             recovery_method="reserved_host")

    assert created["name"] == name
    assert created["recovery_method"] == "reserved_host"
    assert created["service_type"] == "COMPUTE"
    assert created["description"] == "rack 1"
    assert created["is_enabled"] is False
    assert isinstance(created["id"], int)
    assert created["updated_at"] is None
    assert clients.openstack("segment", "show", created["uuid"]) == created
    assert clients.openstack("segment", "show", name) == created
    listed = [row for row in clients.openstack("segment", "list") if row["uuid"] == created["uuid"]]
    assert listed == [{key: created[key] for key in
                       ("uuid", "name", "description", "service_type", "recovery_method",
                        "is_enabled")}]

    new_name = unique("cli-renamed")
    updated = clients.openstack("segment", "update", name, "--name", new_name,
                                "--recovery_method", "auto_priority", "--description", "rack 2",
                                "--is_enabled", "True")

    assert updated["uuid"] == created["uuid"]
    assert updated["name"] == new_name
    assert updated["recovery_method"] == "auto_priority"
    assert updated["description"] == "rack 2"
    assert updated["is_enabled"] is True
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] is not None
    assert clients.openstack("segment", "show", created["uuid"]) == updated

    # `segment delete` prints an error and still exits 0: check by listing.
    output = clients.run_openstack("segment", "delete", created["uuid"]).stdout
    assert output.strip() == f"Segment deleted: {created['uuid']}"
    assert new_name not in segment_names(clients)
    assert "No Segment found" in clients.openstack_error("segment", "update", created["uuid"],
                                                        "--description", "gone")


def test_segment_duplicate_name_is_a_conflict(clients):
    segment = given_segment(clients)

    error = clients.openstack_error("segment", "create", segment["name"], "auto", "COMPUTE")

    assert "ConflictException: 409" in error


def test_segment_enabled_column_comes_with_1_2(clients):
    segment = create_segment(clients)

    at_1_0 = clients.openstack("segment", "show", segment["uuid"], api_version="1.0")
    listed_at_1_1 = clients.openstack("segment", "list", api_version="1.1")

    assert {**at_1_0, "is_enabled": True} == segment
    (row,) = [row for row in listed_at_1_1 if row["uuid"] == segment["uuid"]]
    assert "is_enabled" not in row


def test_segment_list_filters_sort_limit_and_marker(clients):
    service_type = unique("CLI-LIST")
    names = sorted(unique(f"cli-list-{letter}") for letter in "abcd")
    methods = ["auto", "reserved_host", "auto", "rh_priority"]
    ids = {name: given_segment(clients, name=name, recovery_method=method,
                               service_type=service_type)["id"]
           for name, method in zip(names, methods, strict=True)}
    ours = f"service_type={service_type}"

    assert segment_names(clients, "--filters", ours, "--sort", "name:asc") == names
    assert segment_names(clients, "--filters", ours, "--sort", "name:desc") == names[::-1]
    assert segment_names(clients, "--filters", f"{ours};recovery_method=auto",
                         "--sort", "name:asc") == [names[0], names[2]]
    assert segment_names(clients, "--filters", ours, "--filters", "recovery_method=auto",
                         "--sort", "name") == [names[2], names[0]]
    # --limit is the page size: openstacksdk follows the pages to the end.
    assert segment_names(clients, "--filters", ours, "--sort", "name:asc",
                         "--limit", "1") == names
    assert segment_names(clients, "--filters", ours, "--sort", "name:asc",
                         "--marker", str(ids[names[1]])) == names[2:]
    assert segment_names(clients, "--filters", ours, "--sort", "name:desc", "--limit", "1",
                         "--marker", str(ids[names[2]])) == [names[1], names[0]]


def test_segment_list_unknown_marker_is_a_bad_request(clients):
    error = clients.openstack_error("segment", "list", "--marker", "987654321")

    assert "BadRequestException: 400" in error


# --- hosts ------------------------------------------------------------------

def test_host_create_show_update_delete(clients):
    segment = given_segment(clients)
    name = unique("cli-host")

    created = create_host(clients, segment, name, "--reserved", "True",
                          "--on_maintenance", "False")

    assert created["name"] == name
    assert created["type"] == "COMPUTE"
    assert created["control_attributes"] == "SSH"
    assert created["reserved"] is True
    assert created["on_maintenance"] is False
    assert created["failover_segment_id"] == segment["uuid"]
    assert created["updated_at"] is None
    assert clients.openstack("segment", "host", "show", segment["uuid"], created["uuid"]) == created
    assert clients.openstack("segment", "host", "show", segment["name"], name) == created
    assert clients.openstack("segment", "host", "list", segment["name"]) == [
        {key: created[key] for key in ("uuid", "name", "type", "control_attributes", "reserved",
                                       "on_maintenance", "failover_segment_id")}
    ]

    new_name = unique("cli-host-renamed")
    updated = clients.openstack("segment", "host", "update", segment["uuid"], name,
                                "--reserved", "False", "--on_maintenance", "True",
                                "--name", new_name, "--type", "CONTROLLER",
                                "--control_attributes", "IPMI")

    assert updated["uuid"] == created["uuid"]
    assert (updated["name"], updated["type"], updated["control_attributes"]) == (
        new_name, "CONTROLLER", "IPMI")
    assert (updated["reserved"], updated["on_maintenance"]) == (False, True)
    assert updated["updated_at"] is not None
    assert clients.openstack("segment", "host", "show", segment["uuid"],
                             created["uuid"]) == updated

    output = clients.run_openstack("segment", "host", "delete", segment["uuid"],
                                   created["uuid"]).stdout
    assert output.strip() == f"Host deleted: {created['uuid']}"
    assert clients.openstack("segment", "host", "list", segment["uuid"]) == []
    assert "NotFoundException: 404" in clients.openstack_error(
        "segment", "host", "delete", segment["uuid"], created["uuid"])


def test_host_duplicate_name_is_a_conflict(clients):
    host = given_host(clients, given_segment(clients))
    other_segment = given_segment(clients)

    error = clients.openstack_error("segment", "host", "create", host["name"], "COMPUTE", "SSH",
                                    other_segment["uuid"])

    assert "ConflictException: 409" in error


def test_deleting_a_segment_removes_its_hosts(clients):
    segment = given_segment(clients)
    host = given_host(clients, segment)

    clients.run_openstack("segment", "delete", segment["uuid"])

    assert clients.http("GET", f"/segments/{segment['uuid']}").status_code == 404
    assert clients.http("GET", f"/segments/{segment['uuid']}/hosts/{host['uuid']}"
                        ).status_code == 404
    # The name is free again.
    given_host(clients, given_segment(clients), name=host["name"])


def test_host_list_filters_sort_limit_and_marker(clients):
    segment = given_segment(clients)
    names = sorted(unique(f"cli-hosts-{letter}") for letter in "abcd")
    flags = [(True, False), (False, True), (False, False), (True, True)]
    ids = {name: given_host(clients, segment, name=name, reserved=reserved,
                            on_maintenance=on_maintenance)["id"]
           for name, (reserved, on_maintenance) in zip(names, flags, strict=True)}

    def host_names(*options):
        rows = clients.openstack("segment", "host", "list", segment["uuid"], *options)
        return [row["name"] for row in rows]

    assert host_names("--sort", "name:asc") == names
    assert host_names("--sort", "name:desc") == names[::-1]
    assert host_names("--filters", "reserved=True", "--sort", "name:asc") == [names[0], names[3]]
    assert host_names("--filters", "on_maintenance=False;reserved=False") == [names[2]]
    assert host_names("--filters", "on_maintenance=True", "--sort", "name:asc") == [names[1],
                                                                                     names[3]]
    assert host_names("--filters", f"failover_segment_id={segment['uuid']};type=COMPUTE",
                      "--sort", "name:asc") == names
    assert host_names("--filters", "type=STORAGE") == []
    assert host_names("--limit", "1", "--sort", "name:asc") == names
    # The CLI never shows a host's id: the markers come from the API.
    assert host_names("--sort", "name:asc", "--marker", str(ids[names[0]])) == names[1:]
    assert host_names("--sort", "name:desc", "--limit", "1",
                      "--marker", str(ids[names[2]])) == [names[1], names[0]]


# --- notifications ----------------------------------------------------------

@pytest.mark.parametrize("api_version", ["1.0", "1.3"])
def test_notification_create_show_list(clients, api_version):
    host = given_host(clients, given_segment(clients))

    created = clients.openstack("notification", "create", "PROCESS", host["name"],
                                "2026-01-02T03:04:05", json.dumps(PROCESS_DOWN),
                                api_version=api_version)

    assert created["type"] == "PROCESS"
    assert created["status"] == "new"
    assert created["source_host_uuid"] == host["uuid"]
    assert created["generated_time"] == "2026-01-02T03:04:05.000000"
    assert created["payload"] == PROCESS_DOWN
    assert created["updated_at"] is None
    if api_version == "1.0":
        assert "recovery_workflow_details" not in created
    else:
        assert created["recovery_workflow_details"] == []
    assert clients.openstack("notification", "show", created["notification_uuid"],
                             api_version=api_version) == created
    listed = clients.openstack("notification", "list", "--filters",
                               f"source_host_uuid={host['uuid']}", api_version=api_version)
    assert listed == [{key: created[key] for key in
                       ("notification_uuid", "generated_time", "status", "type",
                        "source_host_uuid", "payload")}]


@pytest.mark.parametrize(("sent", "stored"), [
    ("2016-01-01T01:00:00.000", "2016-01-01T01:00:00.000000"),  # the CLI's help example
    ("2026-01-02T05:04:05+02:00", "2026-01-02T03:04:05.000000"),
])
def test_notification_generated_time_is_stored_as_naive_utc(clients, sent, stored):
    host = given_host(clients, given_segment(clients))

    created = clients.openstack("notification", "create", "PROCESS", host["name"], sent,
                                json.dumps(PROCESS_DOWN))

    assert created["generated_time"] == stored


def test_notification_for_an_unknown_host_is_a_bad_request(clients):
    error = clients.openstack_error("notification", "create", "PROCESS", unique("no-such-host"),
                                    "2026-01-02T03:04:05", json.dumps(PROCESS_DOWN))

    assert "BadRequestException: 400" in error


def test_notification_from_a_host_on_maintenance_is_a_conflict(clients):
    host = given_host(clients, given_segment(clients), on_maintenance=True)

    error = clients.openstack_error("notification", "create", "COMPUTE_HOST", host["name"],
                                    "2026-01-02T03:04:05", json.dumps(HOST_DOWN))

    assert "ConflictException: 409" in error


def test_duplicate_notification_is_a_conflict(clients):
    host = given_host(clients, given_segment(clients))
    given_notification(clients, "PROCESS", host, "2026-01-02T03:04:05", PROCESS_DOWN)

    error = clients.openstack_error("notification", "create", "PROCESS", host["name"],
                                    "2026-01-02T03:04:06", json.dumps(PROCESS_DOWN))

    assert "ConflictException: 409" in error


def test_notification_list_filters_sort_limit_and_marker(clients):
    host = given_host(clients, given_segment(clients))
    sent = [
        ("PROCESS", "2026-03-01T00:00:00", {"event": "STOPPED", "process_name": "a"}),
        ("VM", "2026-03-02T00:00:00", {"event": "LIFECYCLE", "instance_uuid": str(uuid.uuid4()),
                                       "vir_domain_event": "STOPPED_FAILED"}),
        ("PROCESS", "2026-03-03T00:00:00", {"event": "STOPPED", "process_name": "b"}),
    ]
    created = [given_notification(clients, kind, host, when, payload)
               for kind, when, payload in sent]
    ours = f"source_host_uuid={host['uuid']}"

    def listed(*options):
        rows = clients.openstack("notification", "list", "--filters", ours, *options)
        return [row["notification_uuid"] for row in rows]

    uuids = [row["notification_uuid"] for row in created]
    newest_first = uuids[::-1]
    assert listed() == newest_first
    assert listed("--sort", "created_at:asc") == uuids
    assert listed("--filters", "type=PROCESS", "--sort", "created_at:asc") == [uuids[0], uuids[2]]
    assert listed("--filters", "type=VM") == [uuids[1]]
    assert listed("--filters", "status=new", "--limit", "1") == newest_first
    assert listed("--filters", "status=finished") == []
    assert listed("--sort", "type:desc,created_at:asc") == [uuids[1], uuids[0], uuids[2]]
    assert listed("--marker", str(created[2]["id"])) == [uuids[1], uuids[0]]
    assert listed("--filters", "generated-since=2026-03-02T00:00:00",
                  "--sort", "created_at:asc") == uuids[1:]


# --- vmoves -----------------------------------------------------------------

def test_notification_vmove_list_and_show(clients):
    host = given_host(clients, given_segment(clients))
    notification = given_notification(clients, "COMPUTE_HOST", host, "2026-01-02T03:04:05",
                                      HOST_DOWN)
    rows = [
        {"instance_name": "vm-1", "type": "evacuation", "status": "succeeded",
         "dest_host": "compute-9", "start_time": "2026-01-02T03:05:00+00:00",
         "end_time": "2026-01-02T03:06:00+00:00"},
        {"instance_name": "vm-2", "type": "evacuation", "status": "failed",
         "dest_host": None, "start_time": "2026-01-02T03:05:01+00:00",
         "message": "no valid host"},
        {"instance_name": "vm-3", "type": "evacuation", "status": "pending"},
    ]
    for row in rows:
        row.update(instance_uuid=str(uuid.uuid4()), source_host=host["name"])
    vmove_uuids = insert_vmoves(clients.service, notification["notification_uuid"], rows)

    listed = clients.openstack("notification", "vmove", "list", notification["notification_uuid"])

    assert sorted(row["server_name"] for row in listed) == ["vm-1", "vm-2", "vm-3"]
    (first,) = [row for row in listed if row["server_name"] == "vm-1"]
    assert first == {
        "uuid": vmove_uuids[0], "server_id": rows[0]["instance_uuid"], "server_name": "vm-1",
        "source_host": host["name"], "dest_host": "compute-9",
        "start_time": "2026-01-02T03:05:00.000000", "end_time": "2026-01-02T03:06:00.000000",
        "type": "evacuation", "status": "succeeded",
    }
    shown = clients.openstack("notification", "vmove", "show", notification["notification_uuid"],
                              vmove_uuids[1])
    assert shown["server_name"] == "vm-2"
    assert shown["status"] == "failed"
    assert shown["dest_host"] is None
    assert shown["end_time"] is None
    assert shown["message"] == "no valid host"
    assert shown["created_at"] is not None


def test_notification_vmove_list_filters_sort_limit(clients):
    host = given_host(clients, given_segment(clients))
    notification = given_notification(clients, "COMPUTE_HOST", host, "2026-01-02T03:04:05",
                                      HOST_DOWN)
    statuses = ["succeeded", "failed", "succeeded", "ignored"]
    rows = [{"instance_uuid": str(uuid.uuid4()), "instance_name": f"vm-{index}",
             "source_host": host["name"], "type": "evacuation", "status": status,
             "start_time": f"2026-01-02T03:0{index}:00+00:00"}
            for index, status in enumerate(statuses)]
    insert_vmoves(clients.service, notification["notification_uuid"], rows)

    def vm_names(*options):
        listed = clients.openstack("notification", "vmove", "list",
                                   notification["notification_uuid"], *options)
        return [row["server_name"] for row in listed]

    assert vm_names("--sort", "start_time:asc") == ["vm-0", "vm-1", "vm-2", "vm-3"]
    assert vm_names("--sort", "start_time:desc", "--limit", "1") == [
        "vm-3", "vm-2", "vm-1", "vm-0"]
    assert vm_names("--filters", "status=succeeded", "--sort", "start_time:asc") == [
        "vm-0", "vm-2"]
    assert vm_names("--filters", "type=evacuation;status=ignored") == ["vm-3"]
    assert vm_names("--filters", "type=live_migration") == []


def test_vmoves_exist_only_for_compute_host_notifications(clients):
    host = given_host(clients, given_segment(clients))
    notification = given_notification(clients, "PROCESS", host, "2026-01-02T03:04:05",
                                      PROCESS_DOWN)

    error = clients.openstack_error("notification", "vmove", "list",
                                    notification["notification_uuid"])

    assert "BadRequestException: 400" in error


def test_vmoves_need_microversion_1_3(clients):
    host = given_host(clients, given_segment(clients))
    notification = given_notification(clients, "COMPUTE_HOST", host, "2026-01-02T03:04:05",
                                      HOST_DOWN)

    error = clients.openstack_error("notification", "vmove", "list",
                                    notification["notification_uuid"], api_version="1.2")

    assert "NotFoundException: 404" in error


# --- lookups that fail ------------------------------------------------------

def test_unknown_notification_is_not_found(clients):
    error = clients.openstack_error("notification", "show", str(uuid.uuid4()))

    assert "Notification not found" in error


def test_renaming_a_segment_to_a_taken_name_is_a_conflict(clients):
    taken = given_segment(clients)
    segment = given_segment(clients)

    error = clients.openstack_error("segment", "update", segment["uuid"], "--name", taken["name"])

    assert "ConflictException: 409" in error


def test_bad_list_parameters_are_bad_requests(clients):
    assert "BadRequestException: 400" in clients.openstack_error(
        "segment", "list", "--sort", "no_such_key:asc")
    assert "BadRequestException: 400" in clients.openstack_error(
        "segment", "list", "--filters", "enabled=maybe")


# --- other ways to configure the CLI ----------------------------------------

def test_endpoint_with_a_project_id_in_the_path(clients):
    cloud = ("--os-cloud", PROJECT_CLOUD)
    segment = clients.openstack(*cloud, "segment", "create", unique("cli-project"), "auto",
                                "COMPUTE")
    host = clients.openstack(*cloud, "segment", "host", "create", unique("cli-project"),
                             "COMPUTE", "SSH", segment["name"])

    notification = clients.openstack(*cloud, "notification", "create", "PROCESS", host["name"],
                                     "2026-01-02T03:04:05", json.dumps(PROCESS_DOWN))

    assert notification["source_host_uuid"] == host["uuid"]
    assert clients.openstack(*cloud, "segment", "host", "list", segment["uuid"],
                             "--limit", "1")[0]["uuid"] == host["uuid"]
    # The same rows through the endpoint without a project id.
    assert clients.http("GET", f"/segments/{segment['uuid']}/hosts/{host['uuid']}"
                        ).status_code == 200

def test_cli_flags_alone_reach_the_server(clients):
    segment = given_segment(clients)
    env = {key: value for key, value in clients.env.items()
           if key not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}

    result = clients.run_openstack(
        "--os-auth-type", "none", "--os-endpoint", clients.api,
        "segment", "show", segment["uuid"], "-f", "json", env=env,
    )

    shown = json.loads(result.stdout)
    assert (shown["id"], shown["name"], shown["is_enabled"]) == (segment["id"], segment["name"],
                                                                 segment["enabled"])
