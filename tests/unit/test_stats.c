/* test_stats - the journal line scanner, the marker splice, the sync
 * allow list and the settings of agq-sync, agq-dash and agq-alert. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "stats.h"
#include "sync.h"

static int
scan(const char *s, struct agq_jline *jl)
{
	return agq_jscan(s, strlen(s), jl);
}

int
main(void)
{
	struct agq_jline jl;
	char buf[256];
	double d;

	/* the scanner: top-level members only, nesting and strings skipped */
	CHECK(scan("{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"ev\":\"done\","
	    "\"x\":{\"ev\":\"no\",\"a\":[1,\"}]\",{}]},\"n\":-1.5e3,\"b\":true,"
	    "\"z\":null}\n", &jl) == 0, "a line with nested values scans");
	CHECK(jl.n == 6, "six top-level members");
	CHECK(agq_jstr(&jl, "ev", buf, sizeof buf) && !strcmp(buf, "done"),
	    "ev is the top-level one, not the nested one");
	CHECK(agq_jnum(&jl, "n", &d) == 0 && d == -1500, "a number");
	CHECK(agq_jnum(&jl, "b", &d) < 0, "true is not a number");
	CHECK(agq_jstr(&jl, "x", buf, sizeof buf) == NULL,
	    "an object is not a string");
	CHECK(agq_jtime(&jl) == 1767225600LL * 1000000, "the fixed ts form");
	CHECK(scan("{\"ts\":\"2026-01-01T01:00:00+01:00\"}", &jl) == 0 &&
	    agq_jtime(&jl) == 1767225600LL * 1000000, "other RFC 3339 forms");
	CHECK(scan("{\"r\":\"a\\\"b\\u00e9\\n\"}", &jl) == 0 &&
	    agq_jstr(&jl, "r", buf, sizeof buf) && !strcmp(buf,
	    "a\"b\xc3\xa9\n"), "escapes are decoded");
	CHECK(agq_jstr(&jl, "r", buf, 3) == NULL, "too long for the buffer");
	CHECK(scan("{}", &jl) == 0 && jl.n == 0, "an empty object");
	CHECK(scan("{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"ev\":\"do",
	    &jl) < 0, "a torn line");
	CHECK(scan("{\"a\":1} x", &jl) < 0, "trailing text");
	CHECK(scan("[1,2]", &jl) < 0, "not an object");
	CHECK(scan("not json", &jl) < 0, "not JSON");
	CHECK(scan("{\"a\":{\"b\":1}", &jl) < 0, "unbalanced");
	CHECK(scan("{\"a\" 1}", &jl) < 0, "no colon");
	CHECK(scan("{\"a\":\"x\ny\"}", &jl) < 0, "a raw newline in a string");

	/* --since */
	int64_t us;
	CHECK(agq_parse_since("10m", 1000000000, &us) == 0 &&
	    us == 1000000000 - 600000000LL, "a duration counts back");
	CHECK(agq_parse_since("2026-01-01T00:00:00Z", 0, &us) == 0 &&
	    us == 1767225600LL * 1000000, "an RFC 3339 time");
	CHECK(agq_parse_since("1767225600", 0, &us) == 0 &&
	    us == 1767225600LL * 1000000, "epoch seconds");
	CHECK(agq_parse_since("soon", 0, &us) < 0, "not a time");

	/* the splice keeps everything outside the markers byte for byte */
	const char *doc = "# T\n\n  " AGQ_SYNC_BEGIN " keep\nold\nlines\n  "
	    AGQ_SYNC_END " tail\nend\n";
	char err[256];
	size_t n;
	char *o = agq_sync_splice(doc, strlen(doc), "new\n", &n, err,
	    sizeof err);
	CHECK(o && !strcmp(o, "# T\n\n  " AGQ_SYNC_BEGIN " keep\nnew\n  "
	    AGQ_SYNC_END " tail\nend\n") && n == strlen(o), "splice");
	free(o);
	const char *tight = AGQ_SYNC_BEGIN AGQ_SYNC_END;
	o = agq_sync_splice(tight, strlen(tight), "x", &n, err, sizeof err);
	CHECK(o && !strcmp(o, AGQ_SYNC_BEGIN "\nx\n" AGQ_SYNC_END),
	    "markers on one line");
	free(o);
	const char *dup = AGQ_SYNC_BEGIN "\n" AGQ_SYNC_END "\n" AGQ_SYNC_END;
	CHECK(!agq_sync_splice(dup, strlen(dup), "x", &n, err, sizeof err) &&
	    strstr(err, "2 end markers"), "two end markers");
	CHECK(!agq_sync_splice("x", 1, "x", &n, err, sizeof err) &&
	    strstr(err, "no begin marker"), "no marker");

	/* the allow list */
	CHECK(agq_sync_allowed("/srv/a.md /srv/docs/*.md", "/srv/docs/s.md"),
	    "a pattern matches");
	CHECK(!agq_sync_allowed("/srv/docs/*.md", "/srv/docs/x/s.md"),
	    "* does not cross /");
	CHECK(!agq_sync_allowed("docs/*.md", "docs/s.md"),
	    "relative patterns never match");
	CHECK(!agq_sync_allowed(NULL, "/srv/a.md") &&
	    !agq_sync_allowed("", "/srv/a.md"), "empty allows nothing");

	/* the settings */
	json_t *obs = NULL;
	CHECK(agq_obs_conf(&obs, "lease", "3", err, sizeof err) == 0,
	    "not one of ours");
	CHECK(agq_obs_conf(&obs, "alert_queue_depth", "10 for 5m", err,
	    sizeof err) == 1, "N for DURATION");
	CHECK(agq_obs_conf(&obs, "alert_queue_depth", "10", err,
	    sizeof err) == 1, "N alone");
	CHECK(agq_obs_conf(&obs, "alert_queue_depth", "10 for", err,
	    sizeof err) < 0, "for without a duration");
	CHECK(agq_obs_conf(&obs, "dash_refresh", "0", err, sizeof err) < 0,
	    "a refresh of 0 s");
	CHECK(agq_obs_conf(&obs, "sync_allow", "/a", err, sizeof err) == 1 &&
	    agq_obs_conf(&obs, "sync_allow", "/b", err, sizeof err) == 1 &&
	    !strcmp(json_string_value(json_object_get(obs, "sync_allow")),
	    "/a /b"), "sync_allow lines add up");
	json_decref(obs);
	DONE();
}
