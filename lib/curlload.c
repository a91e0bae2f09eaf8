/*
 * curlload.c - libcurl, loaded when a program first calls it.
 *
 * agq speaks HTTP through libcurl (model APIs, forge REST APIs, alert
 * hooks, endpoint checks), but most runs of the programs that can do so
 * never make a request: agq-attempt runs a shell command task's agent,
 * agq-show prints a task, the shell backend runs a script.  Linked the
 * ordinary way, libcurl and the 30 shared libraries it needs (TLS,
 * Kerberos, LDAP, IDN, HTTP/2, SSH...) are mapped and relocated at every
 * start: about 13 ms of CPU a start on this project's machines (19 ms
 * and more in the sanitizer build), most of an agq-attempt's start-up.
 *
 * So the programs are not linked with libcurl.  This file defines the
 * libcurl functions agq calls, under their own names and with libcurl's
 * prototypes (curl/curl.h, libcurl's ABI of SONAME AGQ_LIBCURL, stable
 * since 7.16), and each of them loads the library with dlopen(3) on
 * first use and calls the real function found with dlsym(3).  The
 * callers are unchanged and still use libcurl's documented API; only
 * when the library is mapped changes.  The executables export nothing,
 * so libcurl's calls to its own functions are not diverted here.
 *
 * When libcurl cannot be loaded, one message names the reason
 * (dlerror(3)) and each function fails as libcurl documents for a
 * failure: NULL handles and strings, CURLE_FAILED_INIT.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <curl/curl.h>

#include "curlload.h"
#include "util.h"

#ifndef AGQ_LIBCURL
#define AGQ_LIBCURL "libcurl.so.4"
#endif

static struct {
	int tried;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLHcode (*easy_header)(CURL *, const char *, size_t, unsigned int,
	    int, struct curl_header **);
} C;

int
agq_curl_load(void)
{
	if (C.tried)
		return C.easy_init ? 0 : -1;
	C.tried = 1;
	void *h = dlopen(AGQ_LIBCURL, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		agq_warn("cannot load libcurl: %s (%s)", dlerror(),
		    AGQ_LIBCURL);
		return -1;
	}
	/* the members in the order of their names below */
	static const char *const names[] = {
		"curl_global_init", "curl_global_cleanup", "curl_easy_init",
		"curl_easy_setopt", "curl_easy_perform", "curl_easy_getinfo",
		"curl_easy_cleanup", "curl_easy_strerror", "curl_easy_escape",
		"curl_free", "curl_slist_append", "curl_slist_free_all",
		"curl_easy_header",
	};
	void *f[sizeof names / sizeof *names];
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		dlerror();
		if (!(f[i] = dlsym(h, names[i]))) {
			const char *why = dlerror();
			agq_warn("cannot load libcurl: %s (%s)", why ? why :
			    "no such symbol", names[i]);
			return -1;   /* h stays mapped: harmless */
		}
	}
	/* POSIX dlsym(3): a function's address converts from void * */
	*(void **)&C.global_init = f[0];
	*(void **)&C.global_cleanup = f[1];
	*(void **)&C.easy_setopt = f[3];
	*(void **)&C.easy_perform = f[4];
	*(void **)&C.easy_getinfo = f[5];
	*(void **)&C.easy_cleanup = f[6];
	*(void **)&C.easy_strerror = f[7];
	*(void **)&C.easy_escape = f[8];
	*(void **)&C.free = f[9];
	*(void **)&C.slist_append = f[10];
	*(void **)&C.slist_free_all = f[11];
	*(void **)&C.easy_header = f[12];
	*(void **)&C.easy_init = f[2];   /* last: it marks success */
	return 0;
}

CURLcode
curl_global_init(long flags)
{
	return agq_curl_load() < 0 ? CURLE_FAILED_INIT : C.global_init(flags);
}

void
curl_global_cleanup(void)
{
	if (C.easy_init)
		C.global_cleanup();
}

CURL *
curl_easy_init(void)
{
	return agq_curl_load() < 0 ? NULL : C.easy_init();
}

/* The third argument's type follows from the option's number, as
 * libcurl's own curl_easy_setopt reads it (curl/curl.h CURLOPTTYPE_*):
 * long, an object pointer, a function pointer or curl_off_t. */
CURLcode
(curl_easy_setopt)(CURL *c, CURLoption opt, ...)
{
	if (!C.easy_init)
		return CURLE_FAILED_INIT;   /* no handle without easy_init */
	va_list ap;
	va_start(ap, opt);
	CURLcode rc;
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = C.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = C.easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = C.easy_setopt(c, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = C.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = C.easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *c)
{
	return C.easy_init ? C.easy_perform(c) : CURLE_FAILED_INIT;
}

/* Every CURLINFO_* takes a pointer (curl_easy_getinfo(3)). */
CURLcode
(curl_easy_getinfo)(CURL *c, CURLINFO info, ...)
{
	if (!C.easy_init)
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	CURLcode rc = C.easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void
curl_easy_cleanup(CURL *c)
{
	if (C.easy_init)
		C.easy_cleanup(c);
}

const char *
curl_easy_strerror(CURLcode rc)
{
	return agq_curl_load() < 0 ? "libcurl could not be loaded" :
	    C.easy_strerror(rc);
}

char *
curl_easy_escape(CURL *c, const char *s, int len)
{
	return agq_curl_load() < 0 ? NULL : C.easy_escape(c, s, len);
}

void
curl_free(void *p)
{
	if (C.easy_init)
		C.free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	return agq_curl_load() < 0 ? NULL : C.slist_append(l, s);
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (C.easy_init)
		C.slist_free_all(l);
}

CURLHcode
curl_easy_header(CURL *c, const char *name, size_t index,
                 unsigned int origin, int request, struct curl_header **hout)
{
	return C.easy_init ? C.easy_header(c, name, index, origin, request,
	    hout) : CURLHE_NOT_BUILT_IN;
}
