/*
 * curlload.h - curlload.c: libcurl loaded with dlopen(3) on first use.
 *
 * curlload.c defines the curl_* functions agq calls (curl/curl.h's
 * prototypes), so callers use libcurl's API unchanged; this header adds
 * only the loader.
 */
#ifndef AGQ_CURLLOAD_H
#define AGQ_CURLLOAD_H

/* Load libcurl (SONAME AGQ_LIBCURL, default "libcurl.so.4") and find the
 * functions agq calls, once per process; later calls return the first
 * call's result.  0, or -1 after one warning on stderr naming dlerror(3)'s
 * reason (the curl_* functions then fail as libcurl documents a failure:
 * NULL, CURLE_FAILED_INIT).  Not thread-safe on its first call: agq's
 * programs make it from their one thread. */
int agq_curl_load(void);

#endif
