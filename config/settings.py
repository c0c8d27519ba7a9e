"""Flowtower settings.

Everything that differs between machines comes from the environment (or a .env file next to
manage.py), read through django-environ's typed helpers so a malformed value fails at start-up
instead of at the first request. Every variable is listed in README.md and .env.example.
"""

import ipaddress
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# DEBUG is off unless asked for: only the demo (`make run`) turns it on.
DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    # Refuse to run with a guessable key (what `check --deploy` requires): sessions and CSRF
    # tokens depend on it.
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters with at least 5 different "
        "characters (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "auditlog",
    "axes",
    "django_prometheus",
    "channels",
    "monitoring",
    "alerts",
    "n8n_mirror",
]

MIDDLEWARE = [
    "monitoring.middleware.RequestContextMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last: the whole chain and the view run in one thread under ASGI (monitoring/sync_chain.py).
    "monitoring.sync_chain.SyncChainMiddleware",
]

if DEBUG:
    # runserver serves static files itself in the demo; WhiteNoise is for production.
    MIDDLEWARE.remove("whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "monitoring.web.views.navigation",
            ],
        },
    },
]

# SQLite by default so `make run` needs nothing installed; PostgreSQL is the production
# database (DATABASE_URL=postgres://...) and the one the tests run on.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo writes from a feeder process while the server reads and writes: WAL and immediate
    # transactions avoid "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # PostgreSQL through a connection pool per process (Django's built-in psycopg pool). Under
    # ASGI every request runs in a thread of its own, and persistent per-thread connections took
    # every slot PostgreSQL had; the pool caps a process at DB_POOL_MAX_SIZE connections, and a
    # request waits up to DB_POOL_TIMEOUT seconds for one before it is answered 503. Size it so
    # that max size × processes (web, worker, beat) stays under PostgreSQL's max_connections.
    # Connections are checked before use, so a restarted PostgreSQL costs no failed request.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # with a pool: each connection checked on checkout
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
# django-prometheus' wrapper of the same backend counts queries, their duration, errors and connections
# (django_db_*). It only adds a cursor class and counters: the pool, health checks and OPTIONS above are
# unchanged (with the pool, django_db_new_connections_total counts checkouts from the pool).
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    # Short socket timeouts: a Redis that is down or unreachable must cost a request milliseconds
    # (throttling then counts per process, see monitoring.api.throttling), not hang it.
    CACHES = {
        "default": {
            # Django's own Redis cache, counting gets, hits and misses (django_cache_*): django-prometheus'
            # redis wrapper needs django-redis, which Flowtower does not use.
            "BACKEND": "monitoring.metrics.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # capacity: messages waiting for one socket before the layer drops new ones, so a client that
    # stops reading costs bounded memory; expiry: seconds an undelivered message is kept.
    # socket_timeout: the layer receives with a blocking BZPOPMIN of 5 s (channels-redis'
    # brpop_timeout), so reads must be allowed longer than that; redis-py 8 made 5 s the default,
    # which closed every quiet websocket with 1011. 10 s still notices a Redis that stops answering.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 10}], "capacity": 200, "expiry": 30},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 200}}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Sign-in attempts are limited (django-axes): after FLOWTOWER_LOGIN_FAILURE_LIMIT failures for one
# username from one address, that pair is locked out for FLOWTOWER_LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("FLOWTOWER_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.int("FLOWTOWER_LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = env.int("FLOWTOWER_PROXY_COUNT", default=0) or None

LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:overview"
LOGOUT_REDIRECT_URL = "web:login"

# Request bodies: one place to bound what a client can make us parse.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("FLOWTOWER_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# --- security: on unless DEBUG ---------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Probes (compose health checks, the blackbox exporter) call /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "monitoring.api.auth.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "monitoring.api.throttling.ServiceTokenThrottle",
        "monitoring.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "service_token": env.str("FLOWTOWER_THROTTLE_TOKEN", default="1200/min"),
        "user": env.str("FLOWTOWER_THROTTLE_USER", default="600/min"),
    },
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "monitoring.api.pagination.LimitOffset",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "monitoring.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": False,
    "DEFAULT_PARSER_CLASSES": ["monitoring.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flowtower API",
    "DESCRIPTION": "Execution logs, errors, performance metrics and alerts for workflow automation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ErrorSeverityEnum": "monitoring.models.ErrorSeverity",
        "AlertSeverityEnum": "monitoring.models.AlertSeverity",
        "AlertStatusEnum": "monitoring.models.AlertStatus",
        "DeliveryStatusEnum": "alerts.models.DeliveryStatus",
    },
}

# --- Flowtower ------------------------------------------------------------------------------------
# Retention per record type, in days (the prune task and `manage.py prune` use these).
FLOWTOWER_RETENTION_DAYS = {
    "logs": env.int("FLOWTOWER_RETENTION_LOGS_DAYS", default=90),
    "errors": env.int("FLOWTOWER_RETENTION_ERRORS_DAYS", default=180),
    "performance": env.int("FLOWTOWER_RETENTION_PERFORMANCE_DAYS", default=180),
    "alerts": env.int("FLOWTOWER_RETENTION_ALERTS_DAYS", default=180),
    "executions": env.int("FLOWTOWER_RETENTION_EXECUTIONS_DAYS", default=180),
}
FLOWTOWER_PRUNE_CHUNK = env.int("FLOWTOWER_PRUNE_CHUNK", default=5000)
# A directory where retention writes each execution-log partition before dropping it (gzip CSV,
# `manage.py load_archive FILE` loads one back); empty: partitions are dropped without an archive.
FLOWTOWER_ARCHIVE_DIR = env.str("FLOWTOWER_ARCHIVE_DIR", default="")
if FLOWTOWER_ARCHIVE_DIR and not Path(FLOWTOWER_ARCHIVE_DIR).is_absolute():
    raise ImproperlyConfigured(f"FLOWTOWER_ARCHIVE_DIR must be an absolute path (got {FLOWTOWER_ARCHIVE_DIR!r}).")
FLOWTOWER_BATCH_MAX_ITEMS = env.int("FLOWTOWER_BATCH_MAX_ITEMS", default=1000)
FLOWTOWER_MAX_LIMIT = env.int("FLOWTOWER_MAX_LIMIT", default=1000)
FLOWTOWER_MAX_METADATA_BYTES = env.int("FLOWTOWER_MAX_METADATA_BYTES", default=64 * 1024)
FLOWTOWER_IDEMPOTENCY_TTL_HOURS = env.int("FLOWTOWER_IDEMPOTENCY_TTL_HOURS", default=24)
FLOWTOWER_MASK_KEYS = env.list(
    "FLOWTOWER_MASK_KEYS",
    default=["password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
             "private_key", "credential"],
)

# --- alerting ---------------------------------------------------------------------------------------
# Fernet keys (comma-separated; the first encrypts, all decrypt) for integration secrets: alert
# channels' webhook URLs, keys, bot tokens and SMTP passwords, n8n API keys. See docs/security.md.
FLOWTOWER_ENCRYPTION_KEYS = env.list("FLOWTOWER_ENCRYPTION_KEYS", default=[])
# Outbound calls (webhooks, Slack, …) go to user-supplied URLs: they may not reach loopback,
# private, link-local or metadata addresses unless this is on (a local install, the tests).
FLOWTOWER_ALLOW_PRIVATE_OUTBOUND = env.bool("FLOWTOWER_ALLOW_PRIVATE_OUTBOUND", default=False)
# Networks (CIDR, comma-separated) outbound calls may reach even with that off, e.g. an internal
# chat server: FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS=10.20.0.0/16 (the metadata service stays refused).
FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS = env.list("FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS", default=[])
# The address people reach Flowtower at: notifications link to their alert's page under it.
FLOWTOWER_BASE_URL = env.str("FLOWTOWER_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Seconds a delivery may take (connect + read), attempts before giving up, failed deliveries in a
# row before the Channels page marks a channel failing.
FLOWTOWER_DELIVERY_TIMEOUT = env.float("FLOWTOWER_DELIVERY_TIMEOUT", default=10.0)
FLOWTOWER_DELIVERY_MAX_ATTEMPTS = env.int("FLOWTOWER_DELIVERY_MAX_ATTEMPTS", default=5)
FLOWTOWER_CHANNEL_FAILING_AFTER = env.int("FLOWTOWER_CHANNEL_FAILING_AFTER", default=3)

# --- n8n mirror -----------------------------------------------------------------------------------
# Seconds an n8n instance may keep failing to sync before its team gets an alert (n8n_mirror.health):
# one failed pass is often a restart of n8n, five minutes of them is an outage. 0: alert at once.
FLOWTOWER_N8N_SYNC_ALERT_AFTER = env.int("FLOWTOWER_N8N_SYNC_ALERT_AFTER", default=300)
if FLOWTOWER_N8N_SYNC_ALERT_AFTER < 0:
    raise ImproperlyConfigured("FLOWTOWER_N8N_SYNC_ALERT_AFTER must be a number of seconds, 0 or more.")

# --- metrics (docs/metrics.md) -----------------------------------------------------------------------
# /metrics (web) and the worker's metrics port answer a request only when it passes every rule set here:
# a bearer token (Authorization: Bearer <token>) and/or a source address in one of the networks. With
# neither set, they answer 403 to everyone.
FLOWTOWER_METRICS_TOKEN = env.str("FLOWTOWER_METRICS_TOKEN", default="")
if FLOWTOWER_METRICS_TOKEN and len(FLOWTOWER_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("FLOWTOWER_METRICS_TOKEN must be at least 16 characters (or unset).")
FLOWTOWER_METRICS_ALLOWED_NETWORKS = [n.strip() for n in env.list("FLOWTOWER_METRICS_ALLOWED_NETWORKS", default=[])
                                      if n.strip()]
for _network in FLOWTOWER_METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"FLOWTOWER_METRICS_ALLOWED_NETWORKS: {_network!r} is not a network (CIDR, e.g. 10.0.0.0/8).")
# Workflows per team with a label of their own in flowtower_executions_total / _duration_seconds; the
# team's later workflows (by creation) are counted as workflow="other".
FLOWTOWER_METRICS_MAX_WORKFLOWS = env.int("FLOWTOWER_METRICS_MAX_WORKFLOWS", default=100)
if FLOWTOWER_METRICS_MAX_WORKFLOWS < 0:
    raise ImproperlyConfigured("FLOWTOWER_METRICS_MAX_WORKFLOWS must be 0 or more.")
# The Celery worker's own /metrics port (0: none).
FLOWTOWER_WORKER_METRICS_PORT = env.int("FLOWTOWER_WORKER_METRICS_PORT", default=9808)
if not 0 <= FLOWTOWER_WORKER_METRICS_PORT <= 65535:
    raise ImproperlyConfigured("FLOWTOWER_WORKER_METRICS_PORT must be a port number, or 0 for none.")
FLOWTOWER_WORKER_METRICS_ADDRESS = env.str("FLOWTOWER_WORKER_METRICS_ADDRESS", default="0.0.0.0")
# Prometheus scrapes the web container over the compose network in plain HTTP (the token travels
# inside that network only): /metrics is not redirected to HTTPS. Reached from outside, put it
# behind the TLS proxy like every other page.
SECURE_REDIRECT_EXEMPT = [*globals().get("SECURE_REDIRECT_EXEMPT", []), r"^metrics$"]  # beside /healthz

# Email notifications: SMTP (EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587), or the
# console in the demo.
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://127.0.0.1:25")
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="flowtower@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Celery ---------------------------------------------------------------------------------------
# Without Redis (the demo) tasks run eagerly; the in-memory broker is named with a host so kombu
# does not warn about a missing one on every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker and beat log through LOGGING below like the web process (JSON lines on stdout), instead of
# Celery replacing the root logger's handlers with its own format (config/celery.py applies LOGGING).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat writes each periodic task's last_run_at after every task it sends, not once every 3 minutes:
# /healthz judges whether beat runs by it (monitoring.health.checks.celery_beat).
CELERY_BEAT_SYNC_EVERY = 1

# --- audit trail (django-auditlog) ----------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False
# Audit entries carry the request id (as their correlation id), set by monitoring.middleware.
AUDITLOG_CID_HEADER = None

# --- logging: JSON lines on stdout (python-json-logger), ready for Loki -----------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
# Servers (Daphne, Celery worker and beat) log to stdout, where Docker and Promtail collect it;
# management commands to stderr, keeping their stdout for what they print (a token, the MCP protocol).
_COMMAND = Path(sys.argv[0]).name in ("manage.py", "django-admin")
LOG_STREAM = env.str("LOG_STREAM", default="stderr" if _COMMAND else "stdout")
if LOG_STREAM not in ("stdout", "stderr"):
    raise ImproperlyConfigured("LOG_STREAM must be stdout or stderr.")
# LOGGING below, with Python warnings logged too (monitoring.log_context.configure).
LOGGING_CONFIG = "monitoring.log_context.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # Every record gets what is known of its request or task (request_id, user, team, token prefix,
    # workflow_id, execution_id, task, task_id): monitoring.log_context.
    "filters": {"context": {"()": "monitoring.log_context.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"],
                    "stream": f"ext://sys.{LOG_STREAM}"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Replaces Django's own "django" logger set-up (a console handler of its own at INFO): one
        # line per record, at LOG_LEVEL, through the root handler.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # Warnings through the root handler too (Django's default gives them a console of their own).
        "py.warnings": {"handlers": [], "propagate": True},
    },
}

# --- Monitoring section of Django admin (super admins only; docs/health-and-logs.md) -----------------
# Where super admins reach Grafana (its dashboards are embedded in /admin/observability/), Prometheus and
# Alertmanager, as their browsers see them, e.g. https://grafana.example.com. Unset: the page says how
# to set them. GRAFANA_URL's origin is the only one that page may frame.
GRAFANA_URL = env.str("GRAFANA_URL", default="").rstrip("/")
PROMETHEUS_URL = env.str("PROMETHEUS_URL", default="").rstrip("/")
ALERTMANAGER_URL = env.str("ALERTMANAGER_URL", default="").rstrip("/")
for _name in ("GRAFANA_URL", "PROMETHEUS_URL", "ALERTMANAGER_URL"):
    if vars()[_name] and not vars()[_name].startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{_name} must be an http:// or https:// address (or unset).")
