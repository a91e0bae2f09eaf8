/* Unit tests for lib/review.c: the decision over a coder task in review/
 * (agq_review_decide, every branch of the scheduler's rules 1-5), the
 * fixed ids, and the verdict files read back. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "agq.h"
#include "unit.h"

#define HEAD "0123456789abcdef0123456789abcdef01234567"

/* Facts over task T (JSON text) with nothing submitted and no verdict;
 * PEOPLE an empty array the caller frees. */
static void
facts(struct agq_review_facts *f, json_t *t, json_t *people)
{
	memset(f, 0, sizeof *f);
	f->task = t;
	for (int k = 0; k < AGQ_REVIEW_MAX; k++)
		f->rstate[k] = AGQ_ST_NONE;
	f->people = people;
}

/* A person's verdict file as agq_review_verdict_write makes it. */
static json_t *
person(int uid, const char *user, const char *verdict, const char *text,
       const char *at)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:[s], s:{s:i, s:s}, s:s}",
	    "task", "c1", "pr", "pr-1", "round", 1, "head", HEAD, "verdict",
	    verdict, "comments", text, "by", "uid", uid, "user", user, "at", at);
}

int
main(void)
{
	struct agq_review_facts f;
	struct agq_review_dec d;
	json_t *people = json_array();
	char buf[65];

	/* ids */
	CHECK(!strcmp(agq_review_task_id(buf, "c1", 2, 3), "c1-r2-3"),
	    "review task id");
	CHECK(!strcmp(agq_merge_task_id(buf, "c1", 1), "c1-m1"), "merge id");
	char longid[65];
	memset(longid, 'a', 56);
	longid[56] = '\0';
	CHECK(agq_id_valid(agq_review_task_id(buf, longid, 20, 9)),
	    "a 56-byte id's review task id is valid");

	/* agent reviewers, nothing submitted: 1 -> submit every slot */
	json_t *t = J("{\"id\":\"c1\",\"round\":1,\"pr\":\"pr-1\",\"head\":\"" HEAD
	    "\",\"review\":{\"required\":2,\"cmd\":\"true\",\"max_rounds\":2},"
	    "\"attempts\":[{\"agent\":\"a1\"}]}");
	facts(&f, t, people);
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_SUBMIT && d.missing[0] && d.missing[1] &&
	    !d.missing[2], "1: the round's review tasks are queued");
	agq_review_dec_free(&d);
	f.rstate[0] = AGQ_ST_ACTIVE;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_SUBMIT && !d.missing[0] && d.missing[1],
	    "1: only the missing one");
	agq_review_dec_free(&d);
	f.rstate[1] = AGQ_ST_QUEUE;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT, "both queued or running: wait");
	agq_review_dec_free(&d);

	/* 2: an agent's request for changes counts once all have ended */
	json_t *v1 = J("{\"verdict\":\"request_changes\",\"comments\":"
	    "[\"too long\"],\"head\":\"" HEAD "\"}");
	json_t *v2 = J("{\"verdict\":\"approve\",\"comments\":[],\"head\":\""
	    HEAD "\"}");
	f.rstate[0] = AGQ_ST_DONE;
	f.rverdict[0] = v1;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT, "2: one of two ended: wait");
	agq_review_dec_free(&d);
	f.rstate[1] = AGQ_ST_DONE;
	f.rverdict[1] = v2;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_CHANGES && d.rule == AGQ_LC_REVIEW_CHANGES &&
	    d.feedback && strstr(d.feedback, "review task c1-r1-1: too long"),
	    "2: changes, the comment prefixed by who said it");
	CHECK(d.ncomments == 1 && strstr(d.reason, "round 2 next"),
	    "2: the reason names the next round");
	agq_review_dec_free(&d);
	json_object_set_new(t, "round", json_integer(2));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && d.rule == AGQ_LC_REVIEW_DEAD &&
	    !strcmp(d.reason, "review: changes requested after 2 rounds: "
	    "too long"), "2: max_rounds reached: dead, the first comment");
	agq_review_dec_free(&d);
	/* a round a moved head started is not a round of changes */
	json_object_set_new(t, "head_rounds", json_integer(1));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_CHANGES && strstr(d.reason, "round 3 next"),
	    "2: round 2 after a moved head: counted as 1, changes");
	agq_review_dec_free(&d);
	json_object_set_new(t, "round", json_integer(3));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && !strcmp(d.reason, "review: changes "
	    "requested after 2 rounds: too long"), "2: round 3 after a moved "
	    "head: 2 counted, dead");
	agq_review_dec_free(&d);
	json_object_del(t, "head_rounds");
	json_object_set_new(t, "round", json_integer(1));

	/* 4: a review task dead */
	f.rstate[1] = AGQ_ST_DEAD;
	f.rverdict[1] = NULL;
	f.rreason[1] = "exit 2";
	f.rverdict[0] = v2;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && !strcmp(d.reason,
	    "review task c1-r1-2: exit 2"), "4: a review task dead: dead");
	agq_review_dec_free(&d);

	/* 3: approvals */
	f.rstate[1] = AGQ_ST_DONE;
	f.rverdict[1] = v2;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DONE && d.approvals == 2 &&
	    !strcmp(d.reason, "approved (2 of 2); the pull request pr-1 stays "
	    "open"), "3: approved, no merge: done, the PR left open");
	agq_review_dec_free(&d);
	json_object_set_new(t, "merge", json_string("on-approval"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_MERGE && d.merge_n == 1 && d.rule == -1,
	    "3: merge on-approval: the merge task 1 queued");
	agq_review_dec_free(&d);
	json_object_set_new(t, "approval", json_string("before_merge"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_APPROVAL && d.rule == AGQ_LC_REVIEW_APPROVAL,
	    "3: approval before_merge: approval/");
	agq_review_dec_free(&d);
	json_object_set_new(t, "approved", json_pack("[s]", "merge"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_MERGE, "3: the merge approved: merge");
	agq_review_dec_free(&d);

	/* the PR merged or closed on the forge (agq-pr poll) */
	f.pr_state = AGQ_ST_DONE;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DONE && d.rule == AGQ_LC_REVIEW_DONE &&
	    strstr(d.reason, "merged"), "the PR merged on the forge: done");
	agq_review_dec_free(&d);
	f.pr_state = AGQ_ST_DEAD;
	json_t *forge = J("{\"by\":\"forge\",\"at\":\"x\"}");
	f.pr_closed = forge;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && strstr(d.reason, "closed unmerged"),
	    "the PR closed on the forge: dead");
	agq_review_dec_free(&d);
	/* the same for a task waiting in approval/ */
	agq_review_decide_approval(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && d.rule == AGQ_LC_APPROVAL_DEAD &&
	    strstr(d.reason, "closed unmerged on the forge"),
	    "approval/: the PR closed on the forge: dead");
	/* closed by a person (agq-pr close), or its record moved by hand
	 * (agq-pr closed): dead too, whenever the task arrives */
	json_t *closer = J("{\"by\":\"ann\",\"uid\":1000,\"text\":"
	    "\"superseded\",\"at\":\"x\"}");
	f.pr_closed = closer;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && d.rule == AGQ_LC_REVIEW_DEAD &&
	    !strcmp(d.reason, "pull request closed by ann: superseded"),
	    "the PR closed by a person: dead, who and why");
	agq_review_dec_free(&d);
	f.pr_closed = NULL;
	agq_review_decide_approval(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && !strcmp(d.reason, "pull request pr-1 "
	    "closed (agq-pr closed)"), "approval/: the record closed by hand: "
	    "dead");
	json_decref(forge);
	json_decref(closer);
	f.pr_state = AGQ_ST_DONE;
	agq_review_decide_approval(&f, &d);
	CHECK(d.act == AGQ_RV_DONE && d.rule == AGQ_LC_APPROVAL_DONE &&
	    strstr(d.reason, " merged"), "approval/: the PR merged: done");
	f.pr_state = 0;
	agq_review_decide_approval(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT, "approval/: the PR open: wait");

	/* 5: the merge task */
	f.merge_n = 1;
	f.merge_round = 1;
	f.merge_state = AGQ_ST_ACTIVE;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT, "5: merging: wait");
	agq_review_dec_free(&d);
	f.merge_state = AGQ_ST_DONE;
	f.pr_state = AGQ_ST_DONE;      /* the merge task moved the record */
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DONE && !strcmp(d.reason, "merged by c1-m1"),
	    "5: merged: done");
	f.pr_state = 0;
	agq_review_dec_free(&d);
	f.merge_state = AGQ_ST_DEAD;
	f.merge_reason = "conflict: a.txt";
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_CONFLICT && d.rule == AGQ_LC_REVIEW_CONFLICT &&
	    strstr(d.feedback, "conflict: a.txt"), "5: a conflict: one "
	    "iteration to update from the base");
	agq_review_dec_free(&d);
	f.merge_reason = "verify failed on the merge: 1 of 1 failed";
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_CONFLICT, "5: verify failed on the merge too");
	agq_review_dec_free(&d);
	f.merge_n = 2;
	f.merge_reason = "conflict: a.txt";
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && !strcmp(d.reason, "merge task c1-m2: "
	    "conflict: a.txt"), "5: the conflict iteration spent: dead");
	agq_review_dec_free(&d);
	f.merge_n = 1;
	f.merge_reason = "head moved";
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD && strstr(d.reason, "head moved"),
	    "5: another failure: dead with its reason");
	agq_review_dec_free(&d);
	/* someone pushed to the branch after approval: a new round at its
	 * tip, no coder run */
	f.merge_reason = "head moved: b1 is at "
	    "89abcdef0123456789abcdef0123456789abcdef, not " HEAD;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_HEAD && d.rule == AGQ_LC_REVIEW_HEAD &&
	    !strcmp(d.head, "89abcdef0123456789abcdef0123456789abcdef") &&
	    !strcmp(d.reason, "head moved to 89abcdef0123456789abcdef0123456789"
	    "abcdef: reviewed again"), "5: head moved to a sha: reviewed again "
	    "at it");
	agq_review_dec_free(&d);
	f.merge_reason = "head moved: b1 is at none, not " HEAD;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD, "5: the branch deleted: dead");
	agq_review_dec_free(&d);
	f.merge_reason = "head moved: b1 is at "
	    "89abcdef0123456789abcdef0123456789abcdef, not " HEAD;
	json_object_set_new(t, "round", json_integer(20));
	f.merge_round = 20;
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DEAD, "5: head moved in round 20: no round left, "
	    "dead");
	agq_review_dec_free(&d);
	json_object_set_new(t, "round", json_integer(1));
	f.merge_round = 1;
	f.merge_reason = "head moved";
	f.merge_round = 0;      /* a merge try of an earlier round */
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_MERGE && d.merge_n == 2, "an earlier round's "
	    "merge task: the next try");
	agq_review_dec_free(&d);
	json_decref(t);
	json_decref(v1);
	json_decref(v2);

	/* people only: a request for changes counts at once, the last word
	 * of each person wins, approvals are distinct people */
	t = J("{\"id\":\"c1\",\"round\":1,\"pr\":\"pr-1\",\"head\":\"" HEAD
	    "\",\"review\":{\"required\":2}}");
	facts(&f, t, people);
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT, "people only: no review task, wait");
	agq_review_dec_free(&d);
	json_array_append_new(people, person(1000, "ann", "approve", "ok",
	    "2026-01-01T00:00:01Z"));
	json_array_append_new(people, person(1000, "ann", "approve", "ok",
	    "2026-01-01T00:00:02Z"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_WAIT && d.approvals == 1, "one person twice is "
	    "one approval");
	agq_review_dec_free(&d);
	json_array_append_new(people, person(1001, "bob", "request_changes",
	    "tabs", "2026-01-01T00:00:03Z"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_CHANGES && strstr(d.feedback, "- bob: tabs"),
	    "a person's request for changes: at once");
	agq_review_dec_free(&d);
	json_array_append_new(people, person(1001, "bob", "approve", "fine",
	    "2026-01-01T00:00:04Z"));
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_DONE && d.approvals == 2, "bob's last word "
	    "approves: 2 of 2");
	agq_review_dec_free(&d);
	json_decref(t);

	/* no review at all (merge only): no approval needed */
	t = J("{\"id\":\"c1\",\"round\":1,\"pr\":\"pr-1\",\"head\":\"" HEAD
	    "\",\"merge\":\"on-approval\"}");
	json_t *none = json_array();
	facts(&f, t, none);
	agq_review_decide(&f, &d);
	CHECK(d.act == AGQ_RV_MERGE && d.required == 0, "merge without review: "
	    "the merge task at once");
	agq_review_dec_free(&d);
	json_decref(none);
	json_decref(t);
	json_decref(people);

	/* the verdict files: written once, read a round at a time */
	char dir[] = "/tmp/agq-test-review-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	struct agq_spool sp;
	memset(&sp, 0, sizeof sp);
	sp.root = dir;
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	sp.tmp = tmp;
	agq_mkdirs(tmp, 0700);
	t = J("{\"id\":\"c1\",\"round\":2,\"pr\":\"pr-1\",\"head\":\"" HEAD "\"}");
	json_t *out;
	CHECK(agq_review_verdict_write(&sp, t, "approve", "lgtm", 1000, "ann",
	    1000000, &out) == 0 && !strcmp(json_string_value(json_object_get(
	    json_object_get(out, "by"), "user")), "ann"), "a verdict written");
	json_decref(out);
	agq_review_verdict_write(&sp, t, "request_changes", NULL, 1001, NULL,
	    2000000, NULL);
	json_t *r2 = agq_review_verdicts_read(&sp, "c1", 2, HEAD);
	CHECK(json_array_size(r2) == 2 && !strcmp(json_string_value(
	    json_object_get(json_array_get(r2, 1), "verdict")),
	    "request_changes") && json_array_size(json_object_get(
	    json_array_get(r2, 1), "comments")) == 0, "both read, oldest first");
	json_decref(r2);
	r2 = agq_review_verdicts_read(&sp, "c1", 1, HEAD);
	CHECK(json_array_size(r2) == 0, "another round's: none");
	json_decref(r2);
	r2 = agq_review_verdicts_read(&sp, "c1", 2, "ffffffffffffffffffffffffffffffffffffffff");
	CHECK(json_array_size(r2) == 0, "another head's: none");
	json_decref(r2);
	json_object_del(t, "pr");
	CHECK(agq_review_verdict_write(&sp, t, "approve", NULL, 1, NULL, 3,
	    NULL) < 0 && errno == EINVAL, "no pr: EINVAL");
	json_decref(t);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 2;
	DONE();
}
