/* status.c - text for the status enum. */
#include "status.h"

const char *
mandate_strerror(int status)
{
	switch (status) {
	case MANDATE_OK: return "success";
	case MANDATE_ENOMEM: return "out of memory";
	case MANDATE_EINVAL: return "invalid input";
	case MANDATE_EPARSE: return "parse error";
	case MANDATE_ELIMIT: return "limit exceeded";
	case MANDATE_EIO: return "input/output error";
	case MANDATE_EINTERNAL: return "internal error";
	case MANDATE_ENOTFOUND: return "not found";
	case MANDATE_EVALIDATE: return "validation failed";
	case MANDATE_EEVAL: return "evaluation error";
	case MANDATE_ECONFLICT: return "conflict with the current state";
	}
	return "unknown status";
}
