"""The broker, the database and Nova's API failing under a host failure
recovery: each comes back (or stops failing) and the recovery ends as if
nothing had happened."""

import time

import pytest

from recovery.tests.chaos.checks import (
    assert_every_attempt_ended,
    assert_recovered,
    fail_host,
    wait_evacuating,
    wait_settled,
)
from recovery.tests.chaos.conftest import SERVERS
from recovery.tests.chaos.harness import (
    NovaFaultProxy,
    PostgresCluster,
    TokenRevokingProxy,
    clouds_yaml_through,
)
from recovery.tests.rig import cloud

pytestmark = [pytest.mark.chaos, pytest.mark.rig]

BROKER_DOWN_SECONDS = 3
# Nova's API fails for this long from the first evacuate call; a call that
# hangs does so past the service's NOVA_API_TIMEOUT.
NOVA_FAULT_WINDOW = 20
NOVA_API_TIMEOUT = 5


def test_broker_restarted_during_a_recovery(make_engine, redis_server, openstack_rig, prefix,
                                            failed_compute):
    """Redis (no persistence) killed and started again mid-evacuation: every
    message is gone, the rows are not."""
    engine = make_engine()
    worker = engine.start_worker()
    engine.start_beat()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)
    wait_evacuating(openstack_rig, failure)
    redis_server.kill()
    # Stored while no message can be sent: beat must send it once Redis is back.
    response = engine.notify(type="VM", hostname="fake-host-2", payload={
        "event": "LIFECYCLE", "instance_uuid": failure.servers[0],
        "vir_domain_event": "STARTED_BOOTED"})
    assert response.status_code == 202, response.text
    posted_meanwhile = response.json()["notification"]["notification_uuid"]
    time.sleep(BROKER_DOWN_SECONDS)
    redis_server.start()

    assert_recovered(engine, openstack_rig, failure)
    # Not an instance failure: ignored, which only a worker decides.
    assert wait_settled(engine, posted_meanwhile, timeout=120)["status"] == "ignored"
    # The same worker, reconnected: not one that exited and was started again.
    assert worker.process.poll() is None, worker.log()[-3000:]
    assert "Unrecoverable error" not in worker.log()
    assert_every_attempt_ended(engine, failure.uuid)


@pytest.fixture
def own_postgres():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


def test_database_restarted_during_a_recovery(own_postgres, make_engine, openstack_rig, prefix,
                                              failed_compute):
    """The service's PostgreSQL restarted (fast shutdown: every connection
    cut) mid-evacuation; the engine reconnects and carries on."""
    engine = make_engine(admin_url=own_postgres.admin_url)
    engine.start_worker()
    engine.start_beat()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)
    wait_evacuating(openstack_rig, failure)
    own_postgres.restart()

    assert_recovered(engine, openstack_rig, failure)
    # An attempt the restart broke still wrote how it ended (on a new connection).
    assert_every_attempt_ended(engine, failure.uuid)


@pytest.fixture
def nova_proxy():
    proxy = NovaFaultProxy(window=NOVA_FAULT_WINDOW, hang=NOVA_API_TIMEOUT + 3).start()
    yield proxy
    proxy.stop()


def test_nova_api_failing_for_a_while(nova_proxy, make_engine, tmp_path, openstack_rig, prefix,
                                      failed_compute):
    """Between the service and nova-api, a proxy answering 503, 500 (after
    Nova did the work) or nothing at all, in turn, for NOVA_FAULT_WINDOW
    seconds from the first evacuate call."""
    engine = make_engine(env_overrides={
        "NOVA_CLOUD": "rig-masakari-chaos",
        "OS_CLIENT_CONFIG_FILE": str(clouds_yaml_through(nova_proxy, tmp_path)),
        "NOVA_API_TIMEOUT": str(NOVA_API_TIMEOUT)})
    engine.start_worker()
    engine.start_beat()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)

    assert_recovered(engine, openstack_rig, failure, timeout=600)
    assert nova_proxy.window_start is not None, "no evacuate call went through the proxy"
    assert all(nova_proxy.faults.values()), nova_proxy.faults


@pytest.fixture
def revoking_proxy(openstack_rig):
    proxy = TokenRevokingProxy(keystone_url=cloud.KEYSTONE_URL,
                               admin_token=openstack_rig.session.get_token).start()
    yield proxy
    proxy.stop()


def test_the_service_token_revoked_mid_recovery(revoking_proxy, make_engine, tmp_path,
                                                openstack_rig, prefix, failed_compute):
    """Keystone revokes the engine's token right after its first evacuate
    call, and Nova refuses it from then on: the engine's session logs in
    again and the recovery carries on, with no evacuation twice."""
    engine = make_engine(env_overrides={
        "NOVA_CLOUD": "rig-masakari-chaos",
        "OS_CLIENT_CONFIG_FILE": str(clouds_yaml_through(revoking_proxy, tmp_path))})
    engine.start_worker()
    engine.start_beat()
    failure = fail_host(engine, openstack_rig, host=failed_compute, prefix=prefix,
                        count=SERVERS)

    assert_recovered(engine, openstack_rig, failure)
    assert revoking_proxy.revoked, "no evacuate call went through the proxy"
    assert revoking_proxy.refused >= 1, "the revoked token was never used again"
    assert revoking_proxy.tokens_after - {revoking_proxy.revoked}, "no new token was used"
