/*
 * store.c - the store's front: argument checks and bounds shared by every
 * backend, then dispatch through struct store_ops.
 *
 * Backends can rely on what is checked here (non-NULL pointers, lengths
 * within STORE_MAX_*, sane times and page sizes), so the rules live in one
 * place and a PostgreSQL backend inherits them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "store/store.h"
#include "util/status.h"

struct store {
	const struct store_ops *ops;
	void *impl;
};

/* A string argument: present (p != NULL or n == 0) and at most max bytes;
 * need_nonempty rejects "". */
static int
check_str(struct str v, size_t max, int need_nonempty)
{
	if (v.p == NULL && v.n != 0)
		return MANDATE_EINVAL;
	if (v.n > max)
		return MANDATE_ELIMIT;
	if (need_nonempty && v.n == 0)
		return MANDATE_EINVAL;
	if (v.n != 0 && memchr(v.p, '\0', v.n) != NULL)
		return MANDATE_EINVAL;   /* stored as text: no NULs */
	return MANDATE_OK;
}

#define CHECK(expr) do { int check_r_ = (expr); \
	if (check_r_ != MANDATE_OK) return check_r_; } while (0)

int
store_open(const struct store_ops *ops, const char *target,
    const struct store_options *opt, struct store **out)
{
	struct store_options o;
	struct store *s = NULL;
	int r;

	if (out == NULL)
		return MANDATE_EINVAL;
	*out = NULL;
	if (ops == NULL || target == NULL || target[0] == '\0')
		return MANDATE_EINVAL;
	memset(&o, 0, sizeof(o));
	if (opt != NULL)
		o = *opt;
	if (o.pool_size == 0)
		o.pool_size = 4;
	if (o.pool_size > 64)
		return MANDATE_EINVAL;
	if (o.busy_timeout_ms <= 0)
		o.busy_timeout_ms = 5000;
	if (o.max_schema_version < 0)
		return MANDATE_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return MANDATE_ENOMEM;
	s->ops = ops;
	if ((r = ops->open(target, &o, &s->impl)) != MANDATE_OK) {
		free(s);
		return r;
	}
	*out = s;
	return MANDATE_OK;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->impl);
	free(s);
}

int
store_schema_version(struct store *s, int *version)
{
	if (version != NULL)
		*version = 0;
	if (s == NULL || version == NULL)
		return MANDATE_EINVAL;
	return s->ops->schema_version(s->impl, version);
}

int
store_health(struct store *s, int64_t now)
{
	if (s == NULL)
		return MANDATE_EINVAL;
	return s->ops->health(s->impl, now);
}

int
store_task_new_id(char buf[STORE_TASK_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[STORE_TASK_ID_LEN / 2];

	if (buf == NULL)
		return MANDATE_EINVAL;
	buf[0] = '\0';
	if (RAND_bytes(raw, (int)sizeof(raw)) != 1)
		return MANDATE_EINTERNAL;
	for (size_t i = 0; i < sizeof(raw); i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[STORE_TASK_ID_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return MANDATE_OK;
}

/* --- tasks ------------------------------------------------------------ */

/* The bounds store_task_create checks. */
static int
task_check(const struct store_task *t)
{
	CHECK(check_str(t->id, STORE_MAX_ID, 1));
	CHECK(check_str(t->agent, STORE_MAX_NAME, 1));
	CHECK(check_str(t->delegator, STORE_MAX_NAME, 0));
	CHECK(check_str(t->act_json, STORE_MAX_JSON, 0));
	CHECK(check_str(t->objective, STORE_MAX_TEXT, 0));
	CHECK(check_str(t->intents_json, STORE_MAX_JSON, 0));
	if (t->expires_at <= t->created_at || t->call_budget < 1)
		return MANDATE_EINVAL;
	return MANDATE_OK;
}

static int check_audit_event(const struct store_audit_event *e);

int
store_task_create(struct store *s, const struct store_task *t)
{
	if (s == NULL || t == NULL)
		return MANDATE_EINVAL;
	CHECK(task_check(t));
	return s->ops->task_create(s->impl, t);
}

int
store_task_create_audited(struct store *s, const struct store_task *t,
    const struct store_audit_event *e, int64_t *id)
{
	int64_t dummy;

	if (id == NULL)
		id = &dummy;
	*id = 0;
	if (s == NULL || t == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(task_check(t));
	CHECK(check_audit_event(e));
	return s->ops->task_create_audited(s->impl, t, e, id);
}

int
store_task_get(struct store *s, struct str id, struct arena *a,
    struct store_task *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	return s->ops->task_get(s->impl, id, a, out);
}

int
store_task_state_at(const struct store_task *t, int64_t now)
{
	if (t->state == STORE_TASK_ACTIVE && t->expires_at <= now)
		return STORE_TASK_EXPIRED;
	return t->state;
}

int
store_task_end(struct store *s, struct str id, int64_t now,
    struct str reason, int *changed)
{
	int dummy;

	if (changed == NULL)
		changed = &dummy;
	*changed = 0;
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	CHECK(check_str(reason, STORE_MAX_TEXT, 0));
	return s->ops->task_end(s->impl, id, now, reason, changed);
}

int
store_task_end_audited(struct store *s, struct str id, int64_t now,
    struct str reason, const struct store_audit_event *e, int *changed,
    int64_t *event_id)
{
	int dummy;
	int64_t dummy_id;

	if (changed == NULL)
		changed = &dummy;
	if (event_id == NULL)
		event_id = &dummy_id;
	*changed = 0;
	*event_id = 0;
	if (s == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	CHECK(check_str(reason, STORE_MAX_TEXT, 0));
	CHECK(check_audit_event(e));
	return s->ops->task_end_audited(s->impl, id, now, reason, e, changed,
	    event_id);
}

int
store_tasks_prune(struct store *s, int64_t before, size_t max,
    size_t *pruned)
{
	size_t dummy;

	if (pruned == NULL)
		pruned = &dummy;
	*pruned = 0;
	if (s == NULL || max == 0 || max > 10000)
		return MANDATE_EINVAL;
	return s->ops->tasks_prune(s->impl, before, max, pruned);
}

int
store_task_consume(struct store *s, struct str id, int64_t now,
    int *outcome, int64_t *calls_used)
{
	int64_t dummy;

	if (calls_used == NULL)
		calls_used = &dummy;
	*calls_used = 0;
	if (outcome == NULL)
		return MANDATE_EINVAL;
	*outcome = STORE_NOT_ACTIVE;
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	return s->ops->task_consume(s->impl, id, now, outcome, calls_used);
}

int
store_task_list_by_agent(struct store *s, struct str agent,
    const struct store_page *page, struct arena *a,
    struct store_task **out, size_t *n_out)
{
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || page == NULL || a == NULL || out == NULL ||
	    n_out == NULL)
		return MANDATE_EINVAL;
	if (page->limit < 1 || page->limit > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	CHECK(check_str(agent, STORE_MAX_NAME, 1));
	CHECK(check_str(page->after_id, STORE_MAX_ID, 0));
	return s->ops->task_list_by_agent(s->impl, agent, page, a, out, n_out);
}

/* --- kill switch ------------------------------------------------------ */

int
store_agent_revoke(struct store *s, const struct store_agent_revocation *r,
    int64_t now, size_t *n_tasks)
{
	size_t dummy;

	if (n_tasks == NULL)
		n_tasks = &dummy;
	*n_tasks = 0;
	if (s == NULL || r == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(r->agent, STORE_MAX_NAME, 1));
	CHECK(check_str(r->revoked_by, STORE_MAX_NAME, 0));
	CHECK(check_str(r->reason, STORE_MAX_TEXT, 0));
	return s->ops->agent_revoke(s->impl, r, now, n_tasks);
}

int
store_agent_revoke_audited(struct store *s,
    const struct store_agent_revocation *r, int64_t now,
    store_revoke_event_fn *build, void *build_arg, size_t *n_tasks,
    int64_t *id)
{
	size_t dummy;
	int64_t dummy_id;

	if (n_tasks == NULL)
		n_tasks = &dummy;
	if (id == NULL)
		id = &dummy_id;
	*n_tasks = 0;
	*id = 0;
	if (s == NULL || r == NULL || build == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(r->agent, STORE_MAX_NAME, 1));
	CHECK(check_str(r->revoked_by, STORE_MAX_NAME, 0));
	CHECK(check_str(r->reason, STORE_MAX_TEXT, 0));
	return s->ops->agent_revoke_audited(s->impl, r, now, build, build_arg,
	    n_tasks, id);
}

int
store_agent_revocation_last(struct store *s, struct str agent,
    struct arena *a, struct store_agent_revocation *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(agent, STORE_MAX_NAME, 1));
	return s->ops->agent_revocation_last(s->impl, agent, a, out);
}

/* --- credentials ------------------------------------------------------ */

int
store_cred_insert(struct store *s, const struct store_credential *c)
{
	if (s == NULL || c == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(c->jti, STORE_MAX_ID, 1));
	CHECK(check_str(c->task_id, STORE_MAX_ID, 1));
	CHECK(check_str(c->agent, STORE_MAX_NAME, 1));
	CHECK(check_str(c->audience, STORE_MAX_NAME, 0));
	CHECK(check_str(c->cnf_jkt, STORE_MAX_ID, 0));
	if (c->expires_at <= c->issued_at)
		return MANDATE_EINVAL;
	return s->ops->cred_insert(s->impl, c);
}

/* The bounds of store_cred_insert and store_audit_append, for the calls
 * that do both. */
int
store_cred_check(const struct store_credential *c)
{
	CHECK(check_str(c->jti, STORE_MAX_ID, 1));
	CHECK(check_str(c->task_id, STORE_MAX_ID, 1));
	CHECK(check_str(c->agent, STORE_MAX_NAME, 1));
	CHECK(check_str(c->audience, STORE_MAX_NAME, 0));
	CHECK(check_str(c->cnf_jkt, STORE_MAX_ID, 0));
	return c->expires_at > c->issued_at ? MANDATE_OK : MANDATE_EINVAL;
}

static int
check_audit_event(const struct store_audit_event *e)
{
	CHECK(check_str(e->type, STORE_MAX_ID, 1));
	CHECK(check_str(e->request_id, STORE_MAX_ID, 0));
	CHECK(check_str(e->agent, STORE_MAX_NAME, 0));
	CHECK(check_str(e->task_id, STORE_MAX_ID, 0));
	return check_str(e->fields_json, STORE_MAX_JSON, 0);
}

int
store_audit_event_check(const struct store_audit_event *e)
{
	if (e == NULL)
		return MANDATE_EINVAL;
	return check_audit_event(e);
}

int
store_cred_insert_audited(struct store *s, const struct store_credential *c,
    const struct store_audit_event *e, int64_t *id)
{
	int64_t dummy;

	if (id == NULL)
		id = &dummy;
	*id = 0;
	if (s == NULL || c == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(store_cred_check(c));
	CHECK(check_audit_event(e));
	return s->ops->cred_insert_audited(s->impl, c, e, id);
}

int
store_cred_get(struct store *s, struct str jti, struct arena *a,
    struct store_credential *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(jti, STORE_MAX_ID, 1));
	return s->ops->cred_get(s->impl, jti, a, out);
}

int
store_cred_revoke(struct store *s, struct str jti, int64_t now,
    int *changed)
{
	int dummy;

	if (changed == NULL)
		changed = &dummy;
	*changed = 0;
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(jti, STORE_MAX_ID, 1));
	return s->ops->cred_revoke(s->impl, jti, now, changed);
}

int
store_cred_revoke_audited(struct store *s, struct str jti, int64_t now,
    const struct store_audit_event *e, int *changed, int64_t *id)
{
	int dummy;
	int64_t dummy_id;

	if (changed == NULL)
		changed = &dummy;
	if (id == NULL)
		id = &dummy_id;
	*changed = 0;
	*id = 0;
	if (s == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(jti, STORE_MAX_ID, 1));
	CHECK(check_audit_event(e));
	return s->ops->cred_revoke_audited(s->impl, jti, now, e, changed, id);
}

int
store_cred_usable(struct store *s, struct str jti, int64_t now, int *usable)
{
	int r;

	if (usable == NULL)
		return MANDATE_EINVAL;
	*usable = STORE_UNUSABLE_UNKNOWN;
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(jti, STORE_MAX_ID, 1));
	r = s->ops->cred_usable(s->impl, jti, now, usable);
	if (r != MANDATE_OK)
		*usable = STORE_UNUSABLE_UNKNOWN;   /* fail closed */
	return r;
}

/* --- signing keys ----------------------------------------------------- */

int
store_key_insert(struct store *s, const struct store_key *k)
{
	if (s == NULL || k == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(k->kid, STORE_MAX_ID, 1));
	CHECK(check_str(k->alg, STORE_MAX_ID, 1));
	CHECK(check_str(k->public_jwk, STORE_MAX_JSON, 1));
	if (k->state < STORE_KEY_NEXT || k->state > STORE_KEY_RETIRED)
		return MANDATE_EINVAL;
	return s->ops->key_insert(s->impl, k);
}

int
store_key_get(struct store *s, struct str kid, struct arena *a,
    struct store_key *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(kid, STORE_MAX_ID, 1));
	return s->ops->key_get(s->impl, kid, a, out);
}

int
store_key_list(struct store *s, struct arena *a, struct store_key **out,
    size_t *n_out)
{
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || a == NULL || out == NULL || n_out == NULL)
		return MANDATE_EINVAL;
	return s->ops->key_list(s->impl, a, out, n_out);
}

int
store_key_activate(struct store *s, struct str kid, int64_t now,
    int64_t retire_after)
{
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(kid, STORE_MAX_ID, 1));
	return s->ops->key_activate(s->impl, kid, now, retire_after);
}

int
store_key_activate_audited(struct store *s, struct str kid, int64_t now,
    int64_t retire_after, const struct store_audit_event *e, int64_t *id)
{
	int64_t dummy;

	if (id == NULL)
		id = &dummy;
	*id = 0;
	if (s == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(kid, STORE_MAX_ID, 1));
	CHECK(check_audit_event(e));
	return s->ops->key_activate_audited(s->impl, kid, now, retire_after, e,
	    id);
}

int
store_key_retire(struct store *s, struct str kid, int64_t retire_after)
{
	if (s == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(kid, STORE_MAX_ID, 1));
	return s->ops->key_retire(s->impl, kid, retire_after);
}

/* --- audit ------------------------------------------------------------ */

int
store_audit_append(struct store *s, const struct store_audit_event *e,
    int64_t *id)
{
	int64_t dummy;

	if (id == NULL)
		id = &dummy;
	*id = 0;
	if (s == NULL || e == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(e->type, STORE_MAX_ID, 1));
	CHECK(check_str(e->request_id, STORE_MAX_ID, 0));
	CHECK(check_str(e->agent, STORE_MAX_NAME, 0));
	CHECK(check_str(e->task_id, STORE_MAX_ID, 0));
	CHECK(check_str(e->fields_json, STORE_MAX_JSON, 0));
	return s->ops->audit_append(s->impl, e, id);
}

int
store_audit_append_many(struct store *s, const struct store_audit_event *e,
    size_t n, int64_t *ids, int *results)
{
	struct store_append w[STORE_MAX_PAGE];

	if (e == NULL || n < 1 || n > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	memset(w, 0, n * sizeof(w[0]));
	for (size_t i = 0; i < n; i++)
		w[i].ev = &e[i];
	return store_append_many(s, w, n, ids, results);
}

static int check_labels(const struct str *labels, size_t n);

/* The bounds of store_decision_record. */
int
store_decision_check(const struct store_decision *dec)
{
	if (dec->permit != 0 && dec->permit != 1)
		return MANDATE_EINVAL;
	CHECK(check_str(dec->id, STORE_MAX_ID, 1));
	CHECK(check_str(dec->task_id, STORE_MAX_ID, 1));
	CHECK(check_str(dec->caller, STORE_MAX_NAME, 0));
	CHECK(check_str(dec->action, STORE_MAX_LABEL, 1));
	CHECK(check_str(dec->resource, STORE_MAX_NAME, 0));
	CHECK(check_str(dec->cred_jti, STORE_MAX_ID, 0));
	return check_labels(dec->add_labels, dec->n_add_labels);
}

int
store_append_many(struct store *s, const struct store_append *w, size_t n,
    int64_t *ids, int *results)
{
	if (s == NULL || w == NULL || ids == NULL || results == NULL || n < 1 ||
	    n > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	for (size_t i = 0; i < n; i++) {
		ids[i] = 0;
		results[i] = MANDATE_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (w[i].dec != NULL) {
			if (w[i].build == NULL || w[i].ev != NULL ||
			    w[i].cred != NULL)
				return MANDATE_EINVAL;
			CHECK(store_decision_check(w[i].dec));
			continue;
		}
		if (w[i].ev == NULL)
			return MANDATE_EINVAL;
		CHECK(check_audit_event(w[i].ev));
		if (w[i].cred != NULL)
			CHECK(store_cred_check(w[i].cred));
	}
	return s->ops->append_many(s->impl, w, n, ids, results);
}

int
store_audit_read(struct store *s, int64_t from_id, size_t limit,
    struct arena *a, struct store_audit_event **out, size_t *n_out)
{
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || a == NULL || out == NULL || n_out == NULL)
		return MANDATE_EINVAL;
	if (limit < 1 || limit > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	return s->ops->audit_read(s->impl, from_id, limit, a, out, n_out);
}

/* --- agent sessions and decisions --------------------------------------- */

static int
check_labels(const struct str *labels, size_t n)
{
	if (n > STORE_MAX_LABELS)
		return MANDATE_ELIMIT;
	if (n > 0 && labels == NULL)
		return MANDATE_EINVAL;
	for (size_t i = 0; i < n; i++)
		CHECK(check_str(labels[i], STORE_MAX_LABEL, 1));
	return MANDATE_OK;
}

int
store_decision_record(struct store *s, const struct store_decision *dec,
    int64_t now, int *outcome, int64_t *calls_used)
{
	int64_t dummy;

	if (calls_used == NULL)
		calls_used = &dummy;
	*calls_used = 0;
	if (outcome == NULL)
		return MANDATE_EINVAL;
	*outcome = STORE_NOT_ACTIVE;
	if (s == NULL || dec == NULL)
		return MANDATE_EINVAL;
	CHECK(store_decision_check(dec));
	return s->ops->decision_record(s->impl, dec, now, outcome, calls_used);
}

int
store_decision_get(struct store *s, struct str id, struct arena *a,
    struct store_decision *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	return s->ops->decision_get(s->impl, id, a, out);
}

int
store_decision_outcome(struct store *s, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, int *changed, int *task_active)
{
	int dummy, dummy_active;

	if (changed == NULL)
		changed = &dummy;
	if (task_active == NULL)
		task_active = &dummy_active;
	*changed = 0;
	*task_active = 0;
	if (s == NULL || (status != STORE_OUTCOME_SUCCESS &&
	    status != STORE_OUTCOME_FAILURE))
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	CHECK(check_str(labels_json, STORE_MAX_JSON, 0));
	CHECK(check_labels(labels, n_labels));
	return s->ops->decision_outcome(s->impl, id, status, labels_json,
	    labels, n_labels, now, changed, task_active);
}

int
store_decision_outcome_audited(struct store *s, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, store_outcome_event_fn *build, void *build_arg,
    int *changed, int *task_active, int64_t *event_id)
{
	int dummy, dummy_active;
	int64_t dummy_id;

	if (changed == NULL)
		changed = &dummy;
	if (task_active == NULL)
		task_active = &dummy_active;
	if (event_id == NULL)
		event_id = &dummy_id;
	*changed = 0;
	*task_active = 0;
	*event_id = 0;
	if (s == NULL || build == NULL || (status != STORE_OUTCOME_SUCCESS &&
	    status != STORE_OUTCOME_FAILURE))
		return MANDATE_EINVAL;
	CHECK(check_str(id, STORE_MAX_ID, 1));
	CHECK(check_str(labels_json, STORE_MAX_JSON, 0));
	CHECK(check_labels(labels, n_labels));
	return s->ops->decision_outcome_audited(s->impl, id, status,
	    labels_json, labels, n_labels, now, build, build_arg, changed,
	    task_active, event_id);
}

int
store_session_get(struct store *s, struct str task_id, struct arena *a,
    struct store_session *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	CHECK(check_str(task_id, STORE_MAX_ID, 1));
	return s->ops->session_get(s->impl, task_id, a, out);
}

/* --- the audit log's tree ----------------------------------------------- */

int
store_audit_tree_head(struct store *s, int64_t *size,
    uint8_t root[STORE_AUDIT_HASH_LEN])
{
	if (size != NULL)
		*size = 0;
	if (s == NULL || size == NULL || root == NULL)
		return MANDATE_EINVAL;
	return s->ops->audit_tree_head(s->impl, size, root);
}

int
store_audit_leaves(struct store *s, int64_t from_index, size_t limit,
    struct store_audit_leaf *out, size_t *n_out)
{
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || out == NULL || n_out == NULL || from_index < 0)
		return MANDATE_EINVAL;
	if (limit < 1 || limit > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	return s->ops->audit_leaves(s->impl, from_index, limit, out, n_out);
}

int
store_audit_checkpoint_add(struct store *s,
    const struct store_audit_checkpoint *c)
{
	if (s == NULL || c == NULL || c->tree_size < 1)
		return MANDATE_EINVAL;
	CHECK(check_str(c->signed_text, STORE_MAX_TEXT, 1));
	return s->ops->audit_checkpoint_add(s->impl, c);
}

int
store_audit_checkpoints(struct store *s, int64_t after_size, size_t limit,
    struct arena *a, struct store_audit_checkpoint **out, size_t *n_out)
{
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || a == NULL || out == NULL || n_out == NULL)
		return MANDATE_EINVAL;
	if (limit < 1 || limit > STORE_MAX_PAGE)
		return MANDATE_EINVAL;
	return s->ops->audit_checkpoints(s->impl, after_size, limit, a, out,
	    n_out);
}

int
store_audit_checkpoint_latest(struct store *s, struct arena *a,
    struct store_audit_checkpoint *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || a == NULL || out == NULL)
		return MANDATE_EINVAL;
	return s->ops->audit_checkpoint_latest(s->impl, a, out);
}

int
store_audit_tables_check(struct store *s, const char **table,
    const char **why)
{
	if (table != NULL)
		*table = NULL;
	if (why != NULL)
		*why = NULL;
	if (s == NULL || table == NULL || why == NULL)
		return MANDATE_EINVAL;
	return s->ops->audit_tables_check(s->impl, table, why);
}

int
store_integrity_check(struct store *s, char *why, size_t why_size)
{
	if (why == NULL || why_size == 0)
		return MANDATE_EINVAL;
	why[0] = '\0';
	if (s == NULL)
		return MANDATE_EINVAL;
	if (s->ops->integrity_check == NULL) {
		snprintf(why, why_size, "this store has no integrity check");
		return MANDATE_EINTERNAL;
	}
	return s->ops->integrity_check(s->impl, why, why_size);
}

int
store_audit_query(struct store *s, const struct store_audit_filter *f,
    struct arena *a, struct store_audit_event **out, size_t *n_out)
{
	if (out != NULL)
		*out = NULL;
	if (n_out != NULL)
		*n_out = 0;
	if (s == NULL || f == NULL || a == NULL || out == NULL ||
	    n_out == NULL)
		return MANDATE_EINVAL;
	if (f->limit < 1 || f->limit > STORE_MAX_PAGE || f->after_id < 0 ||
	    f->before_id < 0 || f->from_time < 0 || f->to_time < 0 ||
	    (f->to_time > 0 && f->to_time < f->from_time))
		return MANDATE_EINVAL;
	CHECK(check_str(f->type, STORE_MAX_ID, 0));
	CHECK(check_str(f->agent, STORE_MAX_NAME, 0));
	CHECK(check_str(f->task_id, STORE_MAX_ID, 0));
	if (s->ops->audit_query == NULL)
		return MANDATE_EINTERNAL;
	return s->ops->audit_query(s->impl, f, a, out, n_out);
}
