"""Settings, read from the environment with working laptop defaults.

Every variable is documented in the README; a wrong value fails at start.
"""

import importlib.util
import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from masakari_site.env import env_bool, env_int, env_list, env_str, secret_key_file

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MASAKARI_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

# Where this service differs from stock Django, DRF and Celery (README: "Deviations
# from stock Django and Celery"): each was measured to pay, and each can be
# switched off to rule it out when something looks wrong.
DB_ALIVE_BYPASS = env_bool("MASAKARI_DB_ALIVE_BYPASS", True)
DB_C_TIMESTAMPS = env_bool("MASAKARI_DB_C_TIMESTAMPS", True)
DISPATCH_AFTER_RESPONSE = env_bool("MASAKARI_DISPATCH_AFTER_RESPONSE", True)
SNAPSHOT_CELERY_SETTINGS = env_bool("MASAKARI_SNAPSHOT_CELERY_SETTINGS", True)
ORJSON_RENDERER = env_bool("MASAKARI_ORJSON_RENDERER", True)
REDIS_RECONNECTING_TRANSPORT = env_bool("MASAKARI_REDIS_RECONNECTING_TRANSPORT", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or secret_key_file(VAR_DIR / "secret-key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# X-Forwarded-Host/-Proto are trusted only when a proxy in front says so
# (it must set them itself, overwriting what clients send): otherwise any
# caller could choose the links' host and pass a plain request for TLS.
BEHIND_PROXY = env_bool("MASAKARI_BEHIND_PROXY", False)
USE_X_FORWARDED_HOST = BEHIND_PROXY
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "masakari_site",
    "segments",
    "hosts",
    "notifications",
    "webhooks",
    "recovery",
    "dashboard",
]

MIDDLEWARE = [
    "masakari_site.api.middleware.RequestIdMiddleware",
    # Outside the session and CSRF middleware, so that it sees their cookies.
    "masakari_site.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "masakari_site.api.middleware.MicroversionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The v1 routes have no trailing slash; a redirect would drop POST bodies.
APPEND_SLASH = False

ROOT_URLCONF = "masakari_site.urls"
WSGI_APPLICATION = "masakari_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.permissions.context",
                "dashboard.banners.context",
            ],
        },
    },
]

# Database: SQLite in var/ unless DATABASE_URL names another.
_default_db = f"sqlite:///{VAR_DIR / 'masakari.sqlite3'}"
try:
    DATABASES = {
        "default": dj_database_url.parse(
            env_str("DATABASE_URL", _default_db), conn_max_age=60, conn_health_checks=True
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_ALIVE_BYPASS:
    # Django's, but no health-check round trip for a connection in use (db/base.py).
    DATABASES["default"]["ENGINE"] = "masakari_site.db"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_cache_url = env_str("CACHE_URL", "")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": _cache_url}}
elif _cache_url in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={_cache_url!r}: expected redis://… or locmem://")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/login/?logged_out=1"

# --- REST framework -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["masakari_site.api.auth.ApiAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["masakari_site.api.policy.PolicyPermission"],
    "DEFAULT_RENDERER_CLASSES": ["masakari_site.api.renderers.FastJSONRenderer"
                                 if ORJSON_RENDERER else "rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["masakari_site.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "masakari_site.api.schema.V1AutoSchema",
    "EXCEPTION_HANDLER": "masakari_site.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Masakari-compatible instance HA API",
    "DESCRIPTION": "The OpenStack Masakari v1 API (microversions 1.0-1.3), and this "
                   "service's own /ext/v1 beside it (fencing: power devices, policies, "
                   "confirmations).",
    "VERSION": "1.3",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema needs the same credentials as the API it describes.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": ["masakari_site.api.auth.ApiAuthentication"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/v1",
    "PREPROCESSING_HOOKS": ["masakari_site.api.schema.described_routes"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "masakari_site.api.schema.add_faults_and_microversion"],
    "ENUM_NAME_OVERRIDES": {
        "NotificationTypeEnum": "notifications.models.NotificationType",
        "VMoveTypeEnum": "notifications.models.VMoveType",
        # v1 shows upstream's statuses only (an operator's `cancelled` reads `failed`).
        "NotificationStatusEnum": "notifications.models.V1_STATUSES",
        "VMoveStatusEnum": "notifications.models.VMoveStatus",
        "FencingPolicyEnum": "segments.models.FencingPolicy",
        "PowerDriverEnum": "hosts.models.PowerDriver",
        "FenceKindEnum": "notifications.models.FenceKind",
    },
}

# --- Authentication and policy -------------------------------------------
# How API callers prove who they are: `keystone`, `oidc`, both as
# `keystone,oidc`, or `noauth` (everyone is an admin; development and CI only,
# and only when asked for: `make run` and `make test` do). Unset, it is what
# is configured (KEYSTONE_AUTH_URL, OIDC_ISSUER); with neither, the API
# refuses every request.
_configured_methods = [name for name, variable in (("keystone", "KEYSTONE_AUTH_URL"),
                                                   ("oidc", "OIDC_ISSUER"))
                       if os.environ.get(variable)]
MASAKARI_AUTH = ",".join(env_list("MASAKARI_AUTH", _configured_methods))
_auth_methods = set(filter(None, MASAKARI_AUTH.split(",")))
if not _auth_methods <= {"noauth", "keystone", "oidc"} or (
        "noauth" in _auth_methods and len(_auth_methods) > 1):
    raise ImproperlyConfigured(
        f"MASAKARI_AUTH={MASAKARI_AUTH!r}: expected noauth, keystone, oidc or keystone,oidc")
# The project every noauth request belongs to.
MASAKARI_NOAUTH_PROJECT_ID = env_str("MASAKARI_NOAUTH_PROJECT_ID", "noauth-project")
KEYSTONE_AUTH_URL = env_str("KEYSTONE_AUTH_URL", "")
KEYSTONE_USERNAME = env_str("KEYSTONE_USERNAME", "masakari")
KEYSTONE_PASSWORD = env_str("KEYSTONE_PASSWORD", "")
KEYSTONE_PROJECT_NAME = env_str("KEYSTONE_PROJECT_NAME", "service")
KEYSTONE_USER_DOMAIN_NAME = env_str("KEYSTONE_USER_DOMAIN_NAME", "Default")
KEYSTONE_PROJECT_DOMAIN_NAME = env_str("KEYSTONE_PROJECT_DOMAIN_NAME", "Default")
# Seconds a validated token is trusted before Keystone is asked again.
KEYSTONE_TOKEN_CACHE_SECONDS = env_int("KEYSTONE_TOKEN_CACHE_SECONDS", 60)
KEYSTONE_TIMEOUT = env_int("KEYSTONE_TIMEOUT", 10, minimum=1)
if "keystone" in _auth_methods and not (KEYSTONE_AUTH_URL and KEYSTONE_PASSWORD):
    raise ImproperlyConfigured(
        "MASAKARI_AUTH=keystone needs KEYSTONE_AUTH_URL and KEYSTONE_PASSWORD "
        "(the service user that validates tokens)"
    )

# OpenID Connect: people log in to the dashboard and admin through the
# provider at OIDC_ISSUER (its endpoints come from its discovery document),
# and with `oidc` in MASAKARI_AUTH the API takes its JWT access tokens.
OIDC_ISSUER = env_str("OIDC_ISSUER", "").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
# The claim that names a person, and the claim whose values give roles:
# only values OIDC_ROLE_MAP (`group=role,…`) maps count; unmapped values give
# nothing (a login without a map has no role). Keystone's implied roles apply
# (admin → member → reader).
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_ROLES_CLAIM = env_str("OIDC_ROLES_CLAIM", "groups")
OIDC_ROLE_MAP = {}
for _pair in env_list("OIDC_ROLE_MAP", []):
    _value, _sep, _role = _pair.partition("=")
    if not (_sep and _value.strip() and _role.strip()):
        raise ImproperlyConfigured(f"OIDC_ROLE_MAP: {_pair!r} is not VALUE=ROLE")
    OIDC_ROLE_MAP.setdefault(_value.strip(), []).append(_role.strip())
# API bearer tokens: the `aud` they must carry (the API's own audience at the
# provider, not the login client's, whose ID tokens carry that), the project
# claim (policy rules may compare it), the accepted signing algorithms and
# clock leeway.
OIDC_API_AUDIENCE = env_str("OIDC_API_AUDIENCE", "")
OIDC_PROJECT_CLAIM = env_str("OIDC_PROJECT_CLAIM", "project_id")
OIDC_SIGNING_ALGORITHMS = env_list("OIDC_SIGNING_ALGORITHMS", ["RS256"])
OIDC_LEEWAY_SECONDS = env_int("OIDC_LEEWAY_SECONDS", 30)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10, minimum=1)
# TLS to the provider: checked against the system's CAs, or OIDC_CA_BUNDLE.
OIDC_CA_BUNDLE = env_str("OIDC_CA_BUNDLE", "")
OIDC_VERIFY_SSL = OIDC_CA_BUNDLE or env_bool("OIDC_VERIFY_SSL", True)
if (OIDC_ISSUER or "oidc" in _auth_methods) and not (OIDC_ISSUER and OIDC_CLIENT_ID):
    raise ImproperlyConfigured("OpenID Connect needs OIDC_ISSUER and OIDC_CLIENT_ID")
if OIDC_ISSUER and not OIDC_CLIENT_SECRET:
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_SECRET is needed to log people in")
if "oidc" in _auth_methods and not OIDC_API_AUDIENCE:
    raise ImproperlyConfigured("MASAKARI_AUTH=oidc needs OIDC_API_AUDIENCE")
# Username and password logins of Django's own users: off unless asked for
# (a first setup without an identity provider; `make run` turns it on when
# no OIDC_ISSUER is set).
MASAKARI_LOCAL_LOGIN = env_bool("MASAKARI_LOCAL_LOGIN", False)
# After this many failed password logins of one user from one address within
# LOGIN_LOCKOUT_SECONDS, that user's logins from there are refused until the
# window has passed (counted in the cache: set CACHE_URL to share it).
LOGIN_MAX_FAILURES = env_int("MASAKARI_LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("MASAKARI_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# The OIDC backend logs nobody in while OIDC_ISSUER is unset (no provider to ask).
AUTHENTICATION_BACKENDS = ["masakari_site.oidc.OIDCBackend"] + (
    ["django.contrib.auth.backends.ModelBackend"] if MASAKARI_LOCAL_LOGIN else [])
# mozilla-django-oidc: endpoints are read from the provider's discovery
# document at login time (masakari_site/oidc.py), not configured one by one.
OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
OIDC_RP_SCOPES = OIDC_SCOPES
OIDC_RP_SIGN_ALGO = OIDC_SIGNING_ALGORITHMS[0] if OIDC_SIGNING_ALGORITHMS else "RS256"
OIDC_OP_AUTHORIZATION_ENDPOINT = OIDC_OP_TOKEN_ENDPOINT = OIDC_OP_USER_ENDPOINT = None
OIDC_OP_JWKS_ENDPOINT = None
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True
OIDC_OP_LOGOUT_URL_METHOD = "masakari_site.oidc.provider_logout_url"
OIDC_AUTHENTICATE_CLASS = "masakari_site.oidc.AuthenticationRequestView"
OIDC_CALLBACK_CLASS = "masakari_site.oidc.CallbackView"
LOGIN_REDIRECT_URL_FAILURE = "/login/?failed=1"
# Sessions end after MASAKARI_SESSION_SECONDS or when the browser closes.
SESSION_COOKIE_AGE = env_int("MASAKARI_SESSION_SECONDS", 8 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
# Behind TLS (directly or X-Forwarded-Proto: https) cookies are marked Secure
# (masakari_site/middleware.py) and HSTS is sent for SECURE_HSTS_SECONDS.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# A YAML or JSON file of policy rule overrides, as oslo.policy's policy.yaml.
MASAKARI_POLICY_FILE = env_str("MASAKARI_POLICY_FILE", "")
MASAKARI_POLICY: dict[str, str] = {}

# Fernet key(s) encrypting stored secrets (BMC passwords), comma-separated to
# rotate: the first encrypts, all decrypt (masakari_site/secrets.py). Needed
# once power devices are stored; a start-up check says so.
MASAKARI_SECRETS_KEY = env_str("MASAKARI_SECRETS_KEY", "")

# --- API ------------------------------------------------------------------
MASAKARI_API_MAX_LIMIT = env_int("MASAKARI_API_MAX_LIMIT", 1000, minimum=1)

# --- Engine knobs (upstream names and meaning) ----------------------------
DUPLICATE_NOTIFICATION_DETECTION_INTERVAL = env_int(
    "DUPLICATE_NOTIFICATION_DETECTION_INTERVAL", 180
)
# (engine settings: begin)
# Upstream masakari-engine knobs keep their names (upper-cased) and meaning;
# [host_failure]/[instance_failure]/[process_failure] options with the same
# name in two groups get the group as a prefix for the second one.
# Seconds: upstream waits after evacuating / powering off / on, and polls
# every VERIFY_INTERVAL while waiting.
WAIT_PERIOD_AFTER_EVACUATION = env_int("WAIT_PERIOD_AFTER_EVACUATION", 90, minimum=1)
WAIT_PERIOD_AFTER_POWER_OFF = env_int("WAIT_PERIOD_AFTER_POWER_OFF", 180, minimum=1)
WAIT_PERIOD_AFTER_POWER_ON = env_int("WAIT_PERIOD_AFTER_POWER_ON", 60, minimum=1)
# Bounds the wait for Nova to show a service disabled (process failure); the
# host failure flow forces the service down instead of sleeping this long.
WAIT_PERIOD_AFTER_SERVICE_UPDATE = env_int("WAIT_PERIOD_AFTER_SERVICE_UPDATE", 180, minimum=1)
VERIFY_INTERVAL = env_int("VERIFY_INTERVAL", 1, minimum=0)
# Evacuations run this many at a time (upstream's default is 3). 0: one after
# the other in the worker's own thread and database connection (tests).
HOST_FAILURE_RECOVERY_THREADS = env_int("HOST_FAILURE_RECOVERY_THREADS", 16, minimum=0)
# [host_failure]
EVACUATE_ALL_INSTANCES = env_bool("EVACUATE_ALL_INSTANCES", True)
HA_ENABLED_INSTANCE_METADATA_KEY = env_str("HA_ENABLED_INSTANCE_METADATA_KEY", "HA_Enabled")
IGNORE_INSTANCES_IN_ERROR_STATE = env_bool("IGNORE_INSTANCES_IN_ERROR_STATE", False)
ADD_RESERVED_HOST_TO_AGGREGATE = env_bool("ADD_RESERVED_HOST_TO_AGGREGATE", False)
SERVICE_DISABLE_REASON = env_str("SERVICE_DISABLE_REASON", "Masakari detected host failed.")
# [instance_failure]
PROCESS_ALL_INSTANCES = env_bool("PROCESS_ALL_INSTANCES", False)
INSTANCE_FAILURE_HA_ENABLED_INSTANCE_METADATA_KEY = env_str(
    "INSTANCE_FAILURE_HA_ENABLED_INSTANCE_METADATA_KEY", HA_ENABLED_INSTANCE_METADATA_KEY
)
# [process_failure]
PROCESS_FAILURE_SERVICE_DISABLE_REASON = env_str(
    "PROCESS_FAILURE_SERVICE_DISABLE_REASON", "Masakari detected process failed."
)
# Periodic work (seconds). A `new` notification older than
# RETRY_NOTIFICATION_NEW_STATUS_INTERVAL is re-dispatched (its message was
# lost); both checks run every PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL.
PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL = env_int(
    "PROCESS_UNFINISHED_NOTIFICATIONS_INTERVAL", 120, minimum=1
)
RETRY_NOTIFICATION_NEW_STATUS_INTERVAL = env_int("RETRY_NOTIFICATION_NEW_STATUS_INTERVAL", 60)
# How often running notifications are checked for a dead worker (expired
# lease), and how old an unfinished notification may get before it is failed.
CHECK_EXPIRED_NOTIFICATIONS_INTERVAL = env_int(
    "CHECK_EXPIRED_NOTIFICATIONS_INTERVAL", 60, minimum=1
)
NOTIFICATIONS_EXPIRED_INTERVAL = env_int("NOTIFICATIONS_EXPIRED_INTERVAL", 86400, minimum=1)
# A worker renews its lease on a running notification every third of this;
# when it stops, another worker takes over once the lease has expired.
NOTIFICATION_LEASE_SECONDS = env_int("NOTIFICATION_LEASE_SECONDS", 60, minimum=3)
# Tries per notification (first run included) before it ends `failed`; the
# wait before try n+1 is NOTIFICATION_RETRY_BACKOFF * 2**(n-1), at most
# NOTIFICATION_RETRY_BACKOFF_MAX.
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 4, minimum=1)
NOTIFICATION_RETRY_BACKOFF = env_int("NOTIFICATION_RETRY_BACKOFF", 60)
NOTIFICATION_RETRY_BACKOFF_MAX = env_int("NOTIFICATION_RETRY_BACKOFF_MAX", 3600)

# Nova service account: a cloud of clouds.yaml (NOVA_CLOUD, found through
# OS_CLIENT_CONFIG_FILE or the usual places) or the explicit NOVA_AUTH_*.
NOVA_CLOUD = env_str("NOVA_CLOUD", "")
NOVA_AUTH_URL = env_str("NOVA_AUTH_URL", "")
NOVA_AUTH_USERNAME = env_str("NOVA_AUTH_USERNAME", "masakari")
NOVA_AUTH_PASSWORD = env_str("NOVA_AUTH_PASSWORD", "")
NOVA_AUTH_PROJECT_NAME = env_str("NOVA_AUTH_PROJECT_NAME", "service")
NOVA_AUTH_USER_DOMAIN_NAME = env_str("NOVA_AUTH_USER_DOMAIN_NAME", "Default")
NOVA_AUTH_PROJECT_DOMAIN_NAME = env_str("NOVA_AUTH_PROJECT_DOMAIN_NAME", "Default")
NOVA_AUTH_APPLICATION_CREDENTIAL_ID = env_str("NOVA_AUTH_APPLICATION_CREDENTIAL_ID", "")
NOVA_AUTH_APPLICATION_CREDENTIAL_SECRET = env_str("NOVA_AUTH_APPLICATION_CREDENTIAL_SECRET", "")
NOVA_REGION_NAME = env_str("NOVA_REGION_NAME", "")
NOVA_INTERFACE = env_str("NOVA_INTERFACE", "public")
# From 2.95 Nova leaves evacuated servers SHUTOFF; 2.53 brings service
# UUIDs and force-down by PUT. Stay between the two.
NOVA_COMPUTE_API_VERSION = env_str("NOVA_COMPUTE_API_VERSION", "2.94")
_nova_minor = NOVA_COMPUTE_API_VERSION.partition("2.")[2]
if not (NOVA_COMPUTE_API_VERSION.startswith("2.") and _nova_minor.isdigit()
        and 53 <= int(_nova_minor) <= 94):
    raise ImproperlyConfigured(
        f"NOVA_COMPUTE_API_VERSION={NOVA_COMPUTE_API_VERSION!r}: expected 2.53 to 2.94"
    )
# Every Nova call: seconds before it times out, retries on 5xx/409/connection
# errors, and the first pause between them (doubled each time).
NOVA_API_TIMEOUT = env_int("NOVA_API_TIMEOUT", 30, minimum=1)
NOVA_API_RETRIES = env_int("NOVA_API_RETRIES", 3)
NOVA_API_RETRY_DELAY = env_int("NOVA_API_RETRY_DELAY", 1)
# Fencing (seconds): each power device of a failed host has FENCING_TIMEOUT
# from its power-off to a confirmed Off; a BMC call that may pass (unreachable,
# timed out, garbled) is retried FENCING_RETRIES times, the first pause
# FENCING_RETRY_BACKOFF, doubled each time; one BMC call lasts at most
# POWER_CALL_TIMEOUT.
FENCING_TIMEOUT = env_int("FENCING_TIMEOUT", 30, minimum=1)
FENCING_RETRIES = env_int("FENCING_RETRIES", 3)
FENCING_RETRY_BACKOFF = env_int("FENCING_RETRY_BACKOFF", 1)
POWER_CALL_TIMEOUT = env_int("POWER_CALL_TIMEOUT", 10, minimum=1)
# Preflight: every power device's state is read this often, this many at a time
# (1000 devices that all time out: 1000 / 50 x POWER_CALL_TIMEOUT = 200 s).
POWER_CHECK_INTERVAL = env_int("POWER_CHECK_INTERVAL", 300, minimum=10)
POWER_CHECK_CONCURRENCY = env_int("POWER_CHECK_CONCURRENCY", 50, minimum=1)
# Detection (recovery/detector.py; seconds): every DETECTION_INTERVAL one
# process of the cluster lists Nova's compute services once, reads the power
# devices and probes of the watched hosts, DETECTION_CONCURRENCY at a time,
# each call bounded by DETECTION_CALL_TIMEOUT (Nova's listing too, without
# retries). A host whose nova-compute has not reported for HOST_STALE_SECONDS
# (Nova's and our clock both) is stale; a power device reading Off is read
# again POWER_OFF_CONFIRM_DELAY later before it counts.
DETECTION_INTERVAL = env_int("DETECTION_INTERVAL", 5, minimum=1)
HOST_STALE_SECONDS = env_int("HOST_STALE_SECONDS", 25, minimum=1)
DETECTION_CONCURRENCY = env_int("DETECTION_CONCURRENCY", 50, minimum=1)
DETECTION_CALL_TIMEOUT = env_int("DETECTION_CALL_TIMEOUT", 3, minimum=1)
POWER_OFF_CONFIRM_DELAY = env_int("POWER_OFF_CONFIRM_DELAY", 1)
# Storm gates (recovery/gates.py): a host recovery is held when more than
# HA_MAX_DOWN_PERCENT of its segment's hosts are down at once, or when
# HA_MAX_NEW_RECOVERIES_PER_INTERVAL host recoveries already started in the
# last HA_NEW_RECOVERIES_INTERVAL, cluster-wide; after an operator releases
# held recoveries, the segment's new ones are held for HA_RELEASE_COOLDOWN.
HA_MAX_DOWN_PERCENT = env_int("HA_MAX_DOWN_PERCENT", 50)
HA_MAX_NEW_RECOVERIES_PER_INTERVAL = env_int("HA_MAX_NEW_RECOVERIES_PER_INTERVAL", 10,
                                             minimum=1)
HA_NEW_RECOVERIES_INTERVAL = env_int("HA_NEW_RECOVERIES_INTERVAL", 60, minimum=1)
HA_RELEASE_COOLDOWN = env_int("HA_RELEASE_COOLDOWN", 120)
# (engine settings: end)

# Soft-deleted rows older than this are purged by the daily periodic task.
PURGE_DELETED_AFTER_DAYS = env_int("PURGE_DELETED_AFTER_DAYS", 30)

# --- Metrics (masakari_site/metrics.py, GET /metrics) ----------------------
# Every process (gunicorn and Celery workers) writes its counters to files in
# PROMETHEUS_MULTIPROC_DIR and a scrape adds them up; prometheus-client reads
# the variable when it is imported, hence here. `manage.py serve` empties it
# at start. Scrapers send METRICS_TOKEN as a bearer token (or the API's own
# credentials); METRICS_ANONYMOUS=1 lets anyone read them.
METRICS_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", "") or VAR_DIR / "metrics")
METRICS_DIR.mkdir(parents=True, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN and (len(METRICS_TOKEN) < 16 or METRICS_TOKEN.strip() != METRICS_TOKEN
                      or " " in METRICS_TOKEN):
    raise ImproperlyConfigured("METRICS_TOKEN: expected at least 16 characters, no spaces "
                               "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
METRICS_ANONYMOUS = env_bool("METRICS_ANONYMOUS", False)

# --- Webhooks (webhooks/) -------------------------------------------------
# Events are POSTed to the registered endpoints from workers of their own
# queue (`manage.py serve`), so a slow or failing endpoint never delays a
# recovery: each call is bounded by WEBHOOK_TIMEOUT; a failed one is tried
# again after WEBHOOK_RETRY_BACKOFF x 2^(n-1) s (at most WEBHOOK_RETRY_BACKOFF_MAX),
# WEBHOOK_MAX_ATTEMPTS tries in all; lost ones are re-sent every
# WEBHOOK_REDISPATCH_INTERVAL. Events and their deliveries are kept
# WEBHOOK_KEEP_DAYS. WEBHOOK_SOURCE is the events' CloudEvents `source`.
WEBHOOK_QUEUE = env_str("WEBHOOK_QUEUE", "webhooks")
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 5, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10, minimum=1)
WEBHOOK_RETRY_BACKOFF = env_int("WEBHOOK_RETRY_BACKOFF", 5, minimum=1)
WEBHOOK_RETRY_BACKOFF_MAX = env_int("WEBHOOK_RETRY_BACKOFF_MAX", 3600, minimum=1)
WEBHOOK_REDISPATCH_INTERVAL = env_int("WEBHOOK_REDISPATCH_INTERVAL", 60, minimum=1)
WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 14, minimum=1)
WEBHOOK_SOURCE = env_str("WEBHOOK_SOURCE", f"/masakari/{os.uname().nodename}")

# --- OpenStack notifications (masakari_site/openstack_notifications.py) -----
# Upstream Masakari's versioned notifications on the cloud's message bus, for
# Ceilometer and other consumers. Off (`noop`) unless a driver is named;
# `messagingv2`/`messaging` need MASAKARI_NOTIFICATIONS_TRANSPORT_URL
# (rabbit://user:password@host:5672/vhost) and oslo.messaging (the `oslo`
# extra); `log` writes them to the log instead.
MASAKARI_NOTIFICATIONS_DRIVERS = ("noop", "messagingv2", "messaging", "log")
MASAKARI_NOTIFICATIONS_DRIVER = env_str("MASAKARI_NOTIFICATIONS_DRIVER", "noop").strip() or "noop"
if MASAKARI_NOTIFICATIONS_DRIVER not in MASAKARI_NOTIFICATIONS_DRIVERS:
    raise ImproperlyConfigured(
        f"MASAKARI_NOTIFICATIONS_DRIVER={MASAKARI_NOTIFICATIONS_DRIVER!r}: expected one of "
        f"{', '.join(MASAKARI_NOTIFICATIONS_DRIVERS)}")
MASAKARI_NOTIFICATIONS_TRANSPORT_URL = env_str("MASAKARI_NOTIFICATIONS_TRANSPORT_URL", "")
MASAKARI_NOTIFICATIONS_TOPICS = env_list("MASAKARI_NOTIFICATIONS_TOPICS",
                                         ["versioned_notifications"])
if MASAKARI_NOTIFICATIONS_DRIVER != "noop":
    if not MASAKARI_NOTIFICATIONS_TOPICS:
        raise ImproperlyConfigured("MASAKARI_NOTIFICATIONS_TOPICS: name at least one topic")
    if importlib.util.find_spec("oslo_messaging") is None:
        raise ImproperlyConfigured(
            f"MASAKARI_NOTIFICATIONS_DRIVER={MASAKARI_NOTIFICATIONS_DRIVER} needs oslo.messaging: "
            "pip install 'masakari-site[oslo]'")
if MASAKARI_NOTIFICATIONS_DRIVER.startswith("messaging") and not (
        MASAKARI_NOTIFICATIONS_TRANSPORT_URL.startswith(("rabbit://", "kafka://"))):
    raise ImproperlyConfigured(
        f"MASAKARI_NOTIFICATIONS_DRIVER={MASAKARI_NOTIFICATIONS_DRIVER} needs "
        "MASAKARI_NOTIFICATIONS_TRANSPORT_URL=rabbit://user:password@host:5672/vhost (or "
        f"kafka://…); it is {MASAKARI_NOTIFICATIONS_TRANSPORT_URL or 'not set'}")

# --- Celery ---------------------------------------------------------------
# Without CELERY_BROKER_URL the broker is a folder under var/: no server needed.
# (Named host: kombu warns "No hostname was supplied" at every connection otherwise.)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if not CELERY_BROKER_URL.startswith(("filesystem://", "redis://", "rediss://", "amqp://",
                                     "pyamqp://", "sqla+", "memory://")):
    raise ImproperlyConfigured(f"CELERY_BROKER_URL={CELERY_BROKER_URL!r}: unknown transport")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
# The detector has a queue and a worker of its own (`manage.py serve`): host
# recoveries that occupy every engine worker must not stop failure detection.
DETECTION_QUEUE = "detection"
CELERY_TASK_ROUTES = {"recovery.detect_failures": {"queue": DETECTION_QUEUE},
                      # Webhook calls have their own workers: endpoints never hold up recoveries.
                      "webhooks.*": {"queue": WEBHOOK_QUEUE}}
CELERY_TASK_ACKS_LATE = True
# Celery 6 turns this on: it would kill every running recovery whenever the
# broker connection drops (each then waits for its lease to expire).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "stream": sys.stderr}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
