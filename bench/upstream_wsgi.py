"""Gunicorn entry point for upstream masakari-api (used by run_upstream.sh only).

masakari.wsgi.api hands sys.argv to oslo.config; under gunicorn that holds
gunicorn's own options and every worker dies at import. Hide them first.
The configuration comes from $OS_MASAKARI_CONFIG_DIR (api-paste.ini +
masakari.conf), as upstream's own WSGI entry point expects. Upstream's
initialize_application() then calls CONF(sys.argv[1:]) a second time, which
forgets those default_config_files, so masakari.conf is also passed as
--config-file here (otherwise auth_strategy and friends silently revert to
their defaults).
"""

import os
import sys

_conf_dir = os.environ.get("OS_MASAKARI_CONFIG_DIR", "/etc/masakari")
sys.argv = [sys.argv[0], "--config-file", os.path.join(_conf_dir, "masakari.conf")]

# upstream binds `max_limit=CONF.osapi_max_limit` as a default argument at
# import time; if that import happened before the config file was read, the
# default is stuck at 1000. Re-bind it to the configured value.
import masakari.api.openstack.common as _common  # noqa: E402
from masakari import conf as _conf  # noqa: E402
from masakari.wsgi.api import application  # noqa: E402

if _common.get_limit_and_marker.__defaults__ != (_conf.CONF.osapi_max_limit,):
    print(f"upstream_wsgi: osapi_max_limit default was "
          f"{_common.get_limit_and_marker.__defaults__}, re-bound to "
          f"{_conf.CONF.osapi_max_limit}", file=sys.stderr)
    _common.get_limit_and_marker.__defaults__ = (_conf.CONF.osapi_max_limit,)

__all__ = ["application"]
