/* Unit tests for lib/captoken.c: the token against a vector computed with
 * another implementation, the order and repeats of capabilities, the
 * constant-time verify, the key file (made 0600, refused when others may
 * read it) and the filter agq-sched applies to an agent file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

/* python3 -c 'import hmac,hashlib; k=b"0011...eeff" (the KEY below);
 *   print(hmac.new(k, b"agq-cap-v1\0gpu1\0deploy,gpu,prod",
 *   hashlib.sha256).hexdigest())' and the same with no capabilities */
#define KEY "00112233445566778899aabbccddeeff" \
            "00112233445566778899aabbccddeeff"
#define VEC "8f4425072d09b43ad994bf73ae5701784c79ab3b0af2d9dac0f43fb8a613732b"
#define VEC0 "0dd1bf8e7311979a6e7cbdacec80c5c52dd12fbf0b2b1b780a61d55c56274090"

/* Is V equal to the JSON TEXT? */
static int
eq(const json_t *v, const char *text)
{
	json_t *t = J(text);
	int r = json_equal(v, t);
	json_decref(t);
	return r;
}

int
main(void)
{
	char tok[AGQ_CAPTOKEN_LEN + 1];
	json_t *caps = J("[\"prod\", \"gpu\", \"deploy\", \"gpu\"]");
	CHECK(agq_captoken_make(KEY, strlen(KEY), "gpu1", caps, tok) == 0 &&
	    !strcmp(tok, VEC), "token: python3 hmac's vector, caps sorted, "
	    "repeat dropped");
	json_t *none = json_array();
	CHECK(agq_captoken_make(KEY, strlen(KEY), "gpu1", none, tok) == 0 &&
	    !strcmp(tok, VEC0), "token: no capabilities");
	CHECK(agq_captoken_verify(KEY, strlen(KEY), "gpu1", caps, VEC),
	    "verify: the right token");
	CHECK(!agq_captoken_verify(KEY, strlen(KEY), "gpu2", caps, VEC),
	    "verify: another name fails");
	json_t *fewer = J("[\"gpu\", \"deploy\"]");
	CHECK(!agq_captoken_verify(KEY, strlen(KEY), "gpu1", fewer, VEC),
	    "verify: other capabilities fail");
	char bad[] = VEC;
	bad[63] = bad[63] == '0' ? '1' : '0';
	CHECK(!agq_captoken_verify(KEY, strlen(KEY), "gpu1", caps, bad) &&
	    !agq_captoken_verify(KEY, strlen(KEY), "gpu1", caps, "8f44") &&
	    !agq_captoken_verify(KEY, strlen(KEY), "gpu1", caps, NULL),
	    "verify: one digit off, short, none");
	json_t *comma = J("[\"a,b\"]");
	CHECK(agq_captoken_make(KEY, strlen(KEY), "x", comma, tok) < 0,
	    "make: a capability with ',' refused");

	char dir[] = "/tmp/agq-captoken-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	struct agq_spool sp = { .root = dir };
	sp.tmp = agq_xasprintf("%s/tmp", dir);
	agq_mkdirs(sp.tmp, 0755);
	char why[512] = "";
	size_t kl = 0;
	char *k = agq_captoken_key(&sp, 0, &kl, why, sizeof why);
	CHECK(!k && strstr(why, ".capkey"), "key: none, not created");
	k = agq_captoken_key(&sp, 1, &kl, why, sizeof why);
	char *kp = agq_xasprintf("%s/.capkey", dir);
	struct stat st;
	CHECK(k && kl == 64 && stat(kp, &st) == 0 &&
	    (st.st_mode & 0777) == 0600, "key: created 0600, 64 hex digits");
	size_t kl2 = 0;
	char *k2 = agq_captoken_key(&sp, 1, &kl2, why, sizeof why);
	CHECK(k2 && kl2 == kl && !memcmp(k, k2, kl), "key: read again, same");
	agq_free_secret(k2);

	/* the filter: deploy needs a token */
	sp.conf.token_caps = J("[\"deploy\"]");
	json_t *a = J("{\"name\": \"gpu1\", \"capabilities\": [\"gpu\", "
	    "\"deploy\"]}");
	json_t *refused = NULL;
	CHECK(agq_captoken_filter(&sp, a, &refused, why, sizeof why) == 1 &&
	    eq(json_object_get(a, "capabilities"), "[\"gpu\"]") &&
	    eq(refused, "[\"deploy\"]") &&
	    !strcmp(why, "no cap_token"), "filter: no token, deploy dropped");
	json_decref(refused);
	json_decref(a);
	json_t *claim = J("[\"gpu\", \"deploy\"]");
	agq_captoken_make(k, kl, "gpu1", claim, tok);
	a = json_pack("{s:s, s:O, s:s}", "name", "gpu1", "capabilities",
	    claim, "cap_token", tok);
	CHECK(agq_captoken_filter(&sp, a, NULL, why, sizeof why) == 2 &&
	    json_equal(json_object_get(a, "capabilities"), claim),
	    "filter: a token that verifies keeps every capability");
	json_object_set_new(a, "name", json_string("gpu2"));
	CHECK(agq_captoken_filter(&sp, a, NULL, why, sizeof why) == 1 &&
	    strstr(why, "does not verify for agent gpu2"),
	    "filter: another agent's token refused");
	json_decref(a);
	a = J("{\"name\": \"cpu\", \"capabilities\": [\"gpu\"]}");
	CHECK(agq_captoken_filter(&sp, a, NULL, why, sizeof why) == 0,
	    "filter: no token cap claimed, nothing checked");
	json_decref(a);
	chmod(kp, 0640);
	a = json_pack("{s:s, s:O, s:s}", "name", "gpu1", "capabilities",
	    claim, "cap_token", tok);
	CHECK(agq_captoken_filter(&sp, a, NULL, why, sizeof why) == 1 &&
	    strstr(why, "group or others"), "filter: a key others may read "
	    "is refused");
	json_decref(a);
	agq_free_secret(k);
	json_decref(claim);
	json_decref(sp.conf.token_caps);
	unlink(kp);
	free(kp);
	rmdir(sp.tmp);
	rmdir(dir);
	free(sp.tmp);
	json_decref(caps);
	json_decref(none);
	json_decref(fewer);
	json_decref(comma);
	DONE();
}
