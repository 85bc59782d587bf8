/*
 * daemon.c - the life cycle of `mandate serve`: configuration, data
 * directory, store, policies, HTTP server, logging, signals, shutdown.
 *
 * Everything the request threads share is created here before the server
 * starts and destroyed after it has stopped; see daemon.h for the order
 * of calls.  Start-up fails closed: any error stops the daemon from
 * starting, with the reason in the log.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "daemon/daemon_int.h"
#include "dev/dev.h"
#include "identity/identity.h"
#include "sts/sts.h"
#include "util/file.h"
#include "util/status.h"
#include "util/utf8.h"

/* ---- logging ---- */

static const char *const level_names[] = { "debug", "info", "warn",
    "error" };

static int
cfg_level(const struct daemon *d)
{
	return d->cfg != NULL ? (int)d->cfg->logging.level : DLOG_INFO;
}

static bool
json_logs(const struct daemon *d)
{
	return d->cfg != NULL && d->cfg->logging.format == CONFIG_LOG_JSON;
}

static void
now_iso(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && n > 0)
		buf[0] = '\0';
}

static void
log_line(struct daemon *d, const char *line, size_t len)
{
	pthread_mutex_lock(&d->log_lock);
	fwrite(line, 1, len, d->log);
	fputc('\n', d->log);
	fflush(d->log);
	pthread_mutex_unlock(&d->log_lock);
}

/* A code point a terminal or a log reader takes as more than one
 * printable character: C0 and C1 controls, DEL (ESC, CSI: escape
 * sequences; NEL, U+2028, U+2029: line ends to readers that split on
 * them) and the bidirectional overrides and isolates, which reorder what
 * is shown of the line. */
static bool
log_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
	    cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* Copy msg into out (cap bytes, NUL-terminated) as valid UTF-8: a byte
 * that is not part of a valid sequence becomes '?' (a JSON line must be
 * UTF-8, and vsnprintf may have cut a character in two), and with
 * `plain` (the text format) so does every log_unsafe character; the JSON
 * format keeps them, escaped by the dump.  Stops before a character that
 * does not fit.  Returns the bytes written. */
static size_t
log_clean(const char *msg, char *out, size_t cap, bool plain)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t n = strlen(msg), i = 0, o = 0;

	while (i < n) {
		size_t k = s[i] < 0x80 ? 1 : utf8_seq_len(s, i, n);
		uint32_t cp = s[i];

		if (k == 2)
			cp = (uint32_t)(s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f);
		else if (k == 3)
			cp = (uint32_t)(s[i] & 0x0f) << 12 |
			    (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
		if (k == 0 || (plain && log_unsafe(cp))) {
			if (o + 1 >= cap)
				break;
			out[o++] = '?';
			i += k == 0 ? 1 : k;
			continue;
		}
		if (o + k >= cap)
			break;
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return o;
}

void
daemon_log(struct daemon *d, enum daemon_log_level lvl, const char *fmt, ...)
{
	char msg[1024], clean[1024], when[32], line[1400];
	const char *text = msg;
	char *hidden = NULL;
	va_list ap;
	int n;

	if ((int)lvl < cfg_level(d))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* a line about a request carries what its client sent: the audit
	 * log's text rules hide the secrets in it (a token as a resource
	 * id or request id, a key in a task's objective quoted by a policy
	 * error), as they do in its records */
	if (d->redact != NULL && strncmp(msg, "request ", 8) == 0) {
		hidden = redact_text(d->redact, str_c(msg));
		text = hidden != NULL ? hidden :
		    "request (message withheld: out of memory)";
	}
	log_clean(text, clean, sizeof(clean), !json_logs(d));
	free(hidden);
	now_iso(when, sizeof(when));
	if (json_logs(d)) {
		/* ASCII only: U+2028, U+2029 and NEL are line ends to some
		 * readers, C1 controls reach a terminal that tails the log */
		json_t *o = json_pack("{s:s,s:s,s:s}", "time", when, "level",
		    level_names[lvl], "msg", clean);
		char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) :
		    NULL;
		if (s != NULL)
			log_line(d, s, strlen(s));
		free(s);
		json_decref(o);
		return;
	}
	/* one event, one line: no control characters from request data */
	n = snprintf(line, sizeof(line), "%s %-5s %s", when, level_names[lvl],
	    clean);
	if (n > 0)
		log_line(d, line, (size_t)n < sizeof(line) ? (size_t)n :
		    sizeof(line) - 1);
}

/* The access log's request id and path segments: what looks like a
 * secret (a client's odd X-Request-ID, a token pasted into a path) is
 * logged as its HMAC, as the audit record keeps it. */
static const char *
access_log_scrub(void *arg, struct str s, char *buf, size_t cap)
{
	struct daemon *d = arg;

	if (d->redact == NULL || cap < REDACT_HMAC_SIZE ||
	    !redact_value_is_secret(s))
		return NULL;
	if (redact_hmac(d->redact, s, buf) != MANDATE_OK)
		return "(hidden)";
	return buf;
}

static bool
access_log_on(void *arg)
{
	return cfg_level(arg) <= DLOG_INFO;
}

static void
access_log(void *arg, const char *line, size_t len)
{
	struct daemon *d = arg;

	if (cfg_level(d) <= DLOG_INFO)
		log_line(d, line, len);
}

static void
identity_log(void *arg, enum identity_log_level level, const char *msg)
{
	daemon_log(arg, level == IDENTITY_LOG_DEBUG ? DLOG_DEBUG :
	    level == IDENTITY_LOG_INFO ? DLOG_INFO : level == IDENTITY_LOG_WARN ?
	    DLOG_WARN : DLOG_ERROR, "identity: %s", msg);
}

static void
store_log(void *ctx, int status, const char *op, const char *msg)
{
	if (status == MANDATE_OK)       /* a notice, not a failure */
		daemon_log(ctx, DLOG_WARN, "store: %s: %s", op, msg);
	else
		daemon_log(ctx, DLOG_WARN, "store: %s: %s (%s)", op, msg,
		    mandate_strerror(status));
}

static void
audit_log_cb(void *ctx, int level, const char *msg)
{
	daemon_log(ctx, level == 0 ? DLOG_INFO : level == 1 ? DLOG_WARN :
	    DLOG_ERROR, "%s", msg);
}

static void
audit_appended_cb(void *ctx, int64_t id)
{
	daemon_audit_appended(ctx, id);
}

/* The redaction key is made at the first start, when the log is empty.
 * A key file missing once the log has records was lost (a damaged disk,
 * a restore that left it out): a new key would go on silently, and the
 * HMAC of a value would no longer match the same value's in the older
 * records, which is what lets an investigator follow a secret through
 * the log without seeing it.  Refused instead, as a lost audit key is
 * (api_audit_log.c); a new key put there on purpose is taken. */
static int
refuse_lost_redact_key(struct daemon *d)
{
	const char *path = d->cfg->audit.redact_key_file;
	merkle_hash head;
	struct stat sb;
	int64_t size = 0;
	int r;

	if (lstat(path, &sb) == 0 || errno != ENOENT)
		return MANDATE_OK;      /* there: read and checked below */
	if ((r = store_audit_tree_head(d->store, &size, head)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit tree head: %s",
		    mandate_strerror(r));
		return r;
	}
	if (size == 0)
		return MANDATE_OK;      /* the first start: made below */
	daemon_log(d, DLOG_ERROR, "the audit redaction key %s is missing, but "
	    "the log already has %" PRId64 " records redacted with it: the "
	    "key was lost, and with a new one a value's HMAC would no longer "
	    "match the same value's in the older records.  Restore the key "
	    "file; to start a new key on purpose, put 32 random bytes (or 64 "
	    "hex digits) there, mode 0600; not starting", path, size);
	return MANDATE_EINVAL;
}

/* The redaction key and the audit writer (before anything is audited). */
static int
audit_setup(struct daemon *d)
{
	const struct config_audit *ac = &d->cfg->audit;
	struct audit_options ao;
	unsigned char key[REDACT_KEY_LEN];
	char err[512];
	int r;

	if ((r = refuse_lost_redact_key(d)) != MANDATE_OK)
		return r;
	if ((r = redact_key_load(ac->redact_key_file, true, key, err,
	    sizeof(err))) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "%s; not starting", err);
		return r;
	}
	r = redact_new(key, sizeof(key), ac->redact_paths.v,
	    ac->redact_paths.n, &d->redact, err, sizeof(err));
	OPENSSL_cleanse(key, sizeof(key));
	if (r != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "%s; not starting", err);
		return r;
	}
	memset(&ao, 0, sizeof(ao));
	ao.store = d->store;
	ao.redact = d->redact;
	ao.mode = d->cfg->logging.audit == CONFIG_AUDIT_ASYNC ? AUDIT_ASYNC :
	    AUDIT_SYNC;
	ao.queue_max = ac->queue_size;
	ao.prompt_max = ac->prompt_max;
	ao.log = audit_log_cb;
	ao.log_ctx = d;
	ao.appended = audit_appended_cb;
	ao.appended_ctx = d;
	if ((r = audit_open(&ao, &d->audit)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit log: %s; not starting",
		    mandate_strerror(r));
		return r;
	}
	if (ao.mode == AUDIT_ASYNC)
		daemon_log(d, DLOG_WARN, "logging.audit is async: answers do "
		    "not wait for their audit records; up to %zu queued "
		    "records are lost if the process dies", ao.queue_max ?
		    ao.queue_max : (size_t)AUDIT_QUEUE_DEFAULT);
	if (!ac->decisions)
		daemon_log(d, DLOG_WARN, "audit.decisions is false: decisions "
		    "are NOT audited (for benchmarks only; unsafe)");
	return MANDATE_OK;
}

/* The start-up record: which configuration this process runs with (a
 * change shows as a different config_hash from the previous start). */
static int
audit_start(struct daemon *d, const char *config_file)
{
	const struct config *cfg = d->cfg;
	unsigned char md[32];
	char hex[65] = "";
	char *src = NULL;
	size_t len = 0;
	json_t *f;

	if (config_file != NULL &&
	    file_read_all(config_file, 1u << 24, &src, &len) == MANDATE_OK) {
		SHA256((const unsigned char *)src, len, md);
		for (int i = 0; i < 32; i++) {
			hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
			hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
		}
		hex[64] = '\0';
		free(src);
	}
	f = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}",
	    "source", config_file ? config_file : "(development defaults)",
	    "config_hash", hex, "previous_config_hash", "",
	    "audit_mode", cfg->logging.audit == CONFIG_AUDIT_ASYNC ? "async" :
	    "sync",
	    "listen", cfg->server.listen,
	    "decisions_audited", cfg->audit.decisions);
	if (f == NULL)
		return MANDATE_ENOMEM;
	{
		/* a configuration change: this hash against the last start's */
		struct store_audit_filter q;
		struct store_audit_event *ev = NULL;
		struct arena a;
		size_t n = 0;

		memset(&q, 0, sizeof(q));
		q.type = STR_LIT("config.loaded");
		q.newest_first = 1;
		q.limit = 1;
		arena_init(&a, 1u << 20);
		if (store_audit_query(d->store, &q, &a, &ev, &n) == MANDATE_OK &&
		    n == 1) {
			json_t *prev = json_loadb(ev[0].fields_json.p,
			    ev[0].fields_json.n, 0, NULL);
			const char *ph = json_string_value(json_object_get(prev,
			    "config_hash"));

			if (ph != NULL)
				json_object_set_new(f, "previous_config_hash",
				    json_string(ph));
			json_object_set_new(f, "changed", json_boolean(ph ==
			    NULL || strcmp(ph, hex) != 0));
			json_decref(prev);
		} else {
			json_object_set_new(f, "changed", json_true());
		}
		arena_free(&a);
	}
	return daemon_audit(d, NULL, "config.loaded", STR_NULL, STR_NULL, f);
}

/* ---- readiness ---- */

/* (the store is checked first: when its own write just failed, the
 * audit log's probe, a record, would only wait for the same lock) */
static int
ready_audit(void *arg)
{
	struct daemon *d = arg;

	if (!atomic_load(&d->store_writable))
		return audit_healthy(d->audit);
	return audit_probe(d->audit, (int64_t)time(NULL));
}

static int
ready_store(void *arg)
{
	struct daemon *d = arg;
	bool ok = store_health(d->store, (int64_t)time(NULL)) == MANDATE_OK;

	atomic_store(&d->store_writable, ok);
	return ok;
}

static int
ready_signing_key(void *arg)
{
	struct daemon *d = arg;
	struct arena a;
	struct str kid;
	int ok;

	arena_init(&a, 1u << 16);
	ok = sts_keys_active_kid(d->sts, &a, &kid) == MANDATE_OK && kid.n > 0;
	arena_free(&a);
	return ok;
}

static int
ready_policies(void *arg)
{
	struct daemon *d = arg;
	return atomic_load(&d->policies) != NULL;
}

/* ---- start-up ---- */

/* --listen HOST:0 asks for any free port, but tokens.issuer (and the
 * development instance's instance.json) must name the port clients will
 * use, and they are derived when the configuration is loaded, before the
 * server binds.  So pick the port first: bind a socket to HOST:0 with
 * SO_REUSEADDR and keep it (not listening) until the server has bound
 * the same port (Linux lets a second SO_REUSEADDR socket bind while the
 * first does not listen); meanwhile no one else is given that port.
 * Writes "HOST:PORT" (brackets kept) to buf.  MANDATE_OK with
 * *listen_out = opt_listen untouched when the port is not 0 or HOST is
 * not a numeric address (the configuration or the bind reports it). */
static int
reserve_port(struct daemon *d, const char *listen, char *buf, size_t size,
    const char **listen_out)
{
	const char *colon = strrchr(listen, ':');
	char host[INET6_ADDRSTRLEN + 2];
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t hn;
	int fd, one = 1, n;
	unsigned port;

	*listen_out = listen;
	if (colon == NULL || strcmp(colon + 1, "0") != 0)
		return MANDATE_OK;
	hn = (size_t)(colon - listen);
	if (hn >= sizeof(host))
		return MANDATE_OK;
	if (hn >= 2 && listen[0] == '[' && listen[hn - 1] == ']') {
		memcpy(host, listen + 1, hn - 2);
		hn -= 2;
	} else {
		memcpy(host, listen, hn);
	}
	host[hn] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host,
	    &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		sl = sizeof(struct sockaddr_in6);
	} else {
		return MANDATE_OK;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		goto fail;
	port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	n = snprintf(buf, size, "%.*s:%u", (int)(colon - listen), listen,
	    port);
	if (n < 0 || (size_t)n >= size) {
		close(fd);
		return MANDATE_EINVAL;
	}
	d->port_hold_fd = fd;
	*listen_out = buf;
	return MANDATE_OK;
fail:
	daemon_log(d, DLOG_ERROR, "cannot listen on %s: %s", listen,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	return MANDATE_EIO;
}

/* One daemon per data directory: a second one would rewrite the
 * development instance's keys and instance.json, and the audit log's
 * checkpoints, under the first.  An exclusive flock on
 * <data_dir>/mandate.lock, held until the process ends (the kernel
 * releases it on any exit); the file records the holder's pid for the
 * message.  Tools that only read (mandate audit verify) do not take it. */
static int
lock_data_dir(struct daemon *d, const char *dir)
{
	char path[4096], pid[32];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/mandate.lock", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return MANDATE_EINVAL;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
		daemon_log(d, DLOG_ERROR, "cannot open %s: %s", path,
		    strerror(errno));
		return MANDATE_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		ssize_t got = pread(fd, pid, sizeof(pid) - 1, 0);

		pid[got > 0 ? got : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			daemon_log(d, DLOG_ERROR, "data directory %s is in use "
			    "by another mandate serve%s%s%s: stop it, or give "
			    "this one its own data_dir; not starting", dir,
			    pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
		else
			daemon_log(d, DLOG_ERROR, "cannot lock %s: %s", path,
			    strerror(e));
		close(fd);
		return MANDATE_EIO;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		daemon_log(d, DLOG_WARN, "%s: cannot record the pid: %s", path,
		    strerror(errno));
	d->lock_fd = fd;
	return MANDATE_OK;
}

static int
make_data_dir(struct daemon *d, const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		daemon_log(d, DLOG_ERROR, "cannot create data directory %s: %s",
		    dir, strerror(errno));
		return MANDATE_EIO;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		daemon_log(d, DLOG_ERROR, "data directory %s is not a "
		    "directory", dir);
		return MANDATE_EIO;
	}
	if ((st.st_mode & 077) != 0)
		daemon_log(d, DLOG_WARN, "data directory %s is accessible to "
		    "other users (mode %03o); it should be 0700", dir,
		    (unsigned)(st.st_mode & 0777));
	return MANDATE_OK;
}

static int
build_server(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct http_config hc;
	static const char *const ev_labels[] = { "event" };
	static const char *const dec_labels[] = { "action", "decision" };
	static const char *const tok_labels[] = { "result" };
	char err[256];
	int r;

	if ((d->metrics = http_metrics_new()) == NULL)
		return MANDATE_ENOMEM;
	d->m_tasks = http_metrics_counter(d->metrics, "mandate_tasks_total",
	    "Task changes (created, ended, revoked agents).", ev_labels, 1);
	d->m_decisions = http_metrics_counter(d->metrics,
	    "mandate_decisions_total", "Cedar decisions made by the API.",
	    dec_labels, 2);
	d->m_tokens = http_metrics_counter(d->metrics, "mandate_tokens_total",
	    "Token endpoint outcomes (issued, refused, error) and "
	    "revocations.", tok_labels, 1);
	d->m_reloads = http_metrics_counter(d->metrics,
	    "mandate_policy_reloads_total", "Policy reloads (SIGHUP, file "
	    "watch, POST /v1/policies/reload): reloaded, refused (the new "
	    "set), failed (its audit record), unchanged (the watch found "
	    "the set in force).", tok_labels, 1);
	if (d->m_tasks == NULL || d->m_decisions == NULL ||
	    d->m_tokens == NULL || d->m_reloads == NULL)
		return MANDATE_ENOMEM;

	memset(&hc, 0, sizeof(hc));
	hc.address = cfg->server.listen_host;
	hc.port = cfg->server.listen_port;
	hc.threads = cfg->server.threads;
	hc.timeout_s = (unsigned)cfg->server.request_timeout;
	hc.max_body = cfg->server.max_body_size;
	hc.connection_memory = cfg->server.connection_memory;
	hc.max_connections = cfg->server.max_connections;
	hc.max_per_ip = cfg->server.max_per_ip;
	hc.tls_cert_file = cfg->server.tls.cert_file;
	hc.tls_key_file = cfg->server.tls.key_file;
	hc.client_ca_file = cfg->server.tls.client_ca_file;
	hc.client_auth = cfg->server.tls.client_auth ==
	    CONFIG_CLIENT_AUTH_REQUIRE ? HTTP_CLIENT_AUTH_REQUIRE :
	    cfg->server.tls.client_auth == CONFIG_CLIENT_AUTH_OPTIONAL ?
	    HTTP_CLIENT_AUTH_OPTIONAL : HTTP_CLIENT_AUTH_NONE;
	hc.log_fn = access_log;
	hc.log_on = access_log_on;
	hc.log_scrub = access_log_scrub;
	hc.log_arg = d;
	hc.metrics = d->metrics;
	hc.encoded_slash = 1;      /* agent ids (SPIFFE IDs) in paths */
	if ((r = http_server_new(&hc, &d->srv, err, sizeof(err))) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "cannot set up the HTTP server: %s",
		    err[0] != '\0' ? err : mandate_strerror(r));
		return r;
	}
	if ((r = api_tasks_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_audit_query_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_keys_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_audit_log_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_oauth_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_decisions_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_authzen_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = api_reload_register(d, d->srv)) != MANDATE_OK)
		return r;
	if ((r = http_server_ready_check(d->srv, "store", ready_store, d)) !=
	    MANDATE_OK || (r = http_server_ready_check(d->srv, "policies",
	    ready_policies, d)) != MANDATE_OK ||
	    (r = http_server_ready_check(d->srv, "signing_key",
	    ready_signing_key, d)) != MANDATE_OK ||
	    (r = http_server_ready_check(d->srv, "audit_log", ready_audit,
	    d)) != MANDATE_OK)
		return r;
	return MANDATE_OK;
}

/* audit.indexes as STORE_AUDIT_INDEX_* bits (the names are checked). */
static unsigned
audit_indexes(const struct config_audit *ac)
{
	unsigned bits = 0;

	for (size_t i = 0; i < ac->indexes.n; i++) {
		const char *name = ac->indexes.v[i];

		if (strcmp(name, "agent") == 0)
			bits |= STORE_AUDIT_INDEX_AGENT;
		else if (strcmp(name, "task") == 0)
			bits |= STORE_AUDIT_INDEX_TASK;
		else if (strcmp(name, "type") == 0)
			bits |= STORE_AUDIT_INDEX_TYPE;
	}
	return bits;
}

/* A SIGHUP before the handlers are installed (start-up reads keys and
 * policies, and may wait on a JWKS fetch for seconds) would end the
 * process: its default action.  Until then it is only noted, and passed
 * on once the self-pipe exists (signals_install), so that a certificate
 * helper's SIGHUP during start-up is a reload once the daemon is up. */
static volatile sig_atomic_t early_hup;

static void
on_early_hup(int sig)
{
	(void)sig;
	early_hup = 1;
}

void
daemon_signals_early(void)
{
	struct sigaction hup;
	struct sigaction old;

	/* A file-size limit (RLIMIT_FSIZE: ulimit -f, systemd's
	 * LimitFSIZE=) reached by the database, its WAL or the checkpoint
	 * file raises SIGXFSZ, whose default action ends the process, with
	 * no word of why.  Ignored, the write fails with EFBIG like one on a
	 * full disk: decisions fail closed, /readyz says not ready and the
	 * log says why, until the limit is raised.  Never restored: the
	 * shutdown's last writes (the queue drained, the WAL checkpointed)
	 * come after the other handlers are. */
	memset(&hup, 0, sizeof(hup));
	sigemptyset(&hup.sa_mask);
	hup.sa_handler = SIG_IGN;
	sigaction(SIGXFSZ, &hup, NULL);
	/* (not over the daemon's own handler, once it is installed) */
	if (sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler != SIG_DFL)
		return;
	memset(&hup, 0, sizeof(hup));
	sigemptyset(&hup.sa_mask);
	hup.sa_handler = on_early_hup;
	sigaction(SIGHUP, &hup, NULL);
}

int
daemon_new(const struct daemon_options *opt, struct daemon **out)
{
	struct daemon *d = NULL;
	struct daemon_policies *pol = NULL;
	struct store_options so;
	struct config_overrides ov;
	char listen_buf[INET6_ADDRSTRLEN + 16];
	int r = MANDATE_ENOMEM;

	*out = NULL;
	daemon_signals_early();
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return MANDATE_ENOMEM;
	d->lock_fd = d->port_hold_fd = -1;
	d->log = opt->log != NULL ? opt->log : stderr;
	if (pthread_mutex_init(&d->log_lock, NULL) != 0) {
		free(d);
		return MANDATE_EINTERNAL;
	}
	if (pthread_mutex_init(&d->policy_lock, NULL) != 0) {
		pthread_mutex_destroy(&d->log_lock);
		free(d);
		return MANDATE_EINTERNAL;
	}
	if (pthread_mutex_init(&d->reload_lock, NULL) != 0) {
		pthread_mutex_destroy(&d->policy_lock);
		pthread_mutex_destroy(&d->log_lock);
		free(d);
		return MANDATE_EINTERNAL;
	}
	if (pthread_mutex_init(&d->swap_lock, NULL) != 0) {
		pthread_mutex_destroy(&d->reload_lock);
		pthread_mutex_destroy(&d->policy_lock);
		pthread_mutex_destroy(&d->log_lock);
		free(d);
		return MANDATE_EINTERNAL;
	}
	d->locks_ok = true;
	atomic_init(&d->policies, NULL);
	atomic_init(&d->decision_next, 0);
	if (RAND_bytes(d->decision_prefix, sizeof(d->decision_prefix)) != 1) {
		r = MANDATE_EINTERNAL;
		goto out;
	}

	memset(&ov, 0, sizeof(ov));
	if (opt->listen != NULL && (r = reserve_port(d, opt->listen,
	    listen_buf, sizeof(listen_buf), &ov.listen)) != MANDATE_OK)
		goto out;
	if ((r = config_load(opt->config_file, &ov, &d->cfg, d->log)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "%s: configuration refused; not "
		    "starting", opt->config_file != NULL ? opt->config_file :
		    "the development instance (no --config)");
		goto out;
	}
	if (d->cfg->store.driver != CONFIG_STORE_SQLITE) {
		daemon_log(d, DLOG_ERROR, "store.driver postgres is not "
		    "supported by this build yet");
		r = MANDATE_EINVAL;
		goto out;
	}
	if ((r = make_data_dir(d, d->cfg->data_dir)) != MANDATE_OK ||
	    (r = lock_data_dir(d, d->cfg->data_dir)) != MANDATE_OK)
		goto out;

	memset(&so, 0, sizeof(so));
	so.log = store_log;
	so.log_ctx = d;
	so.pool_size = d->cfg->server.threads > 0 &&
	    d->cfg->server.threads < 64 ? d->cfg->server.threads : 4;
	so.set_audit_indexes = true;
	so.audit_indexes = audit_indexes(&d->cfg->audit);
	so.check_schema = true;
	if ((r = store_open(&store_sqlite_ops, d->cfg->store.path, &so,
	    &d->store)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "cannot open the store %s: %s",
		    d->cfg->store.path, mandate_strerror(r));
		goto out;
	}
	if ((r = daemon_audit_open(d)) != MANDATE_OK ||
	    (r = audit_setup(d)) != MANDATE_OK)
		goto out;

	if (d->cfg->dev.enabled) {
		char err[512];

		if ((r = dev_setup(d->cfg, err, sizeof(err))) != MANDATE_OK) {
			daemon_log(d, DLOG_ERROR, "development issuers: %s; not "
			    "starting", err);
			goto out;
		}
		daemon_log(d, DLOG_INFO, "development issuers: agents "
		    "spiffe://%s (JWT-SVIDs), people %s; keys in %s/%s",
		    d->cfg->dev.trust_domain, d->cfg->dev.oidc_issuer,
		    d->cfg->data_dir, DEV_SUBDIR);
	}
	if (d->cfg->identity.n_issuers > 0) {
		struct identity_opts io;

		memset(&io, 0, sizeof(io));
		io.log = identity_log;
		io.arg = d;
		if ((r = identity_new(&d->cfg->identity, &io, &d->idv)) !=
		    MANDATE_OK) {
			daemon_log(d, DLOG_ERROR, "identity issuers refused (%s); "
			    "not starting", mandate_strerror(r));
			goto out;
		}
	}
	{
		struct sts_options sto;
		char why[400] = "";

		memset(&sto, 0, sizeof(sto));
		sto.tokens = &d->cfg->tokens;
		sto.publish_delay = (int64_t)d->cfg->tokens.publish_delay;
		sto.audit = d->audit;
		sto.err = why;
		sto.err_len = sizeof(why);
		if ((r = sts_open(&sto, d->store, (int64_t)time(NULL),
		    &d->sts)) != MANDATE_OK) {
			/* with tokens.key_files the key dir is not used:
			 * name the file and what is wrong with it */
			if (why[0] != '\0')
				daemon_log(d, DLOG_ERROR, "signing keys unusable "
				    "(%s); not starting", why);
			else
				daemon_log(d, DLOG_ERROR, "signing keys unusable "
				    "(%s, key dir %s); not starting",
				    mandate_strerror(r), d->cfg->tokens.key_dir);
			goto out;
		}
	}

	if ((r = daemon_policies_load(d->cfg, d->log, &pol)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "policies refused (%s); not starting",
		    mandate_strerror(r));
		goto out;
	}
	daemon_log(d, DLOG_INFO, "loaded %s: %zu policies from %zu files%s%s",
	    pol->origin, cedar_policy_set_count(pol->set), pol->n_files,
	    pol->schema ? ", validated against the schema" : "",
	    pol->entities ? ", with entities" : "");
	if (cedar_policy_set_count(pol->set) == 0)
		daemon_log(d, DLOG_WARN, "no policies: every decision is deny");
	d->policy_fp = daemon_policies_fingerprint(d->cfg);
	daemon_policies_swap(d, pol);
	pol = NULL;
	if ((r = audit_start(d, opt->config_file)) != MANDATE_OK ||
	    (r = daemon_audit_policies(d, "policy.loaded")) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "the audit log cannot be written "
		    "(%s); not starting", mandate_strerror(r));
		goto out;
	}

	if ((r = build_server(d)) != MANDATE_OK)
		goto out;
	*out = d;
	d = NULL;
	r = MANDATE_OK;
out:
	daemon_policies_put(pol);
	daemon_free(d);
	return r;
}

/* The development instance's start-up message: the walkthrough's
 * commands, ready to paste into a second terminal (README.md). */
static void
dev_hint(struct daemon *d, unsigned port)
{
	const struct config *cfg = d->cfg;
	bool dflt = strcmp(cfg->data_dir, "./mandate-data") == 0;
	const char *dd_opt = dflt ? "" : " --data-dir ";
	const char *dd = dflt ? "" : cfg->data_dir;

	daemon_log(d, DLOG_INFO, "development instance: agents of "
	    "spiffe://%s and people of %s are trusted; try, in a second "
	    "terminal in this directory (mandate is build/src/mandate; "
	    "README.md explains each step):", cfg->dev.trust_domain,
	    cfg->dev.oidc_issuer);
	daemon_log(d, DLOG_INFO, "  export MANDATE_SERVER=http://127.0.0.1:%u",
	    port);
	daemon_log(d, DLOG_INFO, "  export MANDATE_TOKEN=$(mandate dev login "
	    "--user alice%s%s)", dd_opt, dd);
	daemon_log(d, DLOG_INFO, "  TASK=$(mandate task create --agent "
	    "spiffe://dev.local/agents/demo --objective 'triage tickets' "
	    "--intent read_ticket | jq -r .id)");
	daemon_log(d, DLOG_INFO, "  SVID=$(mandate dev svid --agent demo%s%s)",
	    dd_opt, dd);
	daemon_log(d, DLOG_INFO, "  AT=$(mandate token exchange "
	    "--subject-token \"$SVID\" --task \"$TASK\" | jq -r "
	    ".access_token)");
	daemon_log(d, DLOG_INFO, "  curl -s -H \"Authorization: Bearer "
	    "$MANDATE_TOKEN\" -d token=$AT $MANDATE_SERVER/oauth2/introspect");
	daemon_log(d, DLOG_INFO, "  mandate task end \"$TASK\"   (introspect "
	    "again: {\"active\":false})");
}

/* The self-pipe's write end, for the signal handler.  The one mutable
 * global of the daemon: a signal handler has no other way to find it.
 * Set before the handlers are installed, reset after they are removed. */
static volatile sig_atomic_t sig_pipe_fd = -1;

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (sig_pipe_fd >= 0 && write(sig_pipe_fd, &b, 1) < 0) {
		/* nothing to do: a full pipe already wakes the reader */
	}
	errno = saved;
}

static const int caught[4] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };

/* Route SIGTERM, SIGINT and SIGHUP to the self-pipe (ignore SIGPIPE)
 * before the daemon answers anyone, so that a signal sent as soon as
 * /readyz says ready waits in the pipe for daemon_run. */
static int
signals_install(struct daemon *d)
{
	struct sigaction sa;

	if (d->sig_installed)
		return MANDATE_OK;
	if (pipe2(d->sig_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		daemon_log(d, DLOG_ERROR, "pipe: %s", strerror(errno));
		return MANDATE_EIO;
	}
	sig_pipe_fd = d->sig_fds[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 4; i++) {
		sa.sa_handler = caught[i] == SIGPIPE ? SIG_IGN : on_signal;
		sigaction(caught[i], &sa, &d->sig_old[i]);
	}
	if (early_hup)
		on_signal(SIGHUP);      /* one sent during start-up */
	d->sig_installed = true;
	return MANDATE_OK;
}

static void
signals_restore(struct daemon *d)
{
	if (!d->sig_installed)
		return;
	for (size_t i = 0; i < 4; i++)
		sigaction(caught[i], &d->sig_old[i], NULL);
	sig_pipe_fd = -1;
	close(d->sig_fds[0]);
	close(d->sig_fds[1]);
	d->sig_installed = false;
}

/* Each connection takes a descriptor, and a soft limit of 1024 is common,
 * below the server's connections plus the daemon's own files: raise the
 * soft limit to the hard one (capped), and say so when that is not
 * enough.  (Past the limit the server stops listening for a moment
 * instead of failing; see docs/http-server.md.) */
#define NOFILE_CAP 1048576
#define NOFILE_OWN 64               /* the store, keys, logs, JWKS fetches */

static void
raise_nofile(struct daemon *d)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_CAP ?
	    NOFILE_CAP : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit n = { want, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &n) == 0) {
			daemon_log(d, DLOG_DEBUG, "open files: limit raised "
			    "from %llu to %llu", (unsigned long long)rl.rlim_cur,
			    (unsigned long long)want);
			rl.rlim_cur = want;
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur <
	    (rlim_t)d->cfg->server.max_connections + NOFILE_OWN)
		daemon_log(d, DLOG_WARN, "open files: the limit is %llu, below "
		    "the %u connections the server takes "
		    "(server.max_connections) and its own files; connections "
		    "past it wait (raise the hard limit: ulimit -Hn, "
		    "LimitNOFILE=)", (unsigned long long)rl.rlim_cur,
		    d->cfg->server.max_connections);
}

/* The server certificate in force, in the log: its fingerprint and end,
 * with a warning when that is less than 7 days away (one that has ended,
 * or not begun, never gets here: the server refuses it at start and at a
 * reload).  false when it cannot be read; else fp and *na are set for the
 * caller too. */
static bool
tls_say(struct daemon *d, const char *what, char fp[65], int64_t *na_out)
{
	char until[32] = "";
	int64_t na = 0, left;
	struct tm tm;
	time_t t;

	if (http_server_tls_leaf(d->srv, fp, &na) != MANDATE_OK)
		return false;
	*na_out = na;
	t = (time_t)na;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	left = na - (int64_t)time(NULL);
	daemon_log(d, left < 7 * 86400 ? DLOG_WARN : DLOG_INFO, "TLS: "
	    "server certificate %s: SHA-256 %s, valid until %s%s", what, fp,
	    until, left < 7 * 86400 ? " (less than 7 days from now: renew "
	    "it, then SIGHUP)" : "");
	return true;
}

/* SIGHUP: the certificate chain, key and client CA bundle are read again
 * (server.tls); new connections use them, open ones keep theirs.  Files
 * that cannot be used (unreadable, a key others may read, a certificate
 * that has expired or is not valid yet) change nothing.  Both outcomes
 * are audited. */
static void
tls_reload(struct daemon *d, const char *origin)
{
	char fp[65];
	int64_t na = 0;
	int r;

	if (d->cfg->server.tls.cert_file == NULL)
		return;
	if ((r = http_server_reload_tls(d->srv)) != MANDATE_OK) {
		const char *why = http_server_error(d->srv);
		if (why[0] == '\0')
			why = mandate_strerror(r);
		daemon_log(d, DLOG_ERROR, "TLS: %s: not reloaded, the "
		    "certificate in use stays: %s", origin, why);
		daemon_audit(d, NULL, "tls.reload_failed", STR_NULL, STR_NULL,
		    json_pack("{s:s,s:s}", "origin", origin, "error", why));
		return;
	}
	if (tls_say(d, "reloaded", fp, &na))
		daemon_audit(d, NULL, "tls.reloaded", STR_NULL, STR_NULL,
		    json_pack("{s:s,s:s,s:I}", "origin", origin,
		    "cert_thumbprint", fp, "not_after", (json_int_t)na));
}

int
daemon_start(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	int r;

	raise_nofile(d);
	if ((r = signals_install(d)) != MANDATE_OK)
		return r;
	if ((r = http_server_start(d->srv)) != MANDATE_OK) {
		const char *why = http_server_error(d->srv);
		daemon_log(d, DLOG_ERROR, "cannot listen on %s: %s",
		    cfg->server.listen, why[0] != '\0' ? why :
		    mandate_strerror(r));
		return r;
	}
	d->started = true;
	if (d->port_hold_fd >= 0) {         /* the server has the port now */
		close(d->port_hold_fd);
		d->port_hold_fd = -1;
	}
	if (d->idv != NULL && (r = identity_start(d->idv)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "cannot start the key refresher: %s",
		    mandate_strerror(r));
		return r;
	}
	daemon_log(d, DLOG_INFO, "mandate serve: listening on %s://%s%s%s:%u, "
	    "data dir %s, %s%s",
	    cfg->server.tls.cert_file ? "https" : "http",
	    strchr(cfg->server.listen_host, ':') ? "[" : "",
	    cfg->server.listen_host,
	    strchr(cfg->server.listen_host, ':') ? "]" : "",
	    (unsigned)http_server_port(d->srv), cfg->data_dir,
	    cfg->dev.enabled ? "development instance" : "configured instance",
	    cfg->api_auth.open_on_loopback ? "; the API is open to callers on "
	    "loopback without authentication" : "");
	if (!cfg->authzen.authenticate)
		daemon_log(d, DLOG_WARN, "AuthZEN evaluation API: callers are "
		    "NOT authenticated (authzen.authenticate: false)");
	else if (cfg->api_auth.open_on_loopback)
		daemon_log(d, DLOG_INFO, "AuthZEN evaluation API: open to "
		    "callers on loopback without authentication%s",
		    cfg->dev.enabled ? " (development instance)" :
		    " (api_auth.open_on_loopback)");
	else
		daemon_log(d, DLOG_INFO, "AuthZEN evaluation API: callers "
		    "authenticate as api_auth says");
	if (cfg->server.tls.cert_file != NULL) {
		char fp[65];
		int64_t na;
		(void)tls_say(d, "in use", fp, &na);
	}
	if (cfg->dev.enabled)
		dev_hint(d, (unsigned)http_server_port(d->srv));
	return MANDATE_OK;
}

uint16_t
daemon_port(const struct daemon *d)
{
	return d->srv != NULL ? http_server_port(d->srv) : 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* policies.watch: reload when the files' fingerprint changed since the
 * last attempt (a refused set is not retried until the files change
 * again), and has then stayed the same for one interval: a file caught
 * while it is being rewritten in place (truncated, then written: `cat
 * new > file`) is empty or partial for a moment, and an empty policy
 * file is valid Cedar that would drop its forbids. */
static void
watch_check(struct daemon *d)
{
	uint64_t fp = daemon_policies_fingerprint(d->cfg);

	if (fp == d->policy_fp) {
		d->watch_pending = 0;
		return;
	}
	if (fp != d->watch_pending) {
		d->watch_pending = fp;          /* first sighting: wait */
		return;
	}
	d->watch_pending = 0;
	daemon_policies_reload_if_changed(d, "policy files changed");
}

/* Key maintenance (publish-then-sign rotation steps).  A key that starts
 * signing is audited as keys.activated by the step itself, in the commit
 * that activates it (sts_keys_tick); when that fails the key stays NEXT
 * and the step is tried again at the next tick. */
static void
key_tick(struct daemon *d)
{
	int tr = sts_keys_tick(d->sts, (int64_t)time(NULL));

	if (tr != MANDATE_OK)
		daemon_log(d, DLOG_WARN, "key maintenance: %s (tried again at "
		    "the next tick)", mandate_strerror(tr));
}

/* Tasks pruned per store transaction, and transactions per tick: a
 * backlog goes over a few ticks, none holding the write lock long. */
#define RETENTION_BATCH 500
#define RETENTION_BATCHES 20
/* How often (seconds) a retention pass looks for tasks to prune: its
 * read scans the tasks table.  A shorter retention is kept at every
 * tick. */
#define RETENTION_EVERY_S 300

/* Retention (tasks.retention): tasks over for longer than that go, with
 * their credentials, decisions and session; the audit log keeps every
 * record about them, and one more says what went. */
static void
retention_tick(struct daemon *d)
{
	int64_t before;
	size_t total = 0, n = 0;
	int r = MANDATE_OK;

	if (d->cfg->tasks.retention == 0)
		return;
	before = (int64_t)time(NULL) - (int64_t)d->cfg->tasks.retention;
	for (int i = 0; i < RETENTION_BATCHES; i++) {
		if ((r = store_tasks_prune(d->store, before, RETENTION_BATCH,
		    &n)) != MANDATE_OK)
			break;
		total += n;
		if (n < RETENTION_BATCH)
			break;
	}
	if (r != MANDATE_OK)
		daemon_log(d, DLOG_ERROR, "retention: cannot prune tasks: %s "
		    "(tried again at the next tick)", mandate_strerror(r));
	if (total == 0)
		return;
	daemon_log(d, DLOG_INFO, "retention: %zu tasks over before %lld "
	    "pruned", total, (long long)before);
	(void)daemon_audit(d, NULL, "tasks.pruned", STR_NULL, STR_NULL,
	    json_pack("{s:I,s:I}", "before", (json_int_t)before, "tasks",
	    (json_int_t)total));
}

int
daemon_run(struct daemon *d)
{
	unsigned char b = 0;
	int r = MANDATE_EIO;
	int64_t tick_ms = DAEMON_TICK_S * 1000, watch_ms = 0;
	int64_t next_tick, next_watch, next_retention, retention_ms;
	bool watch = d->cfg->policies.watch;

	/* a short publish delay (tests) needs maintenance as often */
	if (d->cfg->tokens.publish_delay < DAEMON_TICK_S)
		tick_ms = (int64_t)d->cfg->tokens.publish_delay * 1000;
	if ((int64_t)d->cfg->audit.checkpoint_interval * 1000 < tick_ms)
		tick_ms = (int64_t)d->cfg->audit.checkpoint_interval * 1000;
	/* a short retention (tests) is kept as closely */
	if (d->cfg->tasks.retention > 0 &&
	    (int64_t)d->cfg->tasks.retention * 1000 < tick_ms)
		tick_ms = (int64_t)d->cfg->tasks.retention * 1000;
	if (tick_ms < 1000)
		tick_ms = 1000;
	if (watch)
		watch_ms = (int64_t)d->cfg->policies.reload_interval * 1000;
	if (watch_ms < 1000)
		watch_ms = 1000;
	next_tick = mono_ms() + tick_ms;
	next_watch = mono_ms() + watch_ms;
	retention_ms = (int64_t)d->cfg->tasks.retention < RETENTION_EVERY_S ?
	    tick_ms : RETENTION_EVERY_S * 1000;
	next_retention = mono_ms() + retention_ms;
	if ((r = signals_install(d)) != MANDATE_OK)
		return r;
	r = MANDATE_EIO;
	key_tick(d);                  /* a key due while we were down */
	retention_tick(d);
	for (;;) {
		struct pollfd pfd = { .fd = d->sig_fds[0], .events = POLLIN };
		int64_t now = mono_ms(), wait = next_tick - now;
		int n;

		if (watch && next_watch - now < wait)
			wait = next_watch - now;
		if (wait < 0)
			wait = 0;
		n = poll(&pfd, 1, (int)wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			daemon_log(d, DLOG_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (n > 0) {
			if (read(d->sig_fds[0], &b, 1) != 1)
				continue;
			if (b == SIGHUP) {
				/* every SIGHUP already waiting asks for the
				 * files as this reload reads them: one reload
				 * answers them all (one by one, a burst queued
				 * a reload each, and a SIGTERM behind them) */
				unsigned char more;
				bool term = false;

				while (read(d->sig_fds[0], &more, 1) == 1)
					if (more != SIGHUP) {
						term = true;
						b = more;
					}
				if (term) {
					r = MANDATE_OK;
					break;
				}
				daemon_policies_reload(d, "SIGHUP", NULL, NULL,
				    NULL);
				tls_reload(d, "SIGHUP");
				continue;
			}
			r = MANDATE_OK;
			break;
		}
		now = mono_ms();
		if (now >= next_tick) {
			key_tick(d);
			if (now >= next_retention) {
				retention_tick(d);
				next_retention = mono_ms() + retention_ms;
			}
			(void)daemon_audit_checkpoint(d, DAUDIT_TICK);
			next_tick = now + tick_ms;
		}
		if (watch && now >= next_watch) {
			watch_check(d);
			next_watch = mono_ms() + watch_ms;
		}
	}
	daemon_log(d, DLOG_INFO, "%s received: shutting down (up to %u ms for "
	    "requests in flight)", b == SIGINT ? "SIGINT" : "SIGTERM",
	    DAEMON_GRACE_MS);
	daemon_stop(d);
	/* the handlers stay until daemon_free has written what the audit
	 * queue holds: a second SIGTERM or Ctrl-C then is taken and
	 * ignored, not its default action, which lost the queued records */
	daemon_log(d, DLOG_INFO, "stopped");
	return r;
}

void
daemon_stop(struct daemon *d)
{
	if (d == NULL || d->stopped)
		return;
	d->stopped = true;
	if (d->srv != NULL)
		http_server_shutdown(d->srv, DAEMON_GRACE_MS);
	/* the last records get their signed tree head; a daemon that did
	 * not start signs nothing (its key may not be the log's: a second
	 * daemon pointed at another's store.path, refused, must not leave
	 * a checkpoint the log's own key cannot verify) */
	if (d->started && d->store != NULL && d->audit_key != NULL)
		(void)daemon_audit_checkpoint(d, DAUDIT_NOW);
	if (d->idv != NULL)
		identity_stop(d->idv);
}

void
daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	daemon_stop(d);
	http_server_free(d->srv);
	http_metrics_free(d->metrics);
	daemon_policies_put(atomic_load(&d->policies));
	sts_close(d->sts);
	identity_free(d->idv);
	/* the writer first: its last appends may still make a checkpoint */
	audit_close(d->audit);
	daemon_audit_close(d);
	redact_free(d->redact);
	store_close(d->store);
	/* only now: the queue is written and the store closed (daemon_run) */
	signals_restore(d);
	config_free(d->cfg);
	if (d->port_hold_fd >= 0)
		close(d->port_hold_fd);
	if (d->lock_fd >= 0)               /* releases the flock */
		close(d->lock_fd);
	if (d->locks_ok) {
		pthread_mutex_destroy(&d->swap_lock);
		pthread_mutex_destroy(&d->reload_lock);
		pthread_mutex_destroy(&d->policy_lock);
		pthread_mutex_destroy(&d->log_lock);
	}
	free(d);
}
