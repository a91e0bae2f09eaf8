/* Unit tests for lib/task.c: validation, defaults, backoff, capabilities. */
#include "agq.h"
#include "unit.h"
#include "unit_task.h"

int
main(void)
{
	CHECK(valid("{\"cmd\":[\"true\"]}"), "minimal argv task");
	CHECK(valid("{\"cmd\":\"echo hi | wc\"}"), "shell string task");
	CHECK(valid("{\"cmd\":[\"x\"],\"id\":\"a.b-c_1\",\"priority\":\"urgent\","
	    "\"requires\":[\"gpu\"],\"max_attempts\":5,\"backoff\":0.5,"
	    "\"timeout\":3,\"not_before\":\"2030-01-01T00:00:00Z\","
	    "\"env\":{\"A\":\"1\"},\"cwd\":\"/tmp\",\"meta\":{\"k\":[1]},"
	    "\"extra\":true}"), "every field, unknown field kept");
	CHECK(err_has("{}", "field cmd: missing"), "cmd missing");
	CHECK(err_has("{\"cmd\":[]}", "field cmd"), "empty cmd array");
	CHECK(err_has("{\"cmd\":[1]}", "field cmd"), "non-string argv");
	CHECK(err_has("{\"cmd\":\"\"}", "field cmd"), "empty cmd string");
	CHECK(err_has("[1,2]", "not a JSON object"), "array rejected");
	CHECK(err_has("{\"cmd\":\"x\",\"id\":\"a/b\"}", "field id"), "id slash");
	CHECK(err_has("{\"cmd\":\"x\",\"id\":\"..\"}", "field id"), "id dot-dot");
	CHECK(err_has("{\"cmd\":\"x\",\"id\":7}", "field id"), "id number");
	CHECK(err_has("{\"cmd\":\"x\",\"priority\":\"asap\"}", "field priority"),
	    "bad priority");
	CHECK(err_has("{\"cmd\":\"x\",\"max_attempts\":0}", "field max_attempts"),
	    "zero attempts");
	CHECK(err_has("{\"cmd\":\"x\",\"max_attempts\":\"3\"}",
	    "field max_attempts"), "string attempts");
	CHECK(err_has("{\"cmd\":\"x\",\"backoff\":-1}", "field backoff"),
	    "negative backoff");
	CHECK(err_has("{\"cmd\":\"x\",\"timeout\":0}", "field timeout"),
	    "zero timeout");
	CHECK(err_has("{\"cmd\":\"x\",\"not_before\":\"soon\"}",
	    "field not_before"), "bad not_before");
	CHECK(err_has("{\"cmd\":\"x\",\"env\":{\"A\":1}}", "field env.A"),
	    "env value type");
	CHECK(err_has("{\"cmd\":\"x\",\"env\":{\"A=B\":\"1\"}}", "field env"),
	    "env name with =");
	CHECK(err_has("{\"cmd\":\"x\",\"requires\":\"gpu\"}", "field requires"),
	    "requires not an array");
	CHECK(err_has("{\"cmd\":\"x\",\"meta\":[]}", "field meta"), "meta array");
	CHECK(err_has("{\"cmd\":\"x\",\"cmd\":\"y\"}", "duplicate"),
	    "duplicate keys rejected");
	CHECK(err_has("{\"cmd\":\"x\"} trailing", "invalid JSON"),
	    "trailing garbage rejected");
	CHECK(err_has("{\"cmd\":\"\\u0000\"}", "invalid JSON"),
	    "NUL in a string rejected");
	CHECK(err_has("{\"cmd\":\"\xff\"}", "invalid JSON"),
	    "invalid UTF-8 rejected");
	char deep[5000];
	size_t n = 0;
	for (int i = 0; i < 2400; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	CHECK(err_has(deep, "invalid JSON"), "deep nesting rejected, no crash");

	char err[512];
	const char *min = "{\"cmd\":[\"true\"]}";
	json_t *t = agq_task_parse(min, strlen(min), err, sizeof err);
	agq_task_normalize(t, 1000000);
	CHECK(agq_id_valid(agq_task_id(t)), "normalize generates an id");
	CHECK(agq_task_lane(t) == AGQ_NORMAL, "default lane normal");
	CHECK(agq_task_int(t, "max_attempts", 0) == 3, "default max_attempts 3");
	CHECK(agq_task_int(t, "backoff", 0) == 10, "default backoff 10");
	CHECK(agq_task_time(t, "submitted_at", -1) == 1000000,
	    "submitted_at set");
	CHECK(json_array_size(json_object_get(t, "attempts")) == 0 &&
	    agq_task_int(t, "generation", -1) == 0, "attempts and generation");

	/* backoff: base 10, doubling, equal jitter in [d/2, d], capped */
	int ok = 1;
	for (int i = 0; i < 200; i++) {
		int64_t d1 = agq_backoff_us(t, 1, 3600);
		int64_t d3 = agq_backoff_us(t, 3, 3600);
		int64_t d20 = agq_backoff_us(t, 20, 3600);
		if (d1 < 5000000 || d1 > 10000000 || d3 < 20000000 ||
		    d3 > 40000000 || d20 < 1800000000LL || d20 > 3600000000LL)
			ok = 0;
	}
	CHECK(ok, "backoff doubles, jitters and caps");
	json_object_set_new(t, "backoff", json_integer(0));
	CHECK(agq_backoff_us(t, 5, 3600) == 0, "backoff 0 is immediate");

	json_object_set_new(t, "requires", json_pack("[s,s]", "gpu", "linux"));
	json_t *caps = json_pack("[s,s,s]", "linux", "shell", "gpu");
	CHECK(agq_caps_match(t, caps), "caps superset matches");
	json_array_remove(caps, 2);
	CHECK(!agq_caps_match(t, caps), "missing cap does not match");
	json_object_del(t, "requires");
	CHECK(agq_caps_match(t, NULL), "no requirements match anything");
	json_decref(caps);
	json_t *req = json_pack("[s,s]", "gpu", "linux");
	caps = json_pack("[s,s,s]", "linux", "shell", "gpu");
	CHECK(agq_requires_met(req, caps), "requires array: superset matches");
	json_array_remove(caps, 2);
	CHECK(!agq_requires_met(req, caps), "requires array: missing cap");
	CHECK(!agq_requires_met(req, NULL), "requires array: no caps");
	CHECK(agq_requires_met(NULL, caps) && agq_requires_met(
	    json_array_get(req, 0), caps), "no requires array: matches");
	json_decref(req);
	json_decref(caps);

	CHECK(agq_lane_parse("urgent") == AGQ_URGENT &&
	    agq_lane_parse("low") == AGQ_LOW && agq_lane_parse("x") < 0,
	    "lane names");
	size_t len;
	char *s = agq_task_dump(t, &len);
	json_t *back = json_loads(s, 0, NULL);
	CHECK(back && json_equal(back, t) && s[len - 1] == '\n',
	    "dump round-trips with a newline");
	json_decref(back);
	free(s);
	json_decref(t);

	CHECK(agq_origin_local("/srv/git/app.git") &&
	    agq_origin_local("origin.git") && agq_origin_local("./a:b") &&
	    agq_origin_local("../x/y.git"), "local origins: paths");
	CHECK(!agq_origin_local("file:///srv/git/app.git") &&
	    !agq_origin_local("https://example.org/o/r.git") &&
	    !agq_origin_local("ssh://git@example.org/o/r") &&
	    !agq_origin_local("git@example.org:o/r.git") &&
	    !agq_origin_local("host:r.git"), "URLs and scp-style are not local");
	CHECK(agq_ref_name_valid("a1/fix-the-typo") &&
	    !agq_ref_name_valid("a..b") && !agq_ref_name_valid("-x") &&
	    !agq_ref_name_valid("x.lock") && !agq_ref_name_valid("a b") &&
	    !agq_ref_name_valid("a/.b") && !agq_ref_name_valid("@"),
	    "branch names as git-check-ref-format(1) has them");

	/* agq-task(5): unknown top-level fields refused at submit */
	const char *near = agq_task_field_nearest("max_atempts");
	CHECK(near && !strcmp(near, "max_attempts"), "nearest: a deletion");
	near = agq_task_field_nearest("priorty");
	CHECK(near && !strcmp(near, "priority"), "nearest: priorty");
	near = agq_task_field_nearest("tilte");
	CHECK(near && !strcmp(near, "title"), "nearest: a swap counts 1");
	CHECK(!agq_task_field_nearest("depends") &&
	    !agq_task_field_nearest("zzzzzzzzzz"), "nearest: none within 2");
	char ferr[300];
	json_t *ft = json_loads("{\"cmd\": \"true\", \"meta\": {\"x\": 1}, "
	    "\"previous_attempts\": []}", 0, NULL);
	CHECK(agq_task_check_fields(ft, ferr, sizeof ferr) == 0,
	    "check_fields: known fields and anything under meta pass");
	json_object_set_new(ft, "max_atempts", json_integer(2));
	CHECK(agq_task_check_fields(ft, ferr, sizeof ferr) < 0 && strstr(ferr,
	    "field max_atempts: unknown field (did you mean max_attempts?)"),
	    "check_fields: names the field and the suggestion");
	CHECK(agq_task_validate(ft, ferr, sizeof ferr) == 0,
	    "validate still allows unknown fields (tasks in a spool)");
	json_decref(ft);

	/* owner: set over whatever the task said, not validated */
	char why[256];
	json_t *o = json_pack("{s:s, s:s}", "cmd", "true", "submitted_by",
	    "ci");
	CHECK(agq_task_owner_uid(o) == -1 && agq_task_validate(o, why,
	    sizeof why) == 0, "a submitted_by of the task's own: no owner");
	agq_task_set_owner(o, 1000, "alice");
	CHECK(agq_task_owner_uid(o) == 1000 && !strcmp(json_string_value(
	    json_object_get(json_object_get(o, "submitted_by"), "user")),
	    "alice"), "owner set over it");
	agq_task_set_owner(o, 7, NULL);
	CHECK(agq_task_owner_uid(o) == 7 && !json_object_get(json_object_get(o,
	    "submitted_by"), "user"), "owner without a name");
	json_object_set_new(o, "submitted_by", json_pack("{s:i}", "uid", -1));
	CHECK(agq_task_owner_uid(o) == -1, "a negative uid is none");
	json_decref(o);
	/* review and merge fields (issue 18) */
#define G "\"cmd\":\"x\",\"git\":{\"repo\":\"/r\"}"
	CHECK(valid("{" G ",\"review\":{\"required\":2,\"cap\":\"review\","
	    "\"max_rounds\":3,\"cmd\":\"make test\",\"timeout\":60},"
	    "\"merge\":\"on-approval\",\"merge_method\":\"squash\","
	    "\"approval\":\"before_merge\"}"), "review, merge, approval");
	CHECK(valid("{" G ",\"review\":{\"prompt\":\"p\",\"backend\":\"claude\","
	    "\"model\":\"m\"},\"merge\":false,\"approval\":\"none\"}"),
	    "an agent reviewer");
	CHECK(valid("{" G ",\"review\":{}}"), "people review only");
	CHECK(err_has("{\"cmd\":\"x\",\"review\":{}}", "field review: needs git"),
	    "review without git");
	CHECK(err_has("{\"cmd\":\"x\",\"approval\":\"before_push\"}",
	    "field approval: needs git"), "approval without git");
	CHECK(valid("{\"cmd\":\"x\",\"approval\":\"none\",\"merge\":false}"),
	    "approval none and merge false need no git");
	CHECK(err_has("{\"cmd\":\"x\",\"git\":{\"repo\":\"/r\",\"pr\":false},"
	    "\"review\":{}}", "field review: needs a pull request"),
	    "review without a PR");
	CHECK(err_has("{\"cmd\":\"x\",\"git\":{\"repo\":\"/r\",\"pr\":false},"
	    "\"merge\":\"on-approval\"}", "field merge: needs a pull request"),
	    "merge without a PR");
	CHECK(err_has("{\"cmd\":\"x\",\"git\":{\"repo\":\"/r\",\"pr\":false},"
	    "\"approval\":\"before_merge\"}",
	    "field approval: needs a pull request"), "before_merge without a PR");
	CHECK(valid("{\"cmd\":\"x\",\"git\":{\"repo\":\"/r\",\"pr\":false},"
	    "\"approval\":\"before_push\"}"), "before_push without a PR");
	CHECK(err_has("{" G ",\"review\":{\"required\":0}}",
	    "field review.required"), "required 0");
	CHECK(err_has("{" G ",\"review\":{\"required\":10}}",
	    "field review.required"), "required 10");
	CHECK(err_has("{" G ",\"review\":{\"max_rounds\":21}}",
	    "field review.max_rounds"), "max_rounds 21");
	CHECK(err_has("{" G ",\"review\":{\"cap\":\"a b\"}}",
	    "field review.cap"), "cap with a space");
	CHECK(err_has("{" G ",\"review\":{\"cmd\":[]}}", "field review.cmd"),
	    "empty reviewer cmd");
	CHECK(err_has("{" G ",\"review\":{\"cmd\":\"x\",\"prompt\":\"p\"}}",
	    "not both"), "cmd and prompt");
	CHECK(err_has("{" G ",\"review\":{\"backend\":\"../x\"}}",
	    "field review.backend"), "bad backend");
	CHECK(err_has("{" G ",\"review\":{\"timeout\":0}}",
	    "field review.timeout"), "zero timeout");
	CHECK(err_has("{" G ",\"review\":{\"reviewers\":2}}",
	    "field review.reviewers: unknown"), "unknown review key");
	CHECK(err_has("{" G ",\"review\":true}", "field review: not an object"),
	    "review true");
	CHECK(err_has("{" G ",\"merge\":true}", "field merge"), "merge true");
	CHECK(err_has("{" G ",\"merge_method\":\"ff\"}", "field merge_method"),
	    "merge_method ff");
	CHECK(err_has("{" G ",\"approval\":\"later\"}", "field approval"),
	    "approval later");
	/* written by agq */
	CHECK(valid("{" G ",\"kind\":\"review\",\"parent\":\"p1\",\"round\":2,"
	    "\"pr\":\"pr-p1\",\"head\":\"0123456789abcdef0123456789abcdef01234567\","
	    "\"avoid_agent\":\"a1\",\"review_feedback\":\"f\","
	    "\"update_from_base\":true,\"approved\":[\"push\",\"merge\"],"
	    "\"approval_for\":\"push\",\"verdict\":{\"verdict\":\"approve\","
	    "\"comments\":[\"ok\"]}}"), "every written field");
	CHECK(err_has("{" G ",\"kind\":\"test\",\"parent\":\"p\"}", "field kind"),
	    "kind test");
	CHECK(err_has("{" G ",\"kind\":\"review\"}", "field parent: missing"),
	    "kind without parent");
	CHECK(err_has("{" G ",\"parent\":\"a/b\"}", "field parent"), "parent");
	CHECK(err_has("{" G ",\"avoid_agent\":\"\"}", "field avoid_agent"),
	    "empty avoid_agent");
	CHECK(err_has("{" G ",\"round\":0}", "field round"), "round 0");
	CHECK(err_has("{" G ",\"pr\":\"x\"}", "field pr"), "pr not pr-");
	CHECK(err_has("{" G ",\"head\":\"abc\"}", "field head"), "short head");
	CHECK(err_has("{" G ",\"head\":\"0123456789ABCDEF0123456789abcdef01234567\"}",
	    "field head"), "upper-case head");
	CHECK(err_has("{" G ",\"review_feedback\":1}", "field review_feedback"),
	    "feedback number");
	CHECK(err_has("{" G ",\"update_from_base\":1}", "field update_from_base"),
	    "update_from_base number");
	CHECK(err_has("{" G ",\"approved\":[\"review\"]}", "field approved"),
	    "approved review");
	CHECK(err_has("{" G ",\"approval_for\":\"x\"}", "field approval_for"),
	    "approval_for x");
	CHECK(err_has("{" G ",\"verdict\":{\"verdict\":\"maybe\"}}",
	    "field verdict"), "verdict maybe");
	CHECK(err_has("{" G ",\"verdict\":{\"verdict\":\"approve\","
	    "\"comments\":[1]}}", "field verdict.comments"), "comments numbers");
	/* kind and parent: agq's own, refused from a plain submit */
	json_t *kt = json_pack("{s:s, s:s, s:s}", "cmd", "x", "kind", "review",
	    "parent", "p1");
	CHECK(agq_task_check_fields(kt, why, sizeof why) < 0 &&
	    strstr(why, "field kind: written by agq"), "kind refused at submit");
	json_object_del(kt, "kind");
	CHECK(agq_task_check_fields(kt, why, sizeof why) < 0 &&
	    strstr(why, "field parent: written by agq"), "parent refused too");
	json_object_set_new(kt, "kind", json_string("merge"));
	json_object_set_new(kt, "submitted_at", json_string(
	    "2026-01-01T00:00:00Z"));
	CHECK(agq_task_check_fields(kt, why, sizeof why) == 0,
	    "kept in a task taken from a spool");
	json_decref(kt);
	static const char *const fields[] = { "review", "merge",
	    "merge_method", "approval", "kind", "parent", "round", "pr", "head",
	    "avoid_agent", "review_feedback", "update_from_base", "approved",
	    "approval_for", "verdict", NULL };
	int known = 1;
	for (int i = 0; fields[i]; i++)
		known &= agq_task_field_known(fields[i]);
	CHECK(known, "the review fields are known fields");
#undef G

	/* the coder task of a review or merge task, by its id */
	char par[65] = "unchanged";
	const char *coder = "20261201-000000.000000-000001-4049c22c-8812";
	char rid[96];
	snprintf(rid, sizeof rid, "%s-r2-1", coder);
	CHECK(agq_task_child_of(rid, par) == 'r' && !strcmp(par, coder),
	    "child_of: PARENT-rN-K is a review task of PARENT");
	snprintf(rid, sizeof rid, "%s-m12", coder);
	CHECK(agq_task_child_of(rid, par) == 'm' && !strcmp(par, coder),
	    "child_of: PARENT-mN is a merge task of PARENT");
	CHECK(agq_task_child_of("c1-r1-1", par) == 'r' && !strcmp(par, "c1"),
	    "child_of: a short parent");
	strcpy(par, "unchanged");
	const char *const no[] = { coder, "c1-r1", "c1-r-1", "c1-r1-",
	    "c1-m", "c1-mx", "c1-q1-1", "-r1-1", "-m1", "c1-m1-1", "c1/x-m1",
	    "", NULL };
	int none = 1;
	for (int i = 0; no[i]; i++)
		none &= agq_task_child_of(no[i], par) == 0;
	CHECK(none && !strcmp(par, "unchanged"),
	    "child_of: other ids are nobody's child, BUF untouched");
	CHECK(agq_task_child_of(NULL, par) == 0, "child_of: NULL");
	DONE();
}
