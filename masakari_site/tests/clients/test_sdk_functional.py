"""openstacksdk's own functional tests for instance_ha, run against our server.

They ship inside the openstacksdk package (`openstack/tests/functional/
instance_ha/`) and are what upstream runs against a devstack Masakari. They
read their clouds from clouds.yaml by name (OS_CLOUD and the
OPENSTACKSDK_*_CLOUD variables); the host tests also ask Nova for a
hypervisor to register, which the fake Nova provides.
"""

import json
import subprocess

import pytest

from masakari_site.tests.clients.harness import CLOUD

pytestmark = pytest.mark.clients

FUNCTIONAL_MODULES = (
    "openstack.tests.functional.instance_ha.v1.test_segment",
    "openstack.tests.functional.instance_ha.v1.test_host",
)

# unittest drives the testtools-based cases; the outcome comes back as JSON.
RUNNER = """
import json, sys, unittest
suite = unittest.TestLoader().loadTestsFromNames(sys.argv[1:])
result = unittest.TestResult()
suite.run(result)
print(json.dumps({
    "ran": result.testsRun,
    "failures": [[test.id(), trace] for test, trace in result.failures],
    "errors": [[test.id(), trace] for test, trace in result.errors],
    "skipped": [[test.id(), reason] for test, reason in result.skipped],
}))
"""


def test_openstacksdk_functional_tests_pass(clients, fake_nova):
    env = {
        **clients.env,
        "OS_CLOUD": CLOUD,
        "OPENSTACKSDK_DEMO_CLOUD": CLOUD,
        "OPENSTACKSDK_DEMO_CLOUD_ALT": CLOUD,
        "OPENSTACKSDK_OPERATOR_CLOUD": CLOUD,
        "OPENSTACKSDK_SYSTEM_ADMIN_CLOUD": CLOUD,
    }

    completed = subprocess.run([clients.venv.python, "-c", RUNNER, *FUNCTIONAL_MODULES],
                               env=env, capture_output=True, text=True, timeout=600)

    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout.strip().splitlines()[-1])
    assert outcome["failures"] == [], outcome["failures"]
    assert outcome["errors"] == [], outcome["errors"]
    assert outcome["skipped"] == [], outcome["skipped"]
    assert outcome["ran"] == 4  # test_segment and test_host: test_list and test_update each
    # The host tests did register the fake Nova's hypervisor (their cleanups,
    # which delete it, would have shown up as errors).
    assert "/v2.1/os-hypervisors/detail" in fake_nova.requests
