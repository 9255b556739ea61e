"""Deploy Tracker settings, all from environment variables (documented in the README).

Unset DATABASE_URL means a SQLite file under var/; unset REDIS_URL and CELERY_BROKER_URL mean
Celery runs tasks in-process, so a bare machine shows a working dashboard.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_fernet_keys(name: str, fallback: str) -> list[str]:
    """Comma-separated Fernet keys, newest first, from `name` (else the one-key `fallback`); checked at start."""
    source = name if env_list(name) else fallback
    keys = env_list(source)
    for key in keys:
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (ValueError, binascii.Error):
            valid = False
        if not valid:
            raise ImproperlyConfigured(f"{source} must hold Fernet keys (urlsafe base64 of 32 bytes), comma-separated")
    return keys


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (set DEBUG=1 for local use)")
    SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Behind a TLS proxy in production; plain HTTP on 127.0.0.1 keeps working unless this is set.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# The container healthcheck and an in-network scrape reach gunicorn directly, without the proxy's https.
SECURE_REDIRECT_EXEMPT = [r"^healthz\Z", r"^readyz\Z", r"^metrics\Z"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
# Their own switches: a proxy that redirects to https by itself leaves SECURE_SSL_REDIRECT off.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SECURE_SSL_REDIRECT)
# Sent on HTTPS answers only; 0 (off) until production says how long browsers must insist on HTTPS.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles only from our own static files, or an inline block
# carrying the request's nonce; no inline handlers, no eval, no plugins, no framing, forms post only here.
# Plotly's own CSS is a static file (static/css/plotly.css), so style-src needs no 'unsafe-inline' either.
_CSP_DIRECTIVES = {
    "default-src": [SELF],
    "script-src": [SELF, NONCE],
    "style-src": [SELF, NONCE],
    "img-src": [SELF, "data:"],  # Swagger UI's icons are data: SVGs
    "object-src": [NONE],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
    "form-action": [SELF],
    "report-uri": env_list("CSP_REPORT_URI") or None,
}
# CSP_REPORT_ONLY=1 sends the same policy as Content-Security-Policy-Report-Only: browsers report, block nothing.
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _CSP_DIRECTIVES}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tracker",
    "deployments",
    "metrics.drift",
    "metrics.impact",
    "metrics.sources",
    "metrics.shadow",
    "rollbacks",
    "alerts",
    "dashboard",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Early, so every answer of the app carries the policy (the body-size refusals included).
    "csp.middleware.CSPMiddleware",
    "tracker.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tracker.urls"
WSGI_APPLICATION = "tracker.wsgi.application"

# Each process keeps its own small cache of page fragments (the timeline's rows). Their keys hold everything a
# fragment is drawn from, so a process never serves a stale one and no process has to tell another.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
}

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
            ],
        },
    },
]

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tracker.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL and a busy timeout let the web process and the embedded worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every log-in (/login/ and /admin/login/) first: LOGIN_FAILURE_LIMIT failures in a row for
# one username from one client address refuse that pair, the right password included, for LOGIN_COOLOFF_MINUTES.
# Other users, and the same user elsewhere, are unaffected, so a guesser cannot lock a person out everywhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries during the lock neither extend it nor grow the attempt row: the cool-down is what the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "tracker.lockout.client_ip"
# Behind one reverse proxy that appends the client's address to X-Forwarded-For (nginx, Caddy, Traefik).
TRUST_X_FORWARDED_FOR = env_bool("TRUST_X_FORWARDED_FOR", False)
# Only failures are kept (and only until their cool-down ends); successful log-ins are not logged forever.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False  # no banner on every manage.py run; failures and lock-outs are still logged
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "tracker.static_storage.HashedStaticFilesStorage"},
}
# Once collectstatic has filled STATIC_ROOT (the image does), its files are served with their precompressed .gz
# twins; the finders' copies would shadow them uncompressed. Before that (tests, a fresh checkout), the finders.
WHITENOISE_USE_FINDERS = DEBUG or not STATIC_ROOT.is_dir()
# Collected files carry their content hash in their name, vendored bundles their pinned version
# (static/vendor/README.md): both are cached for good.
WHITENOISE_IMMUTABLE_FILE_TEST = r"(/vendor/[^/]+-\d+\.\d+\.\d+\.min\.js|\.[0-9a-f]{12}\.\w+)$"

# Request bodies: small everywhere, large enough on ingest endpoints for the documented batch.
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 1024 * 1024)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024)
# Django's own cap must admit the ingest limit; the middleware enforces the smaller one elsewhere.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(MAX_BODY_BYTES, INGEST_MAX_BODY_BYTES)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tracker.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "tracker.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "tracker.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Deploy Tracker API",
    "DESCRIPTION": "Deploy events, live metrics, prediction samples, verdicts, alerts and rollbacks.",
    "VERSION": "1.0.0",
    # 3.1: schemas are JSON Schema 2020-12, so the ingest payloads' schemas (msgspec) are served as they are.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets are served from the sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A URL with one APIView per operation (tracker.operations) is documented from each operation's view.
    "PREPROCESSING_HOOKS": ["tracker.openapi.operations_split"],
    # Several answers carry a `verdict`, each with its own choices: each choice set gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "ImpactVerdictEnum": "metrics.stats.impact.VERDICTS",
        "ShadowVerdictEnum": "metrics.shadow.api.VERDICTS",
        "ShadowQualityVerdictEnum": "metrics.shadow.api.QUALITY_VERDICTS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tracker.openapi.add_error_responses",
        "deployments.openapi.provider_headers",
        "alerts.openapi.alert_webhook",
        "rollbacks.openapi.rollback_webhook",
        "tracker.openapi.any_value_may_be_null",
    ],
}

# Celery: Redis in production; with neither REDIS_URL nor CELERY_BROKER_URL set, tasks run in-process.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded default's worker: kombu's filesystem transport needs no service.
    _queue_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
else:
    # Fail fast when Redis is down: requests must still answer promptly (the sweep catches up).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
        "max_retries": 0,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Every periodic schedule lives here.
CELERY_BEAT_SCHEDULE = {
    # Re-enqueue deploys whose processing never ran (lost message, dead worker).
    "deploys-sweep": {"task": "deployments.tasks.deploys_sweep", "schedule": 60.0},
    # Recompute impact reports of deploys in their window, finalise ended ones, resend lost recomputations.
    "impacts-sweep": {"task": "metrics.impact.tasks.impacts_sweep", "schedule": 60.0},
    # Drop raw metric points past METRIC_RETENTION_DAYS (PostgreSQL: whole day partitions), rollups past
    # METRIC_ROLLUP_RETENTION_DAYS.
    "metrics-retention": {"task": "metrics.impact.tasks.metrics_retention", "schedule": 3600.0},
    # Create the raw metric points' day partitions up to a week ahead (PostgreSQL; a no-op on SQLite).
    "metrics-partitions": {"task": "metrics.impact.tasks.metrics_partitions", "schedule": 3600.0},
    # Refresh drift reports of deploys in their window, finalise ended ones, resend lost recomputations.
    "drift-sweep": {"task": "metrics.drift.tasks.drift_sweep", "schedule": 60.0},
    # Forget prediction batch ids (retry dedup) past METRIC_RETENTION_DAYS.
    "samples-retention": {"task": "metrics.drift.tasks.samples_retention", "schedule": 3600.0},
    # Expire rollback requests past their deadline; re-enqueue sends whose message was lost (or retries due).
    "rollbacks-sweep": {
        "task": "rollbacks.tasks.rollbacks_sweep",
        "schedule": float(env_int("ROLLBACK_SWEEP_SECONDS", 60)),
    },
    # Flush alert groups that are due and re-enqueue due or orphaned alert deliveries.
    "alerts-sweep": {"task": "alerts.tasks.alerts_sweep", "schedule": float(env_int("ALERT_SWEEP_SECONDS", 15))},
}
# In-process mode has no beat: a thread of the web process runs the schedule above (tracker/inprocess.py).
INPROCESS_SWEEPS = CELERY_TASK_ALWAYS_EAGER and env_bool("INPROCESS_SWEEPS", True)

# Who may scrape /metrics (every project's deploy counts): a bearer token, client networks, or both; neither: 404.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a CIDR like 10.0.0.0/8") from None

# Outbound HTTP (alert deliveries, rollback requests) and its SSRF guard.
OUTBOUND_ALLOW_HTTP = env_bool("OUTBOUND_ALLOW_HTTP", False)
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS")
# Wall-clock seconds one outbound attempt may take, however slowly the receiver answers; at most 30 so an
# attempt always ends well inside the send tasks' time limits and the outbox leases.
OUTBOUND_TIMEOUT_SECONDS = env_int("OUTBOUND_TIMEOUT_SECONDS", 15)
if not 1 <= OUTBOUND_TIMEOUT_SECONDS <= 30:
    raise ImproperlyConfigured(f"OUTBOUND_TIMEOUT_SECONDS must be 1-30, not {OUTBOUND_TIMEOUT_SECONDS}")

# Rollback requests: minutes CI has to finish one before it expires; first retry delay of a failed send.
ROLLBACK_EXPIRY_MINUTES = env_int("ROLLBACK_EXPIRY_MINUTES", 60)
ROLLBACK_RETRY_BASE_SECONDS = env_int("ROLLBACK_RETRY_BASE_SECONDS", 30)

# Encryption of stored secrets: Fernet keys, newest first (the newest encrypts, all decrypt; see README).
# Unset, a key derived from SECRET_KEY; FIELD_ENCRYPTION_KEY is the older one-key spelling.
FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS", fallback="FIELD_ENCRYPTION_KEY")

# Deploy analysis.
OBSERVATION_WINDOW_MINUTES = env_int("OBSERVATION_WINDOW_MINUTES", 60)
# Raw metric points are kept this many days (older posts are refused); per-minute rollups much longer.
METRIC_RETENTION_DAYS = env_int("METRIC_RETENTION_DAYS", 30)
METRIC_ROLLUP_RETENTION_DAYS = env_int("METRIC_ROLLUP_RETENTION_DAYS", 400)
# Series caps: distinct metric names per service, distinct label sets per metric name (beyond: a 422).
METRIC_MAX_NAMES_PER_SERVICE = env_int("METRIC_MAX_NAMES_PER_SERVICE", 200)
METRIC_MAX_LABEL_SETS_PER_METRIC = env_int("METRIC_MAX_LABEL_SETS_PER_METRIC", 1000)

# Alerts: Alertmanager's grouping defaults, hysteresis, delivery retries, channel disabling.
ALERT_GROUP_WAIT_SECONDS = env_int("ALERT_GROUP_WAIT_SECONDS", 30)
ALERT_GROUP_INTERVAL_SECONDS = env_int("ALERT_GROUP_INTERVAL_SECONDS", 300)
ALERT_REPEAT_INTERVAL_SECONDS = env_int("ALERT_REPEAT_INTERVAL_SECONDS", 4 * 3600)
ALERT_CLEAN_REPORTS = env_int("ALERT_CLEAN_REPORTS", 3)
ALERT_DELIVERY_MAX_ATTEMPTS = env_int("ALERT_DELIVERY_MAX_ATTEMPTS", 8)
ALERT_RETRY_BASE_SECONDS = env_int("ALERT_RETRY_BASE_SECONDS", 30)
ALERT_RETRY_CAP_SECONDS = env_int("ALERT_RETRY_CAP_SECONDS", 3600)
ALERT_CHANNEL_DISABLE_AFTER = env_int("ALERT_CHANNEL_DISABLE_AFTER", 10)
# In-process mode ignores a retry's eta, so there the sweep is the normal path and needs no head start.
ALERT_SWEEP_GRACE_SECONDS = env_int("ALERT_SWEEP_GRACE_SECONDS", 0 if CELERY_TASK_ALWAYS_EAGER else 10)
PAGERDUTY_EVENTS_URL = env_str("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue")
PAGERDUTY_CHANGE_URL = env_str("PAGERDUTY_CHANGE_URL", "https://events.pagerduty.com/v2/change/enqueue")

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Bounds each SMTP operation of an e-mail alert (the SMTP server is the operator's, not a project's).
EMAIL_TIMEOUT = OUTBOUND_TIMEOUT_SECONDS
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "deploy-tracker@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Eager mode would log every in-process task at INFO.
        "celery.app.trace": {"level": "WARNING"},
        # django-axes says INFO for every failed log-in's housekeeping; failures themselves are WARNING.
        "axes": {"level": "WARNING"},
    },
}
