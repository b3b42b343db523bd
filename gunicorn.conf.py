"""gunicorn settings for production: gunicorn -c gunicorn.conf.py app:app (each one overridable from the env)."""

import multiprocessing
import os


def workers_for(environ, cpus):
    """Return WEB_CONCURRENCY if set, else 2 x cores + 1 capped at 8 (each worker holds the model in memory)."""
    configured = environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        return max(1, int(configured))
    return min(2 * cpus + 1, 8)


bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = workers_for(os.environ, multiprocessing.cpu_count())
worker_class = "sync"  # scoring is CPU-bound: processes, not threads
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a 10,000-row API call scores in well under this
graceful_timeout = 30
keepalive = 5
# Load the app (and the model) once in the master; workers share it copy-on-write, and a development
# SECRET_KEY generated at start-up is the same in every worker.
preload_app = True
# Recycle workers now and then to bound memory growth, a few minutes apart at full load: each recycle forks a worker
# that must start the fast path and read the store again. The soak (227,041 requests without recycling) grew RSS 3.5 %.
max_requests = 200_000
max_requests_jitter = 20_000
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LIQUIDITY_LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def hide_server_banner():
    """Drop the `Server: gunicorn` header gunicorn writes on every response: it tells a scanner what to attack, and
    gunicorn has no setting for it."""
    from gunicorn.http import wsgi

    written = wsgi.Response.default_headers
    if getattr(written, "hides_server", False):  # the config file is read again on a reload (HUP)
        return

    def default_headers(self):
        return [line for line in written(self) if not line.lower().startswith("server:")]

    default_headers.hides_server = True
    wsgi.Response.default_headers = default_headers


hide_server_banner()


def post_worker_init(worker):
    """Start the model's fast path (onnxruntime) and build the read model in each worker after the fork, before it
    takes requests: no request waits for either."""
    from liquidity.store import StoreError
    from liquidity.web.extensions import models, read_models

    if not hasattr(worker.wsgi, "extensions"):
        return
    model = models.get(worker.wsgi)
    if model is not None:
        model.warm_up()
    try:
        read_models.get(worker.wsgi).start()  # the first state, and the thread that rebuilds it off the request path
    except StoreError as error:  # the store's pages answer 503 until it can be read; the rest serve
        worker.log.error("read model not built at worker start: %s", error)


def worker_exit(server, worker):
    """Write the prediction log rows a worker still holds before it exits (recycled or stopped)."""
    from liquidity.web.extensions import prediction_logs

    if hasattr(worker.wsgi, "extensions"):
        prediction_logs.flush(worker.wsgi)


def child_exit(server, worker):
    """Count the prediction log rows a worker queued and never wrote (killed, crashed) as lost, in the master: the
    counts every worker shares (liquidity/web/logcounts.py) keep them, and /healthz reports them."""
    if not server.cfg.preload_app:  # the app lives in the workers only: nothing shared to count in
        return
    from liquidity.web.extensions import prediction_logs

    app = server.app.wsgi()
    if hasattr(app, "extensions"):
        lost = prediction_logs.retire(worker.pid, app)
        if lost:
            server.log.error("worker %s exited with %d prediction log row(s) unwritten: counted as lost", worker.pid,
                             lost)
