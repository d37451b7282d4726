"""openstacksdk's `conn.instance_ha` proxy against a live server.

Every other Python client (the CLI plugin, the monitors, Horizon's plugin)
goes through these calls. Each test runs one script in the clients' venv and
checks what it hands back.
"""

import uuid

import pytest

from masakari_site.tests.clients.harness import PROJECT_CLOUD, PROJECT_ID, insert_vmoves, unique

pytestmark = pytest.mark.clients

SEGMENT_FIELDS = ("id", "uuid", "name", "description", "recovery_method", "service_type",
                  "is_enabled", "created_at", "updated_at")


# --- pagination -------------------------------------------------------------

def test_segments_page_by_limit_until_the_end(clients):
    service_type = unique("SDK-PAGES")

    result = clients.sdk("""
        created = [ha.create_segment(name=f"{params['service_type']}-{index}",
                                     recovery_method="auto",
                                     service_type=params["service_type"])
                   for index in range(7)]
        ours = list(ha.segments(limit=2, service_type=params["service_type"]))
        everything = list(ha.segments(limit=3))
        in_one_page = list(ha.segments(limit=1000))
        emit({
            "created": [segment.id for segment in created],
            "ours": [segment.id for segment in ours],
            "everything": [segment.id for segment in everything],
            "in_one_page": [segment.id for segment in in_one_page],
        })
    """, service_type=service_type)

    # Newest first (created_at desc, then id desc), each row exactly once.
    assert result["ours"] == result["created"][::-1]
    assert result["everything"] == result["in_one_page"]
    assert len(set(result["everything"])) == len(result["everything"])
    assert set(result["created"]) <= set(result["everything"])


def test_paging_through_an_endpoint_with_a_project_id(clients):
    service_type = unique("SDK-PROJECT")

    result = clients.sdk("""
        created = [ha.create_segment(name=f"{params['service_type']}-{index}",
                                     recovery_method="auto",
                                     service_type=params["service_type"])
                   for index in range(3)]
        emit({
            "endpoint": ha.get_endpoint(),
            "created": [segment.id for segment in created],
            "paged": [segment.id for segment in
                      ha.segments(limit=1, service_type=params["service_type"])],
        })
    """, cloud=PROJECT_CLOUD, service_type=service_type)

    assert result["endpoint"].endswith(f"/v1/{PROJECT_ID}")
    assert result["paged"] == result["created"][::-1]


def test_hosts_notifications_and_vmoves_page_by_limit(clients):
    result = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        hosts = [ha.create_host(segment_id=segment.uuid, name=f"{params['name']}-{index}",
                                type="COMPUTE", control_attributes="SSH")
                 for index in range(5)]
        notifications = [
            ha.create_notification(type="PROCESS", hostname=hosts[0].name,
                                   generated_time=f"2026-02-0{index + 1}T00:00:00",
                                   payload={"event": "STOPPED", "process_name": f"p{index}"})
            for index in range(5)
        ]
        emit({
            "segment": segment.uuid,
            "host_uuid": hosts[0].uuid,
            "created_hosts": [host.id for host in hosts],
            "paged_hosts": [host.id for host in ha.hosts(segment.uuid, limit=2)],
            "created_notifications": [notification.id for notification in notifications],
            "paged_notifications": [
                notification.id for notification in
                ha.notifications(limit=2, source_host_uuid=hosts[0].uuid)
            ],
        })
    """, name=unique("sdk-pages"))

    assert result["paged_hosts"] == result["created_hosts"][::-1]
    assert result["paged_notifications"] == result["created_notifications"][::-1]

    compute_host = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        host = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                              control_attributes="SSH")
        notification = ha.create_notification(
            type="COMPUTE_HOST", hostname=host.name, generated_time="2026-02-01T00:00:00",
            payload={"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"})
        emit({"notification_uuid": notification.notification_uuid, "host": host.name})
    """, name=unique("sdk-vmoves"))
    rows = [{"instance_uuid": str(uuid.uuid4()), "instance_name": f"vm-{index}",
             "source_host": compute_host["host"], "type": "evacuation", "status": "pending"}
            for index in range(5)]
    vmove_uuids = insert_vmoves(clients.service, compute_host["notification_uuid"], rows)

    # VMove declares no microversion: without 1.3 asked for, the server says 404.
    paged = clients.sdk("""
        emit([vmove.uuid for vmove in ha.vmoves(params["notification"], limit=2)])
    """, api_version="1.3", notification=compute_host["notification_uuid"])

    assert sorted(paged) == sorted(vmove_uuids)


# --- create, show and list agree -------------------------------------------

def test_segment_create_show_list_and_update_agree(clients):
    result = clients.sdk("""
        created = ha.create_segment(name=params["name"], description="first",
                                    recovery_method="rh_priority", service_type="COMPUTE",
                                    is_enabled=False)
        shown = ha.get_segment(created.uuid)
        (listed,) = [segment for segment in ha.segments() if segment.uuid == created.uuid]
        updated = ha.update_segment(created.uuid, description="second", is_enabled=True)
        shown_after_update = ha.get_segment(created.uuid)
        emit({
            "created": created.to_dict(computed=False),
            "shown": shown.to_dict(computed=False),
            "listed": listed.to_dict(computed=False),
            "updated": updated.to_dict(computed=False),
            "shown_after_update": shown_after_update.to_dict(computed=False),
        })
    """, name=unique("sdk-segment"))

    created = result["created"]
    for field in SEGMENT_FIELDS:
        assert result["shown"][field] == created[field], field
        assert result["listed"][field] == created[field], field
    assert (created["description"], created["recovery_method"], created["is_enabled"]) == (
        "first", "rh_priority", False)
    assert result["updated"] == result["shown_after_update"]
    assert (result["updated"]["description"], result["updated"]["is_enabled"]) == ("second", True)
    assert result["updated"]["updated_at"] is not None


def test_host_create_show_list_and_update_agree(clients):
    result = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        created = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                                 control_attributes="SSH", reserved="True",
                                 on_maintenance="False")
        shown = ha.get_host(created.uuid, segment.uuid)
        (listed,) = list(ha.hosts(segment.uuid))
        updated = ha.update_host(created.uuid, segment.uuid, on_maintenance="True",
                                 reserved=False)
        shown_after_update = ha.get_host(created.uuid, segment.uuid)
        emit({
            "segment": segment.uuid,
            "created": created.to_dict(computed=False),
            "shown": shown.to_dict(computed=False),
            "listed": listed.to_dict(computed=False),
            "updated": updated.to_dict(computed=False),
            "shown_after_update": shown_after_update.to_dict(computed=False),
        })
    """, name=unique("sdk-host"))

    created = result["created"]
    assert result["shown"] == created
    assert result["listed"] == created
    assert (created["reserved"], created["on_maintenance"]) == (True, False)
    assert created["failover_segment_id"] == result["segment"]
    assert isinstance(created["id"], int)
    assert result["updated"] == result["shown_after_update"]
    assert (result["updated"]["reserved"], result["updated"]["on_maintenance"]) == (False, True)


def test_notification_create_show_list_agree(clients):
    result = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        host = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                              control_attributes="SSH")
        created = ha.create_notification(
            type="VM", hostname=host.name, generated_time="2026-01-02T03:04:05Z",
            payload={"event": "LIFECYCLE", "instance_uuid": params["instance"],
                     "vir_domain_event": "STOPPED_FAILED"})
        shown = ha.get_notification(created.notification_uuid)
        (listed,) = list(ha.notifications(source_host_uuid=host.uuid))
        emit({
            "host": host.uuid,
            "created": created.to_dict(computed=False),
            "shown": shown.to_dict(computed=False),
            "listed": listed.to_dict(computed=False),
        })
    """, name=unique("sdk-notification"), instance=str(uuid.uuid4()))

    created = result["created"]
    assert result["shown"] == created
    assert result["listed"] == created
    assert created["type"] == "VM"
    assert created["status"] == "new"
    assert created["source_host_uuid"] == result["host"]
    assert created["generated_time"] == "2026-01-02T03:04:05.000000"
    assert created["payload"]["vir_domain_event"] == "STOPPED_FAILED"


def test_notification_progress_details_at_1_1(clients):
    result = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        host = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                              control_attributes="SSH")
        created = ha.create_notification(
            type="PROCESS", hostname=host.name, generated_time="2026-01-02T03:04:05",
            payload={"event": "STOPPED", "process_name": "nova-compute"})
        emit(ha.get_notification(created.notification_uuid).to_dict(computed=False))
    """, api_version="1.1", name=unique("sdk-progress"))

    assert result["recovery_workflow_details"] == []


def test_vmove_show_and_list_agree(clients):
    notification = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        host = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                              control_attributes="SSH")
        emit(ha.create_notification(
            type="COMPUTE_HOST", hostname=host.name, generated_time="2026-01-02T03:04:05",
            payload={"event": "STOPPED"}).notification_uuid)
    """, name=unique("sdk-vmove"))
    instance = str(uuid.uuid4())
    (vmove_uuid,) = insert_vmoves(clients.service, notification, [{
        "instance_uuid": instance, "instance_name": "vm-a", "source_host": "compute-1",
        "dest_host": "compute-2", "type": "live_migration", "status": "ongoing",
        "start_time": "2026-01-02T03:05:00+00:00",
    }])

    result = clients.sdk("""
        shown = ha.get_vmove(params["vmove"], params["notification"])
        (listed,) = list(ha.vmoves(params["notification"]))
        emit({"shown": shown.to_dict(computed=False), "listed": listed.to_dict(computed=False)})
    """, api_version="1.3", notification=notification, vmove=vmove_uuid)

    assert result["shown"] == result["listed"]
    assert {key: result["shown"][key] for key in (
        "uuid", "server_id", "server_name", "source_host", "dest_host",
        "type", "status", "start_time", "end_time")} == {
        "uuid": vmove_uuid, "server_id": instance,
        "server_name": "vm-a", "source_host": "compute-1", "dest_host": "compute-2",
        "type": "live_migration", "status": "ongoing",
        "start_time": "2026-01-02T03:05:00.000000", "end_time": None,
    }


# --- filters and sort -------------------------------------------------------

def test_segment_filters_and_sort(clients):
    service_type = unique("SDK-FILTERS")

    result = clients.sdk("""
        kind = params["service_type"]
        for name, method, enabled in [("c", "auto", True), ("a", "reserved_host", False),
                                      ("b", "auto", False)]:
            ha.create_segment(name=f"{kind}-{name}", recovery_method=method,
                              service_type=kind, is_enabled=enabled)
        def names(**query):
            return [segment.name.rpartition("-")[2]
                    for segment in ha.segments(service_type=kind, **query)]
        emit({
            "by_name": names(sort_key="name", sort_dir="asc"),
            "by_name_desc": names(sort_key="name", sort_dir="desc"),
            "auto": names(recovery_method="auto", sort_key="name", sort_dir="asc"),
            "disabled": names(is_enabled=False, sort_key="name", sort_dir="asc"),
            "enabled": names(is_enabled=True),
            "by_method_then_name": names(sort_key=["recovery_method", "name"],
                                         sort_dir=["desc", "asc"]),
        })
    """, service_type=service_type)

    assert result == {
        "by_name": ["a", "b", "c"],
        "by_name_desc": ["c", "b", "a"],
        "auto": ["b", "c"],
        "disabled": ["a", "b"],
        "enabled": ["c"],
        "by_method_then_name": ["a", "b", "c"],
    }


def test_host_and_notification_filters_and_sort(clients):
    result = clients.sdk("""
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        for name, kind, reserved, on_maintenance in [("a", "COMPUTE", True, False),
                                                     ("b", "CONTROLLER", False, True),
                                                     ("c", "COMPUTE", False, False)]:
            ha.create_host(segment_id=segment.uuid, name=f"{params['name']}-{name}", type=kind,
                           control_attributes="SSH", reserved=reserved,
                           on_maintenance=on_maintenance)
        def host_names(**query):
            return [host.name.rpartition("-")[2] for host in ha.hosts(segment.uuid, **query)]
        host_c = f"{params['name']}-c"
        first = ha.create_notification(type="PROCESS", hostname=host_c,
                                       generated_time="2026-04-01T00:00:00",
                                       payload={"event": "STOPPED", "process_name": "x"})
        second = ha.create_notification(type="COMPUTE_HOST", hostname=host_c,
                                        generated_time="2026-04-02T00:00:00",
                                        payload={"event": "STOPPED"})
        source = first.source_host_uuid
        def notification_types(**query):
            return [notification.type
                    for notification in ha.notifications(source_host_uuid=source, **query)]
        emit({
            "hosts_by_name_desc": host_names(sort_key="name", sort_dir="desc"),
            "reserved": host_names(reserved=True),
            "on_maintenance": host_names(on_maintenance="True"),
            "compute_by_name": host_names(type="COMPUTE", sort_key="name", sort_dir="asc"),
            "in_segment": host_names(failover_segment_id=segment.uuid, sort_key="name",
                                     sort_dir="asc"),
            "notifications": notification_types(),
            "process": notification_types(type="PROCESS"),
            "new": notification_types(status="new", sort_key="type", sort_dir="desc"),
            "running": notification_types(status="running"),
            "since": notification_types(generated_since="2026-04-01T12:00:00"),
            "by_generated_time": notification_types(sort_key="generated_time", sort_dir="asc"),
            "second_id": second.id,
        })
    """, name=unique("sdk-filters"))

    assert result["hosts_by_name_desc"] == ["c", "b", "a"]
    assert result["reserved"] == ["a"]
    assert result["on_maintenance"] == ["b"]
    assert result["compute_by_name"] == ["a", "c"]
    assert result["in_segment"] == ["a", "b", "c"]
    assert result["notifications"] == ["COMPUTE_HOST", "PROCESS"]
    assert result["process"] == ["PROCESS"]
    assert result["new"] == ["PROCESS", "COMPUTE_HOST"]
    assert result["running"] == []
    assert result["since"] == ["COMPUTE_HOST"]
    assert result["by_generated_time"] == ["PROCESS", "COMPUTE_HOST"]


# --- errors the clients act on ----------------------------------------------

def test_errors_come_back_as_the_sdk_exceptions_clients_catch(clients):
    result = clients.sdk("""
        from openstack import exceptions
        def failure(call, *args, **kwargs):
            try:
                call(*args, **kwargs)
            except exceptions.HttpException as error:
                return [type(error).__name__, error.status_code]
            return None
        segment = ha.create_segment(name=params["name"], recovery_method="auto",
                                    service_type="COMPUTE")
        host = ha.create_host(segment_id=segment.uuid, name=params["name"], type="COMPUTE",
                              control_attributes="SSH", on_maintenance=True)
        emit({
            "duplicate_segment": failure(ha.create_segment, name=params["name"],
                                         recovery_method="auto", service_type="COMPUTE"),
            "bad_recovery_method": failure(ha.create_segment, name=params["name"] + "-x",
                                           recovery_method="manual", service_type="COMPUTE"),
            "missing_segment": failure(ha.get_segment, params["missing"]),
            "missing_host": failure(ha.get_host, params["missing"], segment.uuid),
            "unknown_host": failure(ha.create_notification, type="PROCESS",
                                    hostname=params["name"] + "-nowhere",
                                    generated_time="2026-01-01T00:00:00",
                                    payload={"event": "STOPPED", "process_name": "x"}),
            "host_on_maintenance": failure(ha.create_notification, type="PROCESS",
                                           hostname=host.name,
                                           generated_time="2026-01-01T00:00:00",
                                           payload={"event": "STOPPED", "process_name": "x"}),
            "delete_twice": [ha.delete_segment(segment.uuid, ignore_missing=False),
                             failure(ha.delete_segment, segment.uuid, ignore_missing=False)][1],
        })
    """, name=unique("sdk-errors"), missing=str(uuid.uuid4()))

    assert result == {
        "duplicate_segment": ["ConflictException", 409],
        "bad_recovery_method": ["BadRequestException", 400],
        "missing_segment": ["NotFoundException", 404],
        "missing_host": ["NotFoundException", 404],
        "unknown_host": ["BadRequestException", 400],
        "host_on_maintenance": ["ConflictException", 409],
        "delete_twice": ["NotFoundException", 404],
    }
