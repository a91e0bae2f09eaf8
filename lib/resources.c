/* resources.c - what a host has: load, CPUs, memory, GPU memory (the
 * "resources" of an agent file, agq-run(8)). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "task.h"
#include "resources.h"

static json_t *gpu_cache;       /* last nvidia-smi answer (an array) */
static int64_t gpu_at;

/* nvidia-smi in PATH? */
static int
have_nvidia_smi(void)
{
	const char *path = getenv("PATH");
	if (!path)
		return 0;
	char *copy = agq_xstrdup(path), *save = NULL;
	int found = 0;
	for (char *d = strtok_r(copy, ":", &save); d && !found;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = agq_xasprintf("%s/nvidia-smi", *d ? d : ".");
		found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}

static json_t *
gpus(void)
{
	json_t *a = json_array();
	if (!have_nvidia_smi())
		return a;
	FILE *f = popen("nvidia-smi --query-gpu=name,memory.total,memory.used "
	    "--format=csv,noheader,nounits 2>/dev/null", "re");
	if (!f)
		return a;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char name[256];
		double total, used;
		if (sscanf(line, "%255[^,], %lf, %lf", name, &total, &used) == 3)
			json_array_append_new(a, json_pack("{s:s, s:f, s:f}",
			    "name", name, "mem_total_mb", total, "mem_used_mb",
			    used));
	}
	pclose(f);
	return a;
}

json_t *
agq_host_resources(void)
{
	json_t *r = json_object();
	const char *lf = getenv("AGQ_LOADAVG_FILE");
	FILE *f = fopen(lf && *lf ? lf : "/proc/loadavg", "re");
	double l1, l5, l15;
	if (f) {
		if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3) {
			json_object_set_new(r, "load1", json_real(l1));
			json_object_set_new(r, "load5", json_real(l5));
			json_object_set_new(r, "load15", json_real(l15));
		}
		fclose(f);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	json_object_set_new(r, "cpus", json_integer(n > 0 ? n : 1));
	f = fopen("/proc/meminfo", "re");
	if (f) {
		char key[64];
		long long kb;
		char unit[16];
		while (fscanf(f, "%63s %lld %15[^\n]", key, &kb, unit) >= 2) {
			if (!strcmp(key, "MemTotal:"))
				json_object_set_new(r, "mem_total_mb",
				    json_integer(kb / 1024));
			else if (!strcmp(key, "MemAvailable:"))
				json_object_set_new(r, "mem_available_mb",
				    json_integer(kb / 1024));
		}
		fclose(f);
	}
	int64_t now = agq_mono_us();
	if (!gpu_cache || now - gpu_at > 30000000) {
		json_decref(gpu_cache);
		gpu_cache = gpus();
		gpu_at = now;
	}
	if (json_array_size(gpu_cache))
		json_object_set(r, "gpus", gpu_cache);
	return r;
}

double
agq_host_load(const json_t *agent)
{
	json_t *r = json_object_get(agent, "resources");
	json_t *l = json_object_get(r, "load1");
	double cpus = (double)agq_task_int(r, "cpus", 1);
	if (!json_is_number(l))
		return 0;
	return json_number_value(l) / (cpus > 0 ? cpus : 1);
}
