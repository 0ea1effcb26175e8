"""Dash settings: everything comes from the environment (12-factor) with defaults that
run the embedded stack on one machine (SQLite under var/, the Redis that `make run` starts)."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

SECRET_KEY = env("DASH_SECRET_KEY", default="dev-insecure-change-me-0123456789abcdefghijklmnopqrstuvwxyz")
DEBUG = env.bool("DASH_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DASH_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DASH_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "allauth.usersessions",
    "dash",
    "partners",
    "orders",
    "devices",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "dash.urls"
WSGI_APPLICATION = "dash.wsgi.application"
ASGI_APPLICATION = "dash.asgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dash.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL + IMMEDIATE transactions let web, worker and beat share the file without
    # "database is locked" errors; writers queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DASH_CONN_MAX_AGE", default=300)
    # Lets dash.hotpath prepare the device intake's statements on the server (Django's own
    # client-side-bound cursors never prepare). Behind a transaction-pooling PgBouncer, set
    # DASH_PG_PREPARE=false.
    if env.bool("DASH_PG_PREPARE", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
    # Off by default: a health check is one more round trip on every request. After a database
    # restart a worker's first request fails (the device retries the same event id, safely)
    # and Django drops the broken connection.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DASH_CONN_HEALTH_CHECKS", default=False)
    # Names this process's connections in pg_stat_activity (web, worker ...); an
    # ?application_name= in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("application_name", env("DASH_DB_APPLICATION_NAME", default="dash"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache, channel layer ----------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6390/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dash",
    }
}
# The core layer: group membership lives in Redis, so a page whose socket has just joined gets
# the next message for sure. (The pub/sub layer's group send is one PUBLISH, but a message
# published while the SUBSCRIBE is still on its way is lost: the live e2e test caught it.)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "dash:ch"},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered; every task is idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # Django's LOGGING applies in the worker too
# Celery's Django fixup closes the database connection before and after every task unless this
# is set (celery 5.7, as pinned), so each task paid a new PostgreSQL session: a fork on the server, the
# login and Django's setup (`make bench`: 435 background sessions seen in 0.1 s samples of one
# run, where 14-15 PostgreSQL processes live through it), none in the background's cgroup.
# With it the fixup closes them every 1,000 tasks only, and dash.celery closes them as Django
# closes a request's: when CONN_MAX_AGE says so, or broken.
CELERY_DB_REUSE_MAX = 1000
# Sweeps are idempotent and frequent: a sweep that waited in the queue past `expires` is dropped
# rather than piling up while a worker is down.
# The beat sweeps have a queue of their own, so a backlog of submissions never delays a
# release: run one worker with `-Q sweeps` and others on the default queue. Long background
# jobs (the analytics rollup, the retention prunes) have theirs too, `bulk`, so that a release
# never waits behind one of them on the sweeps worker (`make run` runs one worker on all three).
CELERY_TASK_ROUTES = {
    "orders.tasks.release_due_orders": {"queue": "sweeps"},
    "orders.tasks.advance_simulated_commerce": {"queue": "sweeps"},
    "orders.tasks.resubmit_stalled_orders": {"queue": "sweeps"},
    "devices.tasks.prune_device_events": {"queue": "bulk"},
    "orders.tasks.send_order_notices": {"queue": "sweeps"},
}
CELERY_BEAT_SCHEDULE = {
    "release-due-orders": {"task": "orders.tasks.release_due_orders", "schedule": 1.0, "options": {"expires": 10}},
    "advance-simulated-commerce": {"task": "orders.tasks.advance_simulated_commerce", "schedule": 2.0, "options": {"expires": 10}},
    "resubmit-stalled-orders": {"task": "orders.tasks.resubmit_stalled_orders", "schedule": 30.0, "options": {"expires": 60}},
    "prune-device-events": {"task": "devices.tasks.prune_device_events", "schedule": 600.0, "options": {"expires": 600}},
    "send-order-notices": {"task": "orders.tasks.send_order_notices", "schedule": 5.0, "options": {"expires": 30}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_ONLY = False
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
# Mail goes to the console by default; set DASH_EMAIL_URL (smtp://user:pass@host:587) for SMTP.
_email_url = env("DASH_EMAIL_URL", default="")
if _email_url:
    _email = env.email_url_config(_email_url)
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email["EMAIL_HOST"],
                "port": _email["EMAIL_PORT"],
                "username": _email["EMAIL_HOST_USER"],
                "password": _email["EMAIL_HOST_PASSWORD"],
                "use_tls": _email.get("EMAIL_USE_TLS", False),
                "use_ssl": _email.get("EMAIL_USE_SSL", False),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env("DASH_FROM_EMAIL", default="Dash <orders@dash.local>")
# Links in e-mails point here.
# Order notices are read from the timeline by a sweep: entries younger than the lag wait for
# the next run (so none is skipped while its transaction commits); older than the max age, none is sent.
DASH_NOTICE_LAG_SECONDS = env.float("DASH_NOTICE_LAG_SECONDS", default=3.0)
DASH_NOTICE_MAX_AGE_HOURS = env.float("DASH_NOTICE_MAX_AGE_HOURS", default=24.0)
DASH_SITE_URL = env("DASH_SITE_URL", default=f"http://127.0.0.1:{env('PORT', default='8000')}")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- DRF and the schema ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dash.api_errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Dash API",
    "DESCRIPTION": "Device intake (v1), customer orders and commerce callbacks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "dash.api_errors.schema_auth_responses"],
}

# --- i18n, static, logging -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env.path("DASH_MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"

LOG_LEVEL = env("DASH_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "kv"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A line per beat tick and per task would bury the order lifecycle lines.
        "celery.beat": {"level": env("DASH_TASK_LOG_LEVEL", default="WARNING")},
        "celery.app.trace": {"level": env("DASH_TASK_LOG_LEVEL", default="WARNING")},
        "celery.worker.strategy": {"level": env("DASH_TASK_LOG_LEVEL", default="WARNING")},
    },
}

# --- Dash itself ----------------------------------------------------------------------
DASH_HOLD_SECONDS = env.int("DASH_HOLD_SECONDS", default=1800)
# seed_demo makes logins with published passwords and tokens derived from the secret key:
# allowed in development, refused under production settings unless a staging site asks for it.
DASH_DEMO = env.bool("DASH_DEMO", default=DEBUG)
DASH_EVENT_RETENTION_HOURS = env.int("DASH_EVENT_RETENTION_HOURS", default=24)
DASH_RELEASE_BATCH = env.int("DASH_RELEASE_BATCH", default=50)
# Per-device throttle (token bucket): a burst of presses is answered; a stuck device is not.
DASH_DEVICE_BURST = env.int("DASH_DEVICE_BURST", default=40)
DASH_DEVICE_RATE_PER_MINUTE = env.int("DASH_DEVICE_RATE_PER_MINUTE", default=60)
DASH_COMMERCE_BACKEND = env("DASH_COMMERCE_BACKEND", default="simulated")
DASH_COMMERCE_URL = env("DASH_COMMERCE_URL", default="")
DASH_COMMERCE_SECRET = env("DASH_COMMERCE_SECRET", default="dev-commerce-secret")
DASH_COMMERCE_TIMEOUT = env.float("DASH_COMMERCE_TIMEOUT", default=10.0)
DASH_COMMERCE_MAX_ATTEMPTS = env.int("DASH_COMMERCE_MAX_ATTEMPTS", default=6)
DASH_COMMERCE_BACKOFF_SECONDS = env.float("DASH_COMMERCE_BACKOFF_SECONDS", default=2.0)
DASH_SIM_SHIP_SECONDS = env.int("DASH_SIM_SHIP_SECONDS", default=20)
DASH_SIM_DELIVER_SECONDS = env.int("DASH_SIM_DELIVER_SECONDS", default=40)

# --- Appliances and device health -------------------------------------------------------
# An appliance reorders when its predicted run-out comes within the product's delivery days
# plus this margin (or when the level reaches the slot's threshold).
DASH_REORDER_MARGIN_DAYS = env.float("DASH_REORDER_MARGIN_DAYS", default=1.0)
# The prediction looks at most this far back into the current cycle; older readings are pruned.
DASH_PREDICTION_WINDOW_DAYS = env.int("DASH_PREDICTION_WINDOW_DAYS", default=45)
DASH_SLOT_READING_RETENTION_DAYS = env.int("DASH_SLOT_READING_RETENTION_DAYS", default=120)
# How long each kind of device may stay silent (no event, no heartbeat) before its customer is told.
# e.g. DASH_SILENT_AFTER_HOURS=button=72,wand=72,appliance=12 (a kind left out is never "silent").
DASH_SILENT_AFTER_HOURS = {
    kind: float(hours)
    for kind, hours in env.dict("DASH_SILENT_AFTER_HOURS", default={"button": "72", "wand": "72", "appliance": "12"}).items()
}
DASH_BATTERY_LOW_PERCENT = env.int("DASH_BATTERY_LOW_PERCENT", default=15)
DASH_HEALTH_SWEEP_SECONDS = env.float("DASH_HEALTH_SWEEP_SECONDS", default=300.0)
CELERY_TASK_ROUTES["devices.tasks.check_device_health"] = {"queue": "sweeps"}
CELERY_TASK_ROUTES["devices.tasks.prune_slot_readings"] = {"queue": "bulk"}
CELERY_BEAT_SCHEDULE["check-device-health"] = {
    "task": "devices.tasks.check_device_health",
    "schedule": DASH_HEALTH_SWEEP_SECONDS,
    "options": {"expires": DASH_HEALTH_SWEEP_SECONDS},
}
CELERY_BEAT_SCHEDULE["prune-slot-readings"] = {"task": "devices.tasks.prune_slot_readings", "schedule": 3600.0, "options": {"expires": 3600}}

# --- Voice clips (wand) -----------------------------------------------------------------
# Local files under MEDIA_ROOT by default; DASH_VOICE_STORAGE=s3 keeps them in an S3-compatible
# bucket through django-storages (AWS S3, MinIO, Ceph ...).
DASH_VOICE_STORAGE = env("DASH_VOICE_STORAGE", default="local")
DASH_VOICE_RETENTION_DAYS = env.float("DASH_VOICE_RETENTION_DAYS", default=7)
if DASH_VOICE_STORAGE == "s3":
    _voice_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("DASH_VOICE_S3_BUCKET", default="dash-voice"),
            "endpoint_url": env("DASH_VOICE_S3_ENDPOINT_URL", default=None),
            "region_name": env("DASH_VOICE_S3_REGION", default=None),
            "access_key": env("DASH_VOICE_S3_ACCESS_KEY", default=None),
            "secret_key": env("DASH_VOICE_S3_SECRET_KEY", default=None),
            "location": "voice",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _voice_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(Path(str(MEDIA_ROOT)) / "voice")}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "voice_clips": _voice_storage,
}
CELERY_TASK_ROUTES["devices.tasks.prune_voice_clips"] = {"queue": "bulk"}
CELERY_BEAT_SCHEDULE["prune-voice-clips"] = {"task": "devices.tasks.prune_voice_clips", "schedule": 3600.0, "options": {"expires": 3600}}
# A clip still processing after this long lost its task (broker down or flushed): queued again.
DASH_VOICE_STALL_SECONDS = env.int("DASH_VOICE_STALL_SECONDS", default=120)
CELERY_TASK_ROUTES["devices.tasks.requeue_stalled_voice_clips"] = {"queue": "sweeps"}
CELERY_BEAT_SCHEDULE["requeue-stalled-voice-clips"] = {"task": "devices.tasks.requeue_stalled_voice_clips", "schedule": 60.0, "options": {"expires": 60}}

# --- Partner analytics (issue 6) --------------------------------------------------------
# Days and hours in the partner figures are the customer's (set on their Settings page, pushed
# down to partners.CustomerTimeZone); customers who never chose one count in this one.
DASH_DEFAULT_TIME_ZONE = env("DASH_DEFAULT_TIME_ZONE", default="UTC")
# The rollup consumes only rows older than this (see partners/analytics/rollup.py: the safe horizon).
DASH_ANALYTICS_LAG_SECONDS = env.int("DASH_ANALYTICS_LAG_SECONDS", default=5)
DASH_ANALYTICS_BATCH = env.int("DASH_ANALYTICS_BATCH", default=2_000_000)
# Any figure describing fewer distinct customers than this is suppressed.
DASH_PRIVACY_MIN_CUSTOMERS = env.int("DASH_PRIVACY_MIN_CUSTOMERS", default=5)
CELERY_TASK_ROUTES["partners.tasks.rollup_analytics"] = {"queue": "bulk"}
# How often beat runs the rollup: the partner figures' freshness. Each run reads what came in
# since the last, so a shorter period means the same work in smaller bursts.
DASH_ANALYTICS_ROLLUP_SECONDS = env.float("DASH_ANALYTICS_ROLLUP_SECONDS", default=20.0)
if not DASH_ANALYTICS_ROLLUP_SECONDS > 0:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"DASH_ANALYTICS_ROLLUP_SECONDS must be a positive number of seconds, not {DASH_ANALYTICS_ROLLUP_SECONDS:g}."
    )
CELERY_BEAT_SCHEDULE["rollup-analytics"] = {
    "task": "partners.tasks.rollup_analytics",
    "schedule": DASH_ANALYTICS_ROLLUP_SECONDS,
    "options": {"expires": max(30.0, DASH_ANALYTICS_ROLLUP_SECONDS * 1.5)},
}

# --- Abuse limits and production security (issue 7) ------------------------------------
# allauth counts attempts in the cache (Redis): per IP and per key ("login_failed" per
# account), answering 429 once a limit is reached.
ACCOUNT_RATE_LIMITS = {
    "login": env("DASH_RATE_LOGIN", default="30/m/ip"),
    "login_failed": env("DASH_RATE_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env("DASH_RATE_SIGNUP", default="20/m/ip"),
    "reset_password": env("DASH_RATE_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    "reset_password_from_key": env("DASH_RATE_RESET_FROM_KEY", default="20/m/ip"),
    "change_password": "5/m/user",
}
# Served behind TLS in production (DASH_DEBUG=false): secure cookies, HSTS, HTTPS redirect
# and a content security policy. `make run` (DEBUG) stays plain http on 127.0.0.1.
_PROD = not DEBUG
SESSION_COOKIE_SECURE = env.bool("DASH_SECURE_COOKIES", default=_PROD)
CSRF_COOKIE_SECURE = env.bool("DASH_SECURE_COOKIES", default=_PROD)
SECURE_SSL_REDIRECT = env.bool("DASH_SSL_REDIRECT", default=_PROD)
# Health, readiness and metrics are probed over plain http inside the host/cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DASH_HSTS_SECONDS", default=31536000 if _PROD else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DASH_HSTS_INCLUDE_SUBDOMAINS", default=_PROD)
SECURE_HSTS_PRELOAD = env.bool("DASH_HSTS_PRELOAD", default=_PROD)
if env.bool("DASH_BEHIND_TLS_PROXY", default=_PROD):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# CSP (Django's own middleware): scripts and styles from self only, no inline script;
# the live page's WebSocket connects back to self (ws:/wss: same host).
from django.utils.csp import CSP

MIDDLEWARE.append("django.middleware.csp.ContentSecurityPolicyMiddleware")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    # The partner heatmap and legends colour cells with style attributes (values, not code).
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
# Claim-code guessing: failed attempts per user / per client IP within the window (devices/abuse.py).
DASH_CLAIM_FAILS_PER_USER = env.int("DASH_CLAIM_FAILS_PER_USER", default=10)
DASH_CLAIM_FAILS_PER_IP = env.int("DASH_CLAIM_FAILS_PER_IP", default=30)
DASH_CLAIM_WINDOW_SECONDS = env.int("DASH_CLAIM_WINDOW_SECONDS", default=900)
# /metrics answers loopback; elsewhere only with `Authorization: Bearer <token>` (empty: loopback only).
DASH_METRICS_TOKEN = env("DASH_METRICS_TOKEN", default="")
