"""mcpsite settings: every knob is an environment variable with a working default.

With nothing set the hub runs embedded (SQLite file, in-memory channel layer,
local-memory cache, eager Celery). ``REDIS_URL`` moves the channel layer, cache and
Celery broker to Redis together; ``DATABASE_URL`` moves the database. Each setting
below is listed once in the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# The embedded defaults are for a developer's machine; production must say so.
PRODUCTION = env.bool("PRODUCTION", default=False)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=1.")
    # A development key is generated once and kept, so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "mcpsite.admin.HubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "knox",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "tools",
    "tools.federation",
    "executions",
    "mcp_server",
    "realtime",
    "authserver",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "mcpsite.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (admin, task pane, API docs) are served by the app itself under daphne.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "mcpsite.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "mcpsite.asgi.application"

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

# --- Database -------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
# What SQLite may keep in one process, all its connections' page caches together (below).
SQLITE_HEAP_LIMIT_MB = env.int("SQLITE_HEAP_LIMIT_MB", default=4)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (inline tools, async doors, federation jobs) write at once. WAL lets
    # readers go on beside a writer; IMMEDIATE takes the write lock when a transaction
    # begins, so a writer waits (up to the timeout) instead of failing on a lock upgrade.
    #
    # Each thread keeps its own connection (below), and each connection its own page cache
    # of up to 2 MB (SQLite's default): the web process's memory grew with the database
    # until every request thread's cache was full, about 1 MB per 2,000 calls (issue 10:
    # web RSS). The soft heap limit caps what SQLite holds in the whole process: past it,
    # connections reuse their cache's oldest pages instead of taking more. A page SQLite
    # gave up is still in the OS's file cache, so reading it again costs a copy, not I/O.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command=(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            f"PRAGMA soft_heap_limit={SQLITE_HEAP_LIMIT_MB * 1024 * 1024}"
        ),
    )
    # Tests use a file too, not Django's shared-cache memory database: there a reader
    # makes a writer in another thread fail at once ("table is locked"), which no
    # deployment ever sees.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(DATA_DIR / "test-db.sqlite3"))
    # Each thread keeps its connection (opening one, with its PRAGMAs, on every call cost
    # more than the call: issue 10).
    DATABASES["default"]["CONN_MAX_AGE"] = None
    # DRF looks for PostgreSQL's model fields (rest_framework.compat imports
    # django.contrib.postgres.fields), and that import loads the psycopg driver whenever it
    # is installed: 10 MB of every process's memory on SQLite, where no PostgreSQL field can
    # be used (the project has none). A None in sys.modules makes that one import fail as
    # if it were not installed, which DRF expects (issue 10: web RSS).
    sys.modules.setdefault("django.contrib.postgres.fields", None)  # type: ignore[arg-type]
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Connections come from a pool (psycopg_pool) and go back to it when a request, a
    # thread hop or a tool call ends: after warm-up a call opens no connection (issue 10).
    # Each serving or worker process has its own pool of at most DATABASE_POOL_MAX_SIZE.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        # A thread that finds every connection taken waits this long, then the request fails.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
# A connection is checked before it is used (from the pool, or kept by a thread), so after
# a PostgreSQL restart the next request reconnects instead of failing on a dead socket
# (issue 16).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# django-prometheus's backends count statements and connections (its SQLite one through
# mcpsite.backends.sqlite3, which builds its cursor class once instead of per statement).
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.sqlite3", "mcpsite.backends.sqlite3"
).replace("django.db.backends.", "django_prometheus.db.backends.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Date-time formats with seconds in the admin (mcpsite/formats/en/formats.py).
FORMAT_MODULE_PATH = ["mcpsite.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Files not collected yet (a fresh checkout, the tests) are found in the apps directly.
WHITENOISE_USE_FINDERS = True

# --- Redis: one URL moves the channel layer, cache and broker together ----------
REDIS_URL = env.str("REDIS_URL", default="")

# Short timeouts so a slow or dead Redis costs a call a fraction of a second instead
# of hanging it (issue 16): the cache is an optimisation, never a reason to fail.
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=0.5)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
# After a cache (Redis) error, calls skip the cache for this many seconds before one probes
# it again (mcpsite/breaker.py): a dead Redis costs one timeout, not one per call.
REDIS_BREAKER_SECONDS = env.float("REDIS_BREAKER_SECONDS", default=5.0)
# /readyz answers within this many seconds: a check still waiting (a hung Redis) is "down".
READYZ_TIMEOUT = env.float("READYZ_TIMEOUT", default=0.8)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "mcpsite.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
                        # channels-redis receives with a blocking BZPOPMIN of up to 5 s;
                        # redis-py 8's default 5 s socket timeout raced it and closed idle
                        # task pane sockets with 1011 (issue 16). The read timeout must
                        # outlast the blocking receive.
                        "socket_timeout": 15,
                        "health_check_interval": 30,
                    }
                ]
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
            "LOCATION": "mcpsite",
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker, background tools run in-process at dispatch time.
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=not (REDIS_URL or env.str("CELERY_BROKER_URL", default=""))
)
CELERY_TASK_EAGER_PROPAGATES = False
# A broker that is down costs a call about a second, then a clear 503 (queue_unavailable),
# rather than Celery's default publish retries of several seconds.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after each task (and,
# under prefork, discards the whole PostgreSQL pool) unless this is set: then only every
# 2x this many tasks. Between tasks, executions.tasks gives connections back to the pool
# and drops a broken one (close_old_connections), as a web request does.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=500)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # API tokens (create_token) and OAuth access tokens of the hub's authorization server.
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "mcpsite.rest.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "mcpsite.rest.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "mcpsite.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mcpsite API",
    "DESCRIPTION": "Tools, executions and sessions of the mcpsite MCP tool hub.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc are served from the sidecar package: the machines are offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

KNOX_TOKEN_MODEL = "accounts.APIToken"
# knox's own migrations would create its (swapped-out) token table, which then blocks
# TRUNCATE of the user table on PostgreSQL; our token model has its own migration.
MIGRATION_MODULES = {"knox": None}
REST_KNOX: dict[str, Any] = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "mcps_",
    "TOKEN_TTL": timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=90))
    if env.int("API_TOKEN_TTL_DAYS", default=90)
    else None,
}

# Bodies above this size get 413 on every HTTP door.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=5 * 1024 * 1024)
# How deeply a request body or WebSocket frame may nest arrays and objects, and a tool
# call's arguments (mcpsite/jsonlimits.py): deeper is refused before it is parsed.
MAX_JSON_DEPTH = env.int("MAX_JSON_DEPTH", default=64)
MAX_ARGUMENT_DEPTH = env.int("MAX_ARGUMENT_DEPTH", default=32)

# --- Tool execution ---------------------------------------------------------------
TOOL_DEFAULT_TIMEOUT = env.float("TOOL_DEFAULT_TIMEOUT", default=30.0)
TOOL_BACKGROUND_TIMEOUT = env.float("TOOL_BACKGROUND_TIMEOUT", default=600.0)
TOOL_RATE_LIMIT = env.str("TOOL_RATE_LIMIT", default="120/m")
TOOL_CACHE_TTL = env.int("TOOL_CACHE_TTL", default=300)
TOOL_MAX_RESULT_BYTES = env.int("TOOL_MAX_RESULT_BYTES", default=2 * 1024 * 1024)

# The tool process pool of each serving process (executions/toolpool.py): built-in tools
# run there, never on a thread of the process that serves HTTP and WebSockets.
TOOL_POOL_SIZE = env.int("TOOL_POOL_SIZE", default=max(2, os.cpu_count() or 2))
TOOL_POOL_QUEUE = env.int("TOOL_POOL_QUEUE", default=8 * TOOL_POOL_SIZE)
# One user may hold at most this many of the pool's places (running or waiting).
TOOL_POOL_PER_USER = env.int("TOOL_POOL_PER_USER", default=max(1, (TOOL_POOL_SIZE + TOOL_POOL_QUEUE) // 2))
TOOL_PROCESS_MEMORY_MB = env.int("TOOL_PROCESS_MEMORY_MB", default=2048)
# CPU seconds one call may use (0: as many as its timeout allows).
TOOL_PROCESS_CPU_SECONDS = env.float("TOOL_PROCESS_CPU_SECONDS", default=0.0)
# A tool process is replaced after this many calls (0: never), so that leaks stay bounded.
TOOL_PROCESS_MAX_CALLS = env.int("TOOL_PROCESS_MAX_CALLS", default=500)

FETCH_URL_MAX_BYTES = env.int("FETCH_URL_MAX_BYTES", default=2 * 1024 * 1024)
FETCH_URL_TIMEOUT = env.float("FETCH_URL_TIMEOUT", default=10.0)
# CIDR ranges fetch_url may reach despite being private (tests use 127.0.0.0/8).
FETCH_URL_ALLOWED_NETWORKS = env.list("FETCH_URL_ALLOWED_NETWORKS", default=[])
# CA certificates (PEM file) fetch_url verifies https against instead of the default
# bundle, e.g. an intranet CA for hosts opened by FETCH_URL_ALLOWED_NETWORKS.
FETCH_URL_CA_BUNDLE = env.str("FETCH_URL_CA_BUNDLE", default="")

WEB_SEARCH_PROVIDER = env.str("WEB_SEARCH_PROVIDER", default="")
WEB_SEARCH_URL = env.str("WEB_SEARCH_URL", default="")
WEB_SEARCH_API_KEY = env.str("WEB_SEARCH_API_KEY", default="")
# Seconds web_search waits for the search provider.
WEB_SEARCH_TIMEOUT = env.float("WEB_SEARCH_TIMEOUT", default=10.0)
# Bytes of a search provider's answer web_search reads at most.
WEB_SEARCH_MAX_BYTES = env.int("WEB_SEARCH_MAX_BYTES", default=1024 * 1024)

# Seconds a find_replace regular expression may run before it is stopped.
FIND_REPLACE_REGEX_TIMEOUT = env.float("FIND_REPLACE_REGEX_TIMEOUT", default=1.0)

# --- Word Add-in WebSocket (/ws/addin/) ------------------------------------------------
# Origins the task pane may connect from: "host" (any scheme and port) or "https://host:port".
ADDIN_ALLOWED_ORIGINS = env.list("ADDIN_ALLOWED_ORIGINS", default=["127.0.0.1", "localhost", "[::1]"])
# Seconds a new connection has to send its auth frame before it is closed (4001).
ADDIN_WS_AUTH_TIMEOUT = env.float("ADDIN_WS_AUTH_TIMEOUT", default=5.0)
# Signed-in task pane sockets one token may hold open in a process (closed with 4030 beyond).
ADDIN_WS_MAX_PER_TOKEN = env.int("ADDIN_WS_MAX_PER_TOKEN", default=20)
# Frames larger than this close the connection (1009); larger results are sent as a link
# to the REST API. Daphne refuses messages over 1 MiB unless started with a larger
# --websocket-max-message-size, so raise both together.
ADDIN_WS_MAX_FRAME_BYTES = env.int("ADDIN_WS_MAX_FRAME_BYTES", default=1024 * 1024)
# Frames per connection (N/s, N/m); a client sending more is closed (4029).
ADDIN_WS_RATE_LIMIT = env.str("ADDIN_WS_RATE_LIMIT", default="20/s")

# Seconds a web process told to stop (SIGTERM) lets its running tool calls finish before
# it cancels them and exits. Keep the container's stop timeout above it (compose.yaml).
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", default=20.0)

# --- Background executions on workers -----------------------------------------------------
# Celery's soft limit is the tool's timeout plus this grace, its hard limit twice the grace.
CELERY_TIME_LIMIT_GRACE = env.float("CELERY_TIME_LIMIT_GRACE", default=30.0)
# A worker marks each execution it runs alive this often (in the shared cache).
EXECUTION_HEARTBEAT_SECONDS = env.float("EXECUTION_HEARTBEAT_SECONDS", default=5.0)
# A running background execution without a heartbeat for this long has lost its worker.
EXECUTION_LOST_AFTER = env.float("EXECUTION_LOST_AFTER", default=30.0)
# How often the reaper looks for lost executions (a thread of every serving process, and
# celery beat in `make worker`).
EXECUTION_REAPER_INTERVAL = env.float("EXECUTION_REAPER_INTERVAL", default=15.0)
# A background execution still pending (its task never started) after this many seconds
# is ended as error: its task was lost. Raise it where tasks may queue longer than this.
EXECUTION_QUEUE_TIMEOUT = env.float("EXECUTION_QUEUE_TIMEOUT", default=900.0)
CELERY_BEAT_SCHEDULE = {
    # A run that waited behind long tools for a whole interval is dropped: the next one comes.
    "reap-executions": {
        "task": "executions.reap_executions",
        "schedule": EXECUTION_REAPER_INTERVAL,
        "options": {"expires": max(EXECUTION_REAPER_INTERVAL, 1.0)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Federation: remote MCP servers ---------------------------------------------------------
# Seconds between health checks of each enabled remote server (0 turns them off).
FEDERATION_HEALTH_INTERVAL = env.float("FEDERATION_HEALTH_INTERVAL", default=30.0)
# Seconds between looks for remote servers added, changed or removed by other processes.
FEDERATION_RELOAD_INTERVAL = env.float("FEDERATION_RELOAD_INTERVAL", default=5.0)
# Seconds an unused pooled session to a remote server stays open.
FEDERATION_IDLE_TIMEOUT = env.float("FEDERATION_IDLE_TIMEOUT", default=300.0)
# Longest wait (seconds) between reconnect attempts to an unreachable server (backoff doubles up to it).
FEDERATION_BACKOFF_MAX = env.float("FEDERATION_BACKOFF_MAX", default=30.0)
# Fernet keys (comma-separated) for remote servers' secrets at rest: the first encrypts,
# all decrypt (rotation). Empty: one key derived from SECRET_KEY.
FEDERATION_SECRET_KEYS = env.list("FEDERATION_SECRET_KEYS", default=[])
# The hub's OAuth client ID towards remote servers' authorization servers: the https URL
# where they fetch its client metadata document (the hub serves it at
# /federation/oauth-client.json). Empty: derived from an https MCP_PUBLIC_URL, else the
# hub registers itself (dynamic client registration) where the server allows it.
FEDERATION_OAUTH_CLIENT_METADATA_URL = env.str("FEDERATION_OAUTH_CLIENT_METADATA_URL", default="")

# --- The MCP server at /mcp (and manage.py mcp_stdio) -------------------------------------
# Calls without a token act as the low-privilege user "mcp-anonymous". Off by default;
# only for a hub on loopback (the conformance run turns it on).
MCP_ALLOW_ANONYMOUS = env.bool("MCP_ALLOW_ANONYMOUS", default=False)
# Stateless Streamable HTTP: no Mcp-Session-Id, each request stands alone. Use it when
# several processes serve /mcp behind a load balancer without sticky sessions.
MCP_STATELESS = env.bool("MCP_STATELESS", default=False)
# Seconds without a request after which a stateful MCP session is closed.
MCP_SESSION_IDLE_TIMEOUT = env.float("MCP_SESSION_IDLE_TIMEOUT", default=1800.0)
# What a call reads on every call (token -> user, tool configuration, sessions) is kept in
# each process; any change empties it everywhere at once (mcpsite/processcache.py), and an
# entry is never kept longer than this.
PROCESS_CACHE_SECONDS = env.float("PROCESS_CACHE_SECONDS", default=30.0)
# A session's last_activity is written at most this often, not on every call.
SESSION_ACTIVITY_WRITE_SECONDS = env.float("SESSION_ACTIVITY_WRITE_SECONDS", default=60.0)
# Open stateful sessions per process; a new session beyond it gets 503.
MCP_MAX_SESSIONS = env.int("MCP_MAX_SESSIONS", default=1000)
# Open handshake-era sessions one token may hold in a process (429 beyond), so that one
# client cannot take every session MCP_MAX_SESSIONS allows.
MCP_MAX_SESSIONS_PER_TOKEN = env.int("MCP_MAX_SESSIONS_PER_TOKEN", default=50)
# Largest request body on /mcp, in bytes (413 beyond).
MCP_MAX_BODY_BYTES = env.int("MCP_MAX_BODY_BYTES", default=4 * 1024 * 1024)
# Browser origins allowed to call /mcp besides the hub's own ("http://host:*" allows any port).
MCP_ALLOWED_ORIGINS = env.list(
    "MCP_ALLOWED_ORIGINS", default=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
)
# The hub's public base URL (https://hub.example.com) for the protected-resource
# metadata; by default the URL the request came to.
MCP_PUBLIC_URL = env.str("MCP_PUBLIC_URL", default="")
# Authorization servers named in that metadata; by default the hub itself, which issues the tokens.
MCP_AUTHORIZATION_SERVERS = env.list("MCP_AUTHORIZATION_SERVERS", default=[])
# Dotted paths of extra MCP providers (tools, prompts, resources; see
# mcp_server/providers.py), e.g. the test suite's conformance fixtures.
MCP_EXTRA_PROVIDERS = env.list("MCP_EXTRA_PROVIDERS", default=[])
# The MCP SDK's OpenTelemetry span around every request: "auto" (on when a tracer
# provider is installed in the process), or on/off.
MCP_TRACE_SPANS = None if env.str("MCP_TRACE_SPANS", default="auto") == "auto" else env.bool("MCP_TRACE_SPANS")
# Seconds a 2026-07-28 call that asked its client something (an input request) waits for
# the answers; also the lifetime of its sealed requestState.
MCP_INPUT_TIMEOUT = env.float("MCP_INPUT_TIMEOUT", default=600.0)
# Seconds an MCP task (tasks extension) stays readable by its client after it was created.
MCP_TASK_TTL = env.int("MCP_TASK_TTL", default=86400)
# 2025-11-25 SSE streams: the retry hint (ms) of their priming event, how long (s) their
# events are kept for a client that resumes with Last-Event-ID, and at most how many bytes
# of them a web process keeps (in its memory, where its sessions live; the oldest go first).
MCP_SSE_RETRY_MS = env.int("MCP_SSE_RETRY_MS", default=1000)
MCP_EVENT_TTL = env.int("MCP_EVENT_TTL", default=600)
MCP_EVENT_STORE_BYTES = env.int("MCP_EVENT_STORE_BYTES", default=8 * 1024 * 1024)

# --- The hub as an OAuth 2.1 authorization server (django-oauth-toolkit) ----------------
# What MCP clients that sign in by OAuth may ask for. A token without tools:call lists but
# cannot call; without executions:read it cannot read executions (REST, execution://).
OAUTH_SCOPES = {
    "tools:read": "See the tools you may use",
    "tools:call": "Run tools as you",
    "executions:read": "Read your tool executions and their results",
}
# Seconds an OAuth access token lives, and a refresh token (0: until revoked).
OAUTH_ACCESS_TOKEN_TTL = env.int("OAUTH_ACCESS_TOKEN_TTL", default=3600)
OAUTH_REFRESH_TOKEN_TTL = env.int("OAUTH_REFRESH_TOKEN_TTL", default=30 * 86400)
# RFC 7591 dynamic client registration (open, as MCP clients expect); an operator may switch it off.
OAUTH_DYNAMIC_REGISTRATION = env.bool("OAUTH_DYNAMIC_REGISTRATION", default=True)
# Client ID metadata documents: an https URL as client_id, fetched with fetch_url's SSRF guard.
OAUTH_CLIENT_METADATA_DOCUMENTS = env.bool("OAUTH_CLIENT_METADATA_DOCUMENTS", default=True)
# Redirect URI schemes a client may register (desktop apps may use their own, e.g. "cursor").
OAUTH_REDIRECT_URI_SCHEMES = env.list("OAUTH_REDIRECT_URI_SCHEMES", default=["http", "https"])
OAUTH2_PROVIDER = {
    "SCOPES": OAUTH_SCOPES,
    "DEFAULT_SCOPES": ["__all__"],
    "OAUTH2_VALIDATOR_CLASS": "authserver.validators.HubOAuth2Validator",
    # Authorization code with PKCE (S256 only) is the one way in; refresh tokens rotate,
    # and a reused one revokes its whole family.
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_TTL,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_TTL or None,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 120,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_basic", "client_secret_post"],
    "ALLOWED_REDIRECT_URI_SCHEMES": OAUTH_REDIRECT_URI_SCHEMES,
    # Native apps listen on a loopback port of their choosing (RFC 8252).
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "DCR_ENABLED": OAUTH_DYNAMIC_REGISTRATION,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "CIMD_ENABLED": OAUTH_CLIENT_METADATA_DOCUMENTS,
    "CIMD_METADATA_FETCHER": "authserver.client_metadata.GuardedMetadataFetcher",
    # The issuer behind a proxy; by default the URL the request came to.
    "OIDC_ISS_ENDPOINT": MCP_PUBLIC_URL.rstrip("/"),
    "OAUTH2_PROTECTED_RESOURCE_NAME": "mcpsite",
    "ACCESS_TOKEN_ADMIN_CLASS": "authserver.admin.HubAccessTokenAdmin",
}
LOGIN_URL = "/oauth/login/"

# --- Logging: JSON lines with the request id -----------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mcpsite.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        # stderr, so that stdout stays clean for `mcp_stdio` and `create_token`.
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per HTTP request to a remote MCP server is noise at INFO.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
