/*
 * cli.h - shared pieces of the `mandate` subcommands.
 *
 * The CLI uses only the library's public headers.  Every subcommand
 * returns its process exit status: 0 on success (for `check`: a decision
 * was made, allow or deny), 1 on usage or input errors.
 */
#ifndef MANDATE_CLI_H
#define MANDATE_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "cedar/cedar.h"

#define CLI_MAX_FILE (64u << 20)   /* largest input file we read */
#define CLI_MAX_POLICY_FILES 256

int cmd_check(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_task(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_dev(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* `mandate audit tail|export` (cmd_audit_query.c); argv[0] is the
 * subcommand's name. */
int cmd_audit_tail(int argc, char **argv);
int cmd_audit_export(int argc, char **argv);

/* Load helpers: print diagnostics to stderr and return MANDATE_* codes. */
/* Policy files, then template links from links_file (may be NULL; the
 * Cedar CLI's JSON format), then the index: a finished set. */
int cli_load_policies(const char *const *files, size_t n_files,
    const char *links_file, enum cedar_id_mode mode,
    struct cedar_policy_set **out);
int cli_load_schema(const char *file, struct cedar_schema **out);
int cli_load_entities(const char *file, const struct cedar_schema *schema,
    struct cedar_entities **out);

/* Read a file whole (caller frees); prints the reason on failure. */
char *cli_read_file(const char *path, size_t *len);

struct json_t;

/* One request to the daemon's API (http_client.c). */
struct cli_http_req {
	void *curl;                /* a CURL handle to reuse, or NULL */
	const char *url;
	const char *method;        /* NULL: GET (or POST when body is set) */
	const char *body;          /* NULL: none */
	const char *content_type;  /* "Content-Type: ..." header with body */
	const char *token;         /* bearer token; NULL or "": none */
	long timeout_s;
	size_t max_reply;          /* bytes of answer accepted */
};

/* 0 on a 2xx answer with *answer its JSON (NULL when the body is not
 * JSON; json_decref it); 1 after printing the failure (transport error,
 * or the status with the server's error and error_description). */
int cli_http(const struct cli_http_req *q, struct json_t **answer);

struct json_error_t;

/* "file:line:col: error: text" for a jansson parse error.  jansson says
 * column 0 for an error at the start of a line (just after a newline, or
 * at the end of the file); our columns are 1-based everywhere. */
void cli_json_error(const char *file, const struct json_error_t *e);

/* True when arg is exactly one of the given option spellings. */
bool cli_opt(const char *arg, const char *long_name, const char *short_name);

#endif
