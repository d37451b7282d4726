"""The PostgreSQL backend (ENGINE "masakari_site.db"), with a cheaper health check.

Django's CONN_HEALTH_CHECKS sends a `SELECT 1` before the first query of every
request: a round trip and a statement on every notification create. A
connection that was in use less than ALIVE_BYPASS_SECONDS ago is taken as
alive instead (as HikariCP's alive-bypass window does); one idle for longer
is still checked, so the first request after a database restart does not fail.
"""

import time

from django.db.backends.postgresql import base

ALIVE_BYPASS_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    used_until = 0.0

    def close_if_health_check_failed(self):
        now = time.monotonic()
        if self.connection is not None and now < self.used_until:
            self.health_check_done = True
        super().close_if_health_check_failed()
        self.used_until = now + ALIVE_BYPASS_SECONDS
