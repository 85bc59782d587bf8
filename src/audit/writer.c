/*
 * writer.c - the audit writer: every record is bounded, redacted and
 * serialised here, then appended to the store either before the caller
 * returns (sync) or by writer threads from a bounded queue (async).
 * writer.h has the contract and what the async mode can lose.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "audit/jtext.h"
#include "audit/writer.h"
#include "util/status.h"

/* A serialised record; the strings live in data[]. */
struct qrec {
	struct qrec *next;
	audit_done_fn *done;          /* audit_record_async: its callback */
	void *done_arg;
	bool has_cred;                /* audit_issue_async: with its row */
	struct store_credential cred;
	bool has_dec;                 /* audit_decision_async: the decision */
	struct store_decision dec;
	int64_t dec_now;
	store_decision_event_fn *build;
	void *build_arg;
	struct store_audit_event ev;
	size_t size;
	char data[];
};

struct audit_log {
	struct store *store;
	const struct redact *redact;
	enum audit_mode mode;
	size_t queue_max, prompt_max;
	audit_log_fn *log;
	void *log_ctx;
	void (*appended_fn)(void *ctx, int64_t id);
	void *appended_ctx;
	atomic_bool healthy;
	_Atomic int64_t down_since;   /* when healthy last turned false */

	pthread_mutex_t mu;           /* queue, stopping, lost */
	pthread_cond_t not_empty, not_full;
	struct qrec *head, *tail;
	size_t queued;
	bool stopping;
	pthread_rwlock_t hash_lock;
	char policy_hash[65];         /* under hash_lock */
	atomic_uint_fast64_t appended, failed, refused;
	pthread_t writers[AUDIT_WRITERS];
	size_t n_writers;
	struct audit_stats st;
};

static void
say(struct audit_log *l, int level, const char *msg)
{
	if (l->log != NULL)
		l->log(l->log_ctx, level, msg);
}


/* ---- building a record ---- */

/* Cut an over-long prompt and mark it.  It is redacted first and then
 * cut (redact_cut: at a UTF-8 boundary, no HMAC split): cut first, a
 * secret across the cut kept its first part in clear, too short to be
 * recognised any more.  (Written, the cut text is judged again; its
 * HMACs are kept as they are.) */
static int
limit_prompt(struct audit_log *l, json_t *fields)
{
	json_t *p = json_object_get(fields, "prompt");
	size_t n, rn, cut;
	bool nul;
	char *red;
	int r = MANDATE_OK;

	if (!json_is_string(p))
		return MANDATE_OK;
	n = json_string_length(p);
	if (n <= l->prompt_max)
		return MANDATE_OK;
	if ((red = redact_text(l->redact, str_make(json_string_value(p),
	    n))) == NULL)
		return MANDATE_ENOMEM;
	rn = strlen(red);       /* (a NUL in the prompt ends it here) */
	nul = memchr(json_string_value(p), '\0', n) != NULL;
	cut = redact_cut(str_make(red, rn), l->prompt_max);
	if (json_object_set_new(fields, "prompt", json_stringn(red, cut)))
		r = MANDATE_ENOMEM;
	else if ((cut < rn || nul) && (json_object_set_new(fields, "prompt_truncated",
	    json_true()) || json_object_set_new(fields, "prompt_bytes",
	    json_integer((json_int_t)n))))
		r = MANDATE_ENOMEM;
	free(red);
	return r;
}

/* Fields too large to store: each top-level member over 4 KiB is replaced
 * by its size and HMAC (the record stays, the bulk goes). */
static int
shrink(struct audit_log *l, json_t *fields)
{
	void *it;

	for (it = json_object_iter(fields); it != NULL;
	    it = json_object_iter_next(fields, it)) {
		json_t *v = json_object_iter_value(it);
		char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		char h[REDACT_HMAC_SIZE];
		size_t n;
		int r;

		if (d == NULL)
			return MANDATE_ENOMEM;
		n = strlen(d);
		if (n <= 4096) {
			free(d);
			continue;
		}
		r = redact_hmac(l->redact, str_make(d, n), h);
		free(d);
		if (r != MANDATE_OK)
			return r;
		if (json_object_iter_set_new(fields, it, json_pack(
		    "{s:I,s:s}", "omitted_bytes", (json_int_t)n, "hmac", h)))
			return MANDATE_ENOMEM;
	}
	return MANDATE_OK;
}

/* fields as compact JSON text (malloc'd, *n its length), or NULL. */
static char *
dump_fields(json_t *fields, size_t *n)
{
	struct jtext b = { 0 };

	jtext_value(&b, fields, 1);
	return jtext_finish(&b, n);
}

/* The text of a record too large to store: a copy of fields, redacted
 * in place, each member over 4 KiB replaced by its size and HMAC (the
 * record stays, the bulk goes).  fields itself is not changed. */
static int
shrunk(struct audit_log *l, json_t *fields, char **fj, size_t *fn)
{
	json_t *c = json_deep_copy(fields);
	int r;

	*fj = NULL;
	if (c == NULL)
		return MANDATE_ENOMEM;
	if ((r = redact_fields(l->redact, c)) == MANDATE_OK &&
	    (r = shrink(l, c)) == MANDATE_OK &&
	    (*fj = dump_fields(c, fn)) == NULL)
		r = MANDATE_ENOMEM;
	json_decref(c);
	if (r == MANDATE_OK && *fn > STORE_MAX_JSON) {
		free(*fj);
		*fj = NULL;
		r = MANDATE_ELIMIT;
	}
	return r;
}

/* An id column: empty when too long, its HMAC when it looks secret. */
static int
id_value(struct audit_log *l, struct str in, size_t max,
    char h[REDACT_HMAC_SIZE], struct str *out)
{
	*out = in;
	if (in.n > max) {
		*out = STR_NULL;
		return MANDATE_OK;
	}
	if (in.n > 0 && redact_value_is_secret(in)) {
		int r = redact_hmac(l->redact, in, h);
		if (r != MANDATE_OK)
			return r;
		*out = str_make(h, REDACT_HMAC_LEN);
	}
	return MANDATE_OK;
}

static char *
put(char *dst, struct str s, struct str *out)
{
	if (s.n > 0)
		memcpy(dst, s.p, s.n);
	dst[s.n] = '\0';
	*out = str_make(dst, s.n);
	return dst + s.n + 1;
}

/* The policy hash in force, or "" (h has 65 bytes). */
static void
policy_hash(struct audit_log *l, char h[65])
{
	pthread_rwlock_rdlock(&l->hash_lock);
	memcpy(h, l->policy_hash, 65);
	pthread_rwlock_unlock(&l->hash_lock);
}

/* The stored text of a record's fields (malloc'd in *fj, *fn long):
 * the policy hash added, the prompt cut, redacted, shrunk if too long
 * (see audit_record in writer.h).  fields gains the first two. */
static int
fields_text(struct audit_log *l, json_t *fields, char **fj, size_t *fn)
{
	int r;

	*fj = NULL;
	if (json_object_get(fields, "policy_hash") == NULL) {
		char h[65];

		policy_hash(l, h);
		if (h[0] != '\0' && json_object_set_new(fields, "policy_hash",
		    json_string(h)) != 0)
			return MANDATE_ENOMEM;
	}
	/* redacted as it is written: fields keep their values (a caller's
	 * record may share them with its request) */
	if ((r = limit_prompt(l, fields)) != MANDATE_OK ||
	    (r = redact_dump(l->redact, fields, fj, fn)) != MANDATE_OK)
		return r;
	if (*fn > STORE_MAX_JSON) {
		free(*fj);
		return shrunk(l, fields, fj, fn);
	}
	return MANDATE_OK;
}

/* Members a record given member by member may have (and one more for
 * the policy hash). */
#define AUDIT_MEMBERS_MAX 32

/* fields_text() of the object made of members m[0..n), written without
 * making it when nothing in it needs the object: the same text.  A
 * prompt to cut, or a record too long, takes the object's way. */
static int
members_text(struct audit_log *l, const struct redact_member *m, size_t n,
    char **fj, size_t *fn)
{
	struct redact_member all[AUDIT_MEMBERS_MAX + 1];
	char h[65];
	bool has_hash = false, by_tree = false;
	json_t *f;
	int r;

	*fj = NULL;
	if (n > AUDIT_MEMBERS_MAX || (n > 0 && m == NULL))
		return MANDATE_EINVAL;
	/* (the names are checked by the calls below) */
	for (size_t i = 0; i < n; i++) {
		if (m[i].name == NULL)
			return MANDATE_EINVAL;
		if (strcmp(m[i].name, "policy_hash") == 0)
			has_hash = true;
		else if (strcmp(m[i].name, "prompt") == 0 &&
		    (m[i].kind == REDACT_M_JSON || m[i].s.n > l->prompt_max))
			by_tree = true;
	}
	if (!by_tree) {
		size_t k = n;

		memcpy(all, m, n * sizeof(*m));
		if (!has_hash) {
			policy_hash(l, h);
			if (h[0] != '\0')
				all[k++] = (struct redact_member){
				    .name = "policy_hash",
				    .kind = REDACT_M_STR,
				    .s = str_c(h) };
		}
		r = redact_dump_members(l->redact, all, k, fj, fn);
		if (r != MANDATE_OK || *fn <= STORE_MAX_JSON)
			return r;
		free(*fj);
		*fj = NULL;
	}
	if (!redact_members_ok(m, n))
		return MANDATE_EINVAL;
	if ((f = redact_members_json(m, n)) == NULL)
		return MANDATE_ENOMEM;
	r = fields_text(l, f, fj, fn);
	json_decref(f);
	return r;
}

/* The queued record of event e whose fields' text is fj (consumed). */
static int
assemble(struct audit_log *l, const struct audit_event *e, char *fj,
    size_t fn, struct qrec **out)
{
	char hr[REDACT_HMAC_SIZE], ha[REDACT_HMAC_SIZE];
	struct str type = str_c(e->type), rid, agent, task;
	struct qrec *q;
	size_t size;
	char *p;
	int r;

	*out = NULL;
	if ((r = id_value(l, e->request_id, STORE_MAX_ID, hr, &rid)) !=
	    MANDATE_OK || (r = id_value(l, e->agent, STORE_MAX_NAME, ha,
	    &agent)) != MANDATE_OK) {
		free(fj);
		return r;
	}
	task = e->task_id.n <= STORE_MAX_ID ? e->task_id : STR_NULL;
	size = sizeof(*q) + type.n + rid.n + agent.n + task.n + fn + 5;
	if ((q = malloc(size)) == NULL) {
		free(fj);
		return MANDATE_ENOMEM;
	}
	/* the header zeroed; data[] is filled below */
	memset(q, 0, sizeof(*q));
	q->size = size;
	q->ev.time = e->time;
	p = q->data;
	p = put(p, type, &q->ev.type);
	p = put(p, rid, &q->ev.request_id);
	p = put(p, agent, &q->ev.agent);
	p = put(p, task, &q->ev.task_id);
	put(p, str_make(fj, fn), &q->ev.fields_json);
	free(fj);
	*out = q;
	return MANDATE_OK;
}

/* The record of event e: its fields either a JSON object (fields) or
 * members (m[0..n), when fields is NULL). */
static int
build(struct audit_log *l, const struct audit_event *e, json_t *fields,
    const struct redact_member *m, size_t n, struct qrec **out)
{
	size_t type_n = strlen(e->type), fn = 0;
	char *fj = NULL;
	int r;

	*out = NULL;
	if (type_n == 0 || type_n > STORE_MAX_ID)
		return MANDATE_EINVAL;
	r = fields != NULL ? fields_text(l, fields, &fj, &fn) :
	    members_text(l, m, n, &fj, &fn);
	if (r != MANDATE_OK)
		return r;
	return assemble(l, e, fj, fn, out);
}

/* A record is redacted before it is built: nothing secret to wipe. */
static void
qrec_free(struct qrec *q)
{
	free(q);
}

/* ---- appending ---- */

/* Did the store fail (as opposed to refusing one bad record)? */
static bool
store_failure(int r)
{
	return r != MANDATE_OK && r != MANDATE_EINVAL && r != MANDATE_ELIMIT;
}

void
audit_report(struct audit_log *l, int r, int64_t id)
{
	if (l == NULL)
		return;
	atomic_fetch_add(r == MANDATE_OK ? &l->appended : &l->failed, 1);
	if (r == MANDATE_OK) {
		if (!atomic_exchange(&l->healthy, true))
			say(l, 0, "audit log: writes succeed again; ready");
		if (l->appended_fn != NULL && id > 0)
			l->appended_fn(l->appended_ctx, id);
	} else if (store_failure(r) && atomic_exchange(&l->healthy, false)) {
		atomic_store(&l->down_since, (int64_t)time(NULL));
		say(l, 2, "audit log: cannot append; decisions fail closed "
		    "and /readyz reports not ready until a write succeeds");
	}
}

static int
append(struct audit_log *l, struct qrec *q, int64_t *idp)
{
	int64_t id = 0;
	int r = store_audit_append(l->store, &q->ev, &id);

	if (idp != NULL)
		*idp = id;
	audit_report(l, r, id);
	return r;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Retry one record until the store takes it or the log closes. */
static void
write_retry(struct audit_log *l, struct qrec *q)
{
	long backoff = 50;

	while (append(l, q, NULL) != MANDATE_OK) {
		bool stop;

		pthread_mutex_lock(&l->mu);
		stop = l->stopping;
		if (stop)
			l->st.lost++;
		pthread_mutex_unlock(&l->mu);
		if (stop) {
			say(l, 2, "audit log: a queued record could not be "
			    "written at shutdown and is lost");
			return;
		}
		nap_ms(backoff);
		if (backoff < 1000)
			backoff *= 2;
	}
}

/* A record of audit_record_async that the store did not take. */
static void
failed_held(struct audit_log *l, int r)
{
	atomic_fetch_add(&l->failed, 1);
	atomic_fetch_add(&l->refused, 1);
	if (store_failure(r) && atomic_exchange(&l->healthy, false)) {
		atomic_store(&l->down_since, (int64_t)time(NULL));
		say(l, 2, "audit log: cannot append; decisions fail closed "
		    "and /readyz reports not ready until a write succeeds");
	}
}

/* The writer thread as a batch thread (Linux's SCHED_BATCH, a hint; a
 * failure changes nothing) and named, for top -H and perf: when a
 * commit's sync completes, or a record arrives, the writer waits for the
 * running request thread's turn to end instead of preempting it.  Its
 * share of the CPU is the same; what goes is a forced context switch per
 * wake-up.  Measured on 2 cores with bench/audit_bench.sh's workload
 * (seven alternated pairs of 3 s runs): context switches 0.33 -> 0.25 per
 * evaluation and daemon CPU 2.6 and 1.3 us less per evaluation in sync
 * mode (means of two sets), p99 latency unchanged; the rates moved
 * within the machine's noise. */
static void
writer_be_batch(void)
{
#ifdef SCHED_BATCH
	struct sched_param sp = { .sched_priority = 0 };

	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
#endif
	(void)pthread_setname_np(pthread_self(), "mandate-audit");
}

/* Records a writer takes from the queue at once (one store call). */
#define AUDIT_WRITE_BATCH 256

static void *
writer(void *arg)
{
	struct audit_log *l = arg;
	struct qrec *batch[AUDIT_WRITE_BATCH];
	struct store_append w[AUDIT_WRITE_BATCH];
	int64_t ids[AUDIT_WRITE_BATCH];
	int res[AUDIT_WRITE_BATCH];

	writer_be_batch();
	for (;;) {
		size_t n = 0;
		int r;

		pthread_mutex_lock(&l->mu);
		while (l->head == NULL && !l->stopping)
			pthread_cond_wait(&l->not_empty, &l->mu);
		if (l->head == NULL) {           /* stopping and drained */
			pthread_mutex_unlock(&l->mu);
			return NULL;
		}
		while (l->head != NULL && n < AUDIT_WRITE_BATCH) {
			batch[n++] = l->head;
			l->head = l->head->next;
			l->queued--;
		}
		if (l->head == NULL)
			l->tail = NULL;
		pthread_cond_broadcast(&l->not_full);
		pthread_mutex_unlock(&l->mu);

		memset(w, 0, n * sizeof(w[0]));
		for (size_t i = 0; i < n; i++) {
			struct qrec *q = batch[i];

			if (q->has_dec) {
				w[i].dec = &q->dec;
				w[i].now = q->dec_now;
				w[i].build = q->build;
				w[i].build_arg = q->build_arg;
				continue;
			}
			w[i].ev = &q->ev;
			w[i].cred = q->has_cred ? &q->cred : NULL;
		}
		r = store_append_many(l->store, w, n, ids, res);
		if (l->appended_fn != NULL) {
			int64_t top = 0;

			for (size_t i = 0; i < n; i++)
				if (res[i] == MANDATE_OK && ids[i] > top)
					top = ids[i];
			if (top > 0)
				l->appended_fn(l->appended_ctx, top);
		}
		if (r == MANDATE_OK) {
			atomic_fetch_add(&l->appended, n);
			if (!atomic_exchange(&l->healthy, true))
				say(l, 0, "audit log: writes succeed again; "
				    "ready");
		}
		for (size_t i = 0; i < n; i++) {
			struct qrec *q = batch[i];

			if (r != MANDATE_OK) {
				if (res[i] == MANDATE_OK)
					atomic_fetch_add(&l->appended, 1);
				else if (q->done != NULL)
					failed_held(l, res[i]);
				else
					write_retry(l, q);
			}
			/* a held record is not retried: its caller is
			 * told, and fails closed */
			if (q->done != NULL)
				q->done(q->done_arg, res[i], ids[i]);
			qrec_free(q);
		}
	}
}

static int
enqueue(struct audit_log *l, struct qrec *q)
{
	struct timespec deadline;
	int r = MANDATE_OK;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += AUDIT_ENQUEUE_WAIT_MS / 1000;
	deadline.tv_nsec += (AUDIT_ENQUEUE_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	/* a held record (sync mode) goes to the store even while the log
	 * is unhealthy: its append is what finds the store working again,
	 * and its caller learns the outcome either way */
	bool healthy_only = q->done == NULL;

	pthread_mutex_lock(&l->mu);
	while (l->queued >= l->queue_max && !l->stopping &&
	    (!healthy_only || atomic_load(&l->healthy))) {
		if (pthread_cond_timedwait(&l->not_full, &l->mu, &deadline) ==
		    ETIMEDOUT)
			break;
	}
	if (l->stopping || (healthy_only && !atomic_load(&l->healthy)) ||
	    l->queued >= l->queue_max) {
		r = MANDATE_EIO;
	} else {
		q->next = NULL;
		if (l->tail != NULL)
			l->tail->next = q;
		else
			l->head = q;
		l->tail = q;
		l->queued++;
		pthread_cond_signal(&l->not_empty);
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

/* audit_record and audit_record_async: the checks and the record, then
 * appended here (sync mode, no done), queued for the writer with done
 * (sync mode), or queued (async mode; done, if any, is told at once). */
static int
record(struct audit_log *l, const struct audit_event *e, json_t *fields,
    const struct redact_member *m, size_t n, audit_done_fn *done, void *arg,
    int64_t *id)
{
	struct qrec *q = NULL;
	int r;

	if (m == NULL && fields == NULL && (fields = json_object()) == NULL)
		return MANDATE_ENOMEM;
	if (fields != NULL && !json_is_object(fields)) {
		json_decref(fields);
		atomic_fetch_add(&l->refused, 1);
		return MANDATE_EINVAL;
	}
	r = build(l, e, fields, m, n, &q);
	json_decref(fields);
	if (r != MANDATE_OK)
		goto out;
	if (l->mode == AUDIT_SYNC && done == NULL) {
		r = append(l, q, id);
		goto out;
	}
	if (l->mode == AUDIT_SYNC) {
		q->done = done;
		q->done_arg = arg;
	}
	if ((r = enqueue(l, q)) == MANDATE_OK) {
		q = NULL;            /* the writer owns it (and may be done) */
		if (done != NULL && l->mode == AUDIT_ASYNC)
			/* queued is as far as async mode goes */
			done(arg, MANDATE_OK, 0);
	}
out:
	qrec_free(q);
	if (r != MANDATE_OK)
		atomic_fetch_add(&l->refused, 1);
	return r;
}

int
audit_record(struct audit_log *l, const struct audit_event *e,
    json_t *fields, int64_t *id)
{
	if (id != NULL)
		*id = 0;
	if (l == NULL || e == NULL || e->type == NULL) {
		json_decref(fields);
		return MANDATE_EINVAL;
	}
	return record(l, e, fields, NULL, 0, NULL, NULL, id);
}

int
audit_record_async(struct audit_log *l, const struct audit_event *e,
    json_t *fields, audit_done_fn *done, void *arg)
{
	if (l == NULL || e == NULL || e->type == NULL || done == NULL) {
		json_decref(fields);
		return MANDATE_EINVAL;
	}
	return record(l, e, fields, NULL, 0, done, arg, NULL);
}

int
audit_record_members(struct audit_log *l, const struct audit_event *e,
    const struct redact_member *m, size_t n, audit_done_fn *done,
    void *arg, int64_t *id)
{
	if (id != NULL)
		*id = 0;
	if (l == NULL || e == NULL || e->type == NULL ||
	    (m == NULL && n > 0))
		return MANDATE_EINVAL;
	/* no members: the empty object, as audit_record() with NULL */
	return record(l, e, NULL, n > 0 ? m : NULL, n, done, arg, id);
}

/* A write queued with its callback (audit_issue_async,
 * audit_decision_async): q is freed when it cannot be queued. */
static int
enqueue_held(struct audit_log *l, struct qrec *q, audit_done_fn *done,
    void *arg)
{
	int r;

	q->size = sizeof(*q);
	q->done = done;
	q->done_arg = arg;
	if ((r = enqueue(l, q)) != MANDATE_OK) {
		qrec_free(q);
		atomic_fetch_add(&l->refused, 1);
	}
	return r;
}

int
audit_issue_async(struct audit_log *l, const struct store_credential *c,
    const struct store_audit_event *e, audit_done_fn *done, void *arg)
{
	struct qrec *q;
	int r;

	if (l == NULL || c == NULL || e == NULL || done == NULL ||
	    l->mode != AUDIT_SYNC)
		return MANDATE_EINVAL;
	/* checked here, so that one bad pair cannot fail a whole batch */
	if ((r = store_cred_check(c)) != MANDATE_OK)
		return r;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return MANDATE_ENOMEM;
	q->ev = *e;               /* prepared: its strings are the caller's */
	q->cred = *c;
	q->has_cred = true;
	return enqueue_held(l, q, done, arg);
}

int
audit_decision_async(struct audit_log *l, const struct store_decision *dec,
    int64_t now, store_decision_event_fn *build_fn, void *build_arg,
    audit_done_fn *done, void *arg)
{
	struct qrec *q;
	int r;

	/* either mode: the decision's state change (the budget, the
	 * session) must be committed before its answer whatever the mode,
	 * and its record costs nothing more in the same transaction */
	if (l == NULL || dec == NULL || build_fn == NULL || done == NULL)
		return MANDATE_EINVAL;
	/* checked here, so that one bad decision cannot fail a batch */
	if ((r = store_decision_check(dec)) != MANDATE_OK)
		return r;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return MANDATE_ENOMEM;
	q->dec = *dec;
	q->dec_now = now;
	q->has_dec = true;
	q->build = build_fn;
	q->build_arg = build_arg;
	return enqueue_held(l, q, done, arg);
}

void
audit_set_policy_hash(struct audit_log *l, const char *hash)
{
	size_t n = hash ? strlen(hash) : 0;

	if (l == NULL)
		return;
	if (n >= sizeof(l->policy_hash))
		n = 0;
	pthread_rwlock_wrlock(&l->hash_lock);
	if (n > 0)
		memcpy(l->policy_hash, hash, n);
	l->policy_hash[n] = '\0';
	pthread_rwlock_unlock(&l->hash_lock);
}

/* audit_prepare and audit_prepare_members: fields, or m[0..n). */
static int
prepare(struct audit_log *l, const struct audit_event *e, json_t *fields,
    const struct redact_member *m, size_t n, struct arena *a,
    struct store_audit_event *out)
{
	struct qrec *q = NULL;
	struct str *dst[5];
	const struct str *src[5];
	int r;

	r = build(l, e, fields, m, n, &q);
	json_decref(fields);
	if (r != MANDATE_OK)
		return r;
	out->time = q->ev.time;
	dst[0] = &out->type;        src[0] = &q->ev.type;
	dst[1] = &out->request_id;  src[1] = &q->ev.request_id;
	dst[2] = &out->agent;       src[2] = &q->ev.agent;
	dst[3] = &out->task_id;     src[3] = &q->ev.task_id;
	dst[4] = &out->fields_json; src[4] = &q->ev.fields_json;
	for (int i = 0; i < 5; i++) {
		char *p = arena_alloc(a, src[i]->n + 1);

		if (p == NULL) {
			r = MANDATE_ENOMEM;
			break;
		}
		memcpy(p, src[i]->p, src[i]->n + 1);
		*dst[i] = str_make(p, src[i]->n);
	}
	qrec_free(q);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

int
audit_prepare(struct audit_log *l, const struct audit_event *e,
    json_t *fields, struct arena *a, struct store_audit_event *out)
{
	memset(out, 0, sizeof(*out));
	if (l == NULL || e == NULL || e->type == NULL || a == NULL ||
	    !json_is_object(fields)) {
		json_decref(fields);
		return MANDATE_EINVAL;
	}
	return prepare(l, e, fields, NULL, 0, a, out);
}

int
audit_prepare_members(struct audit_log *l, const struct audit_event *e,
    const struct redact_member *m, size_t n, struct arena *a,
    struct store_audit_event *out)
{
	memset(out, 0, sizeof(*out));
	if (l == NULL || e == NULL || e->type == NULL || a == NULL ||
	    m == NULL || n == 0)
		return MANDATE_EINVAL;
	return prepare(l, e, NULL, m, n, a, out);
}

bool
audit_healthy(struct audit_log *l)
{
	return l != NULL && atomic_load(&l->healthy);
}

bool
audit_probe(struct audit_log *l, int64_t now)
{
	if (l == NULL)
		return false;
	char f[160];
	struct store_audit_event e;
	int64_t id = 0;
	int r;

	if (atomic_load(&l->healthy) || l->mode != AUDIT_SYNC)
		return atomic_load(&l->healthy);
	/* the probe is a real record, of the outage: a write that only
	 * updates a row in place can still fit where records no longer do
	 * (a disk nearly full), and ready would be said of a log that
	 * takes no record */
	snprintf(f, sizeof(f), "{\"unwritable_since\":%" PRId64 ","
	    "\"failed_appends\":%" PRIuFAST64 "}",
	    atomic_load(&l->down_since), atomic_load(&l->failed));
	memset(&e, 0, sizeof(e));
	e.time = now;
	e.type = str_c("audit.recovered");
	e.request_id = e.agent = e.task_id = str_c("");
	e.fields_json = str_c(f);
	r = store_audit_append(l->store, &e, &id);
	audit_report(l, r, id);
	return atomic_load(&l->healthy);
}

void
audit_get_stats(struct audit_log *l, struct audit_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	*out = l->st;
	out->queued = l->queued;
	pthread_mutex_unlock(&l->mu);
	out->appended = atomic_load(&l->appended);
	out->failed = atomic_load(&l->failed);
	out->refused = atomic_load(&l->refused);
}

/* ---- life cycle ---- */

int
audit_open(const struct audit_options *opt, struct audit_log **out)
{
	struct audit_log *l;
	pthread_condattr_t ca;

	*out = NULL;
	if (opt == NULL || opt->store == NULL || opt->redact == NULL ||
	    (opt->mode != AUDIT_SYNC && opt->mode != AUDIT_ASYNC) ||
	    opt->queue_max > AUDIT_QUEUE_LIMIT ||
	    opt->prompt_max > AUDIT_PROMPT_MAX_LIMIT)
		return MANDATE_EINVAL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return MANDATE_ENOMEM;
	l->store = opt->store;
	l->redact = opt->redact;
	l->mode = opt->mode;
	l->queue_max = opt->queue_max ? opt->queue_max : AUDIT_QUEUE_DEFAULT;
	l->prompt_max = opt->prompt_max ? opt->prompt_max :
	    AUDIT_PROMPT_MAX_DEFAULT;
	l->log = opt->log;
	l->log_ctx = opt->log_ctx;
	l->appended_fn = opt->appended;
	l->appended_ctx = opt->appended_ctx;
	atomic_init(&l->healthy, true);
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return MANDATE_EINTERNAL;
	}
	/* not_full's 2 s wait is on the monotonic clock: a wall clock set
	 * back during it would make it last as much longer (enqueue) */
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return MANDATE_EINTERNAL;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&l->not_empty, NULL) != 0 ||
	    pthread_cond_init(&l->not_full, &ca) != 0 ||
	    pthread_rwlock_init(&l->hash_lock, NULL) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return MANDATE_EINTERNAL;
	}
	pthread_condattr_destroy(&ca);
	atomic_init(&l->appended, 0);
	atomic_init(&l->failed, 0);
	atomic_init(&l->refused, 0);
	{
		/* both modes (sync: for audit_record_async and
		 * audit_issue_async) */
		for (size_t i = 0; i < AUDIT_WRITERS; i++) {
			if (pthread_create(&l->writers[i], NULL, writer, l) !=
			    0) {
				audit_close(l);
				return MANDATE_EINTERNAL;
			}
			l->n_writers++;
		}
	}
	*out = l;
	return MANDATE_OK;
}

void
audit_close(struct audit_log *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->not_empty);
	pthread_cond_broadcast(&l->not_full);
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < l->n_writers; i++)
		pthread_join(l->writers[i], NULL);
	while (l->head != NULL) {     /* only without writers: cannot be */
		struct qrec *q = l->head;
		l->head = q->next;
		l->st.lost++;
		qrec_free(q);
	}
	pthread_cond_destroy(&l->not_empty);
	pthread_cond_destroy(&l->not_full);
	pthread_rwlock_destroy(&l->hash_lock);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
