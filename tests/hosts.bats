#!/usr/bin/env bats
# Many hosts on one spool over sshfs (issue 20): simulated hosts on one
# machine, each its own network, pid, UTS and mount namespace mounting the
# spool with sshfs from the test's own sshd (tests/hosts/sim, shared with
# bench/run's `hosts` scenario).  Small here (2 hosts x 1 agent x 40 tasks,
# 10 for a host killed or cut off); AGQ_HOSTS_FULL=1 and `make torture`
# run 4 hosts x 2 agents x 2,000 tasks.

load helper

TOP=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}

# sim CASE N: tests/hosts/sim with N tasks, skipped with its reason where
# it cannot run.  Each task costs about 0.15 CPU-s over sshfs (bench/README).
sim() {
	local size=(--hosts 2 --agents 1 --tasks "$2")
	[ -z "${AGQ_HOSTS_FULL:-}" ] || size=(--hosts 4 --agents 2 --tasks 2000)
	run "$TOP/tests/hosts/sim" "${size[@]}" --case "$1"
	[ "$status" -ne 77 ] || skip "${output#hosts: cannot run here: }"
	grep '^hosts:' <<< "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[[ "$output" != *FAIL* ]]
}

@test "hosts over sshfs: every task done exactly once, the journal intact, agents on distinct hosts" {
	sim run 40
	[[ "$output" == *"ok   each task ran once"* ]]
	[[ "$output" == *"ok   agq-journal --verify"* ]]
	[[ "$output" =~ ok\ \ \ agent\ files\ on\ [24]\ distinct\ hosts ]]
}

@test "hosts over sshfs: kill -9 of a host's pid namespace mid-run; its tasks reclaimed and done elsewhere" {
	sim kill 10
	[[ "$output" =~ reclaimed\ and\ done\ by\ h[2-4]-a[12]\ \(attempt\ 2\) ]]
	[[ "$output" == *"ok   one done event per task"* ]]
}

@test "hosts over sshfs: a host cut off longer than the lease; its task done elsewhere, its late result fenced" {
	sim cut 10
	[[ "$output" == *"ok   h1's link up again after"* ]]
	[[ "$output" =~ reclaimed\ and\ done\ by\ h[2-4]-a[12] ]]
	[[ "$output" =~ late\ result\ for\ t[0-9]+\ fenced\ \(stale\) ]]
	[[ "$output" == *"ok   one done event per task"* ]]
}
