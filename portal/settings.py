"""Settings for the certificate portal, driven by environment variables.

With no environment at all the portal runs on a laptop: SQLite, a filesystem
Celery broker (a real worker process, no server), console e-mail. Production
sets the variables documented in the README (DATABASE_URL, CELERY_BROKER_URL,
SECRET_KEY, KEY_ENCRYPTION_KEYS, ALLOWED_HOSTS, EMAIL_URL, DEBUG=0).
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

TESTING = env.bool("TESTING", default=False)
# `make run` writes `.env` (DEBUG=1) so that `manage.py` and Celery started by hand read the
# same demo settings as the Makefile's own commands. Variables already in the environment win;
# the test suite never reads it. A production host has no `.env` (DEBUG=0 is the default).
DOTENV = BASE_DIR / ".env"
if not TESTING and DOTENV.is_file():
    environ.Env.read_env(DOTENV, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Development defaults that must never reach production: refused when DEBUG is off.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (refused without DEBUG)
_DEV_KEY_ENCRYPTION_KEY = "ZGV2LW9ubHkta2V5LWVuY3J5cHRpb24ta2V5LTMyYiE="

SECRET_KEY = env("SECRET_KEY", default=_DEV_SECRET_KEY)
# Base64 AES-256 keys wrapping private keys at rest: the first encrypts, all decrypt.
KEY_ENCRYPTION_KEYS = env.list("KEY_ENCRYPTION_KEYS", default=[_DEV_KEY_ENCRYPTION_KEY])
if not DEBUG and not TESTING:
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    if _DEV_KEY_ENCRYPTION_KEY in KEY_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("KEY_ENCRYPTION_KEYS must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "portal",
    "portal.api",
    "finess",
    "officines",
    "certificates",
    "notifications",
    "ops",
    "psc",
    "console",
]

MIDDLEWARE = [
    "portal.proxy.TrustedProxyMiddleware",  # X-Forwarded-* only from TRUSTED_PROXIES
    "ops.requestid.RequestIdMiddleware",  # X-Request-ID, stamped on every log line
    "ops.health.HealthCheckMiddleware",  # probes: no host check, redirect or session
    "ops.http_metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.DatabaseUnavailableMiddleware",  # DB down: a clean 503, not a 500
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "portal.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.language.UserLanguageMiddleware",  # a person's chosen language, on any browser
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.middleware.RequireMFAMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "django.template.context_processors.i18n",
                "portal.context_processors.tenant",
                "psc.context_processors.psc",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server and a worker share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        # JIT compilation was costly on coverage filters of a 10,000-officine editor
        # and never pays off for web queries (BENCHMARKS.md); override with PG_OPTIONS.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "options", env("PG_OPTIONS", default="-c jit=off")
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def cache_config(url: str) -> dict:
    """CACHE_URL as Django settings; Redis through `portal.resilient_cache` (no 500 when down)."""
    config = environ.Env.cache_url_config(url)
    if config["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        # Rate limits and lockouts only: while Redis is down they count per process.
        config["BACKEND"] = "portal.resilient_cache.ResilientRedisCache"
    return config


CACHES = {"default": cache_config(env("CACHE_URL", default="locmemcache://"))}

AUTH_USER_MODEL = "portal.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: e-mail login, no open sign-up (people join by invitation), TOTP MFA.
ACCOUNT_ADAPTER = "psc.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Per IP for the password step; "key" limits the MFA code step (per user). Wrong passwords
# lock one (account, address) pair, growing from LOGIN_LOCKOUT_SECONDS (portal.login_lockout).
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=60)
LOGIN_LOCKOUT_MAX_SECONDS = env.int("LOGIN_LOCKOUT_MAX_SECONDS", default=3600)
# Pro Santé Connect (CPS card, e-CPS): shown on the login page once configured. The issuer's
# /.well-known/openid-configuration gives the endpoints (BAS sandbox or production).
PSC_ISSUER_URL = env("PSC_ISSUER_URL", default="")
PSC_CLIENT_ID = env("PSC_CLIENT_ID", default="")
PSC_CLIENT_SECRET = env("PSC_CLIENT_SECRET", default="")
PSC_SCOPES = env("PSC_SCOPES", default="openid scope_all").split()
SOCIALACCOUNT_ADAPTER = "psc.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {}
if PSC_ISSUER_URL and PSC_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["psc"] = {
        "APPS": [
            {
                "client_id": PSC_CLIENT_ID,
                "secret": PSC_CLIENT_SECRET,
                "settings": {
                    "server_url": PSC_ISSUER_URL,
                    "oauth_pkce_enabled": True,
                    "uid_field": "SubjectNameID",
                },
            }
        ]
    }
# The login form's redirect goes to PSC's authorization endpoint, which may live on another
# host than the issuer (PSC: wallet.esw.esante.gouv.fr, BAS: wallet.bas.esw.esante.gouv.fr).
CSP_FORM_ACTION_ORIGINS = env.list(
    "PSC_AUTHORIZATION_ORIGINS",
    default=[f"{_psc.scheme}://{_psc.netloc}"] if (_psc := urlsplit(PSC_ISSUER_URL)).netloc else [],
)
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never link an identity by its e-mail alone
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_QUERY_EMAIL = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_ADAPTER = "portal.mfa_secrets.MFAAdapter"  # TOTP secrets and recovery seeds encrypted
# The enrolment secret is drawn once per session, not on every GET (portal/mfa_forms.py).
MFA_FORMS = {"activate_totp": "portal.mfa_forms.StableSecretActivateTOTPForm"}
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="Portail certificats officines")

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts the files gunicorn (whitenoise) serves when DEBUG is off.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Uploads: certificates, CSRs and CSV files are small; refuse anything large early.
MAX_UPLOAD_SIZE = env.int("MAX_UPLOAD_SIZE", default=5 * 1024 * 1024)
# Longest parse of one uploaded certificate file; key derivations (PKCS#12, encrypted keys)
# run in a child process killed at this limit (docs/SECURITY.md).
UPLOAD_PARSE_SECONDS = env.float("UPLOAD_PARSE_SECONDS", default=5.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_SIZE + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_SIZE

# E-mail
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Portail certificats <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security headers; production values apply whenever DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies whose X-Forwarded-For/-Proto are believed (addresses, CIDR, host names);
# portal.proxy drops those headers from anyone else.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = not DEBUG and not TESTING
CSRF_COOKIE_SECURE = not DEBUG and not TESTING
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Probes over plain HTTP behind a TLS proxy (ops.health answers them before any redirect).
SECURE_REDIRECT_EXEMPT = [r"^healthz/"]
X_FRAME_OPTIONS = "DENY"

# Celery: the default broker is a folder on disk so `make run` needs no server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _control_dir = VAR_DIR / "celery" / "control"
    for _folder in (_queue_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(_control_dir),
    }
else:
    # Short socket timeouts: a dead Redis must fail fast (the outbox keeps the work).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # visibility_timeout: set below, from the longest task.
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 0,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=14 * 60)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workers log through LOGGING below (JSON lines with LOG_FORMAT=json, task and request ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
ALERT_SCAN_HOUR = env.int("ALERT_SCAN_HOUR", default=7)
ALERT_SCAN_MINUTE = env.int("ALERT_SCAN_MINUTE", default=0)
# Renewal alerts (notifications app): a digest claim older than this is taken over.
ALERT_CLAIM_TIMEOUT = env.int("ALERT_CLAIM_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 300)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=8)
# http://localhost webhooks (tests, local LGO development); always allowed when DEBUG.
WEBHOOK_ALLOW_HTTP_LOCALHOST = env.bool("WEBHOOK_ALLOW_HTTP_LOCALHOST", default=False)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# Redis hands an unacknowledged task to another worker after this many seconds. It must
# exceed the longest a task legitimately stays unacknowledged: its run (hard time limit) or
# the countdown of a retry held by a worker (webhooks: 2**(attempts-1) minutes, digests: 1 h),
# else the task runs twice. Lost key generations do not wait for it: revive_requests.
LONGEST_TASK_SECONDS = max(CELERY_TASK_TIME_LIMIT, 60 * 2 ** (WEBHOOK_MAX_ATTEMPTS - 1), 3600)
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=LONGEST_TASK_SECONDS + 300)
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = CELERY_VISIBILITY_TIMEOUT
# A server-mode request started longer ago than this without a CSR lost its worker
# (key generation is limited to 2 minutes) and is re-enqueued (certificates.request_revival).
REQUEST_STALL_TIMEOUT = env.int("REQUEST_STALL_TIMEOUT", default=180)
# Renewal campaigns: a PENDING/RUNNING campaign with no progress for this many seconds lost
# its task (broker restarted without persistence, message dropped) and is re-enqueued. Longer
# than the hard time limit, so a live run (its heartbeat moves at least once per task) is
# never doubled.
CAMPAIGN_STALL_TIMEOUT = env.int("CAMPAIGN_STALL_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 300)
# FINESS referential (finess app): the published file is fetched monthly from FINESS_URL;
# with no URL (offline) the newest file dropped in FINESS_DROP_DIR is loaded instead.
FINESS_URL = env("FINESS_URL", default="")
FINESS_DROP_DIR = Path(env("FINESS_DROP_DIR", default=str(VAR_DIR / "finess")))
FINESS_REFRESH_DAY = env.int("FINESS_REFRESH_DAY", default=2)
FINESS_DOWNLOAD_TIMEOUT = env.float("FINESS_DOWNLOAD_TIMEOUT", default=120.0)
# A full file with fewer établissements than (1 - this) x the current referential is refused.
FINESS_MAX_SHRINK = env.float("FINESS_MAX_SHRINK", default=0.2)
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "drain-outbox": {"task": "portal.tasks.drain_outbox", "schedule": 60.0},
    "revive-stalled-campaigns": {"task": "certificates.tasks.revive_campaigns", "schedule": 300.0},
    "revive-stalled-requests": {"task": "certificates.tasks.revive_requests", "schedule": 60.0},
    "repair-stored-coverage": {
        "task": "certificates.tasks.repair_coverage",
        "schedule": crontab(hour=3, minute=30),
    },
    "daily-renewal-alert-scan": {
        "task": "notifications.tasks.daily_scan",
        "schedule": crontab(hour=ALERT_SCAN_HOUR, minute=ALERT_SCAN_MINUTE),
    },
    "monthly-finess-refresh": {
        "task": "finess.tasks.refresh_referential",
        "schedule": crontab(day_of_month=FINESS_REFRESH_DAY, hour=5, minute=15),
    },
}

# Revocation learnt from IGC Santé (certificates.revocation; docs/OPERATIONS.md).
# Hours between two CRL passes of beat (each fetch is conditional: ETag / Last-Modified).
REVOCATION_CHECK_INTERVAL_HOURS = env.float("REVOCATION_CHECK_INTERVAL_HOURS", default=6.0)
REVOCATION_HTTP_TIMEOUT = env.float("REVOCATION_HTTP_TIMEOUT", default=10.0)
REVOCATION_MAX_CRL_BYTES = env.int("REVOCATION_MAX_CRL_BYTES", default=50 * 1024 * 1024)
# Outgoing proxy for CRL and OCSP requests (http://proxy:3128), none by default.
REVOCATION_HTTP_PROXY = env("REVOCATION_HTTP_PROXY", default="")
# A mirror serving the CRL files under their published names: <mirror>/ACI-EL-ORG.crl.
REVOCATION_CRL_MIRROR = env("REVOCATION_CRL_MIRROR", default="")
# Closed networks: read <dir>/ACI-EL-ORG.crl (files dropped there) instead of the network;
# OCSP is then off too.
REVOCATION_OFFLINE_DIR = env("REVOCATION_OFFLINE_DIR", default="")
# Per issuing CA (its CN): {"TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS":
#   {"crl": "http://mirror/ACI-EL-ORG-TEST.crl", "ocsp": "http://ocsp.mirror"}} (JSON).
REVOCATION_CA_OVERRIDES = env.json("REVOCATION_CA_OVERRIDES", default={})
REVOCATION_OCSP_ENABLED = env.bool("REVOCATION_OCSP_ENABLED", default=True)
# When a CA's CRL cannot be had, OCSP is asked for at most this many of its certificates
# per pass (least recently checked first).
REVOCATION_OCSP_FALLBACK_LIMIT = env.int("REVOCATION_OCSP_FALLBACK_LIMIT", default=200)
# Without a successful CRL or OCSP answer for this long, a certificate shows
# "statut de révocation inconnu" instead of "valide".
REVOCATION_UNKNOWN_AFTER_HOURS = env.float("REVOCATION_UNKNOWN_AFTER_HOURS", default=48.0)
CELERY_BEAT_SCHEDULE["check-revocation"] = {
    "task": "certificates.tasks.check_revocation",
    "schedule": REVOCATION_CHECK_INTERVAL_HOURS * 3600,
}

# Certificates
TRUST_ANCHORS_DIR = Path(env("TRUST_ANCHORS_DIR", default=str(VAR_DIR / "trust-anchors")))
CERTIFICATE_KEY_ALGORITHM = env("CERTIFICATE_KEY_ALGORITHM", default="RSA")
CERTIFICATE_KEY_SIZE = env.int("CERTIFICATE_KEY_SIZE", default=2048)
# Keys accepted in uploaded CSRs: algorithm -> minimum size in bits.
CSR_ALLOWED_KEYS = env.dict("CSR_ALLOWED_KEYS", cast={"value": int}, default={"RSA": 2048})

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # API (portal/api): errors as RFC 9457 problems; request rates per API key / session user.
    "EXCEPTION_HANDLER": "portal.api.problems.problem_exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env("API_RATE_PER_KEY", default="1200/minute"),
        "api_session": env("API_RATE_PER_SESSION", default="600/minute"),
        "api_anon": env("API_RATE_ANONYMOUS", default="60/minute"),
    },
}
# Base of the `type` URI of API problems (RFC 9457): <base>/<slug>, e.g. .../validation-error.
API_PROBLEM_BASE_URL = env("API_PROBLEM_BASE_URL", default="/api/v1/problems/")
# How long a POST's Idempotency-Key is remembered (seconds).
API_IDEMPOTENCY_TTL = env.int("API_IDEMPOTENCY_TTL", default=24 * 3600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Portail certificats officines — API LGO",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # API (portal/api)
    "DESCRIPTION": (
        "REST API for LGOs (pharmacy-management software): officines, IGC Santé organisation "
        "certificates, certificate requests, renewal campaigns and webhooks of one editor. "
        "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problems "
        "(`application/problem+json`). POST accepts an `Idempotency-Key` header. "
        "Lists use cursor pagination (`next`/`previous` links, `page_size` up to 100)."
    ),
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CertificateStatusEnum": "certificates.models.Status",
        "RequestStatusEnum": "certificates.models.RequestStatus",
        "CampaignStatusEnum": "certificates.models.CampaignStatus",
        "KeyModeEnum": "certificates.models.KeyMode",
        "CampaignKeyModeEnum": "certificates.models.CAMPAIGN_KEY_MODES",
        "ProfileEnum": "certificates.models.Profile",
        "Pkcs12ProfileEnum": "certificates.exports.PKCS12_PROFILES",
        "EnvironmentEnum": "officines.models.Environment",
        "CoverageStateEnum": "certificates.coverage.CoverageState",
        "WebhookEventEnum": "notifications.models.WebhookEvent",
        "WebhookDeliveryStatusEnum": "notifications.models.WebhookDelivery.Status",
    },
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "TAGS": [
        {"name": "officines", "description": "Pharmacies, addressed by FINESS géographique."},
        {"name": "certificates", "description": "Issued certificates: read, download, import."},
        {"name": "certificate-requests", "description": "Orders prepared for the ANS platform."},
        {"name": "campaigns", "description": "Many renewals at once, one ZIP for ANS."},
        {"name": "webhooks", "description": "Signed certificate events sent to the LGO."},
        {"name": "meta", "description": "Credentials check and discovery."},
    ],
}

# Operations (ops): /metrics needs a bearer token (404 without one), optionally from listed
# networks only (CIDRs, e.g. 10.0.0.0/8); eager task runs are recorded in tests only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
OPS_RECORD_EAGER_TASKS = env.bool("OPS_RECORD_EAGER_TASKS", default=TESTING)

# LOG_FORMAT=json: one JSON object per line with request id, user, editor, API key prefix
# and task id (portal.logcontext); plain text otherwise.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "portal.logcontext.ContextFilter"},
        "redact": {"()": "portal.log_redaction.RedactSecretsFilter"},  # calendar feed tokens
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logcontext.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
