/*
 * main.c — vmig-container-runtime, an OCI runtime wrapper in the manner of
 * NVIDIA's runtime in CDI mode (docs/containers.md).  It is called with
 * runc's command line; for `create` and `run` it gives the container the
 * devices its config.json names (oci.c), then it replaces itself with the
 * real runtime (runc, or $VMIG_RUNTIME) with the same arguments.  Every
 * other command passes straight through.  Anything wrong (the
 * configuration, the runtime, the bundle, a selector) is one line on
 * stderr and exit status 1, before the real runtime is started, so the
 * container is not created.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define PROG "vmig-container-runtime"

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/*
 * The configuration file: NAME=VALUE lines of VMIG_* variables (blank lines
 * and # comments allowed), set unless the environment has them: the file
 * of --vmig-config, else $VMIG_RUNTIME_CONFIG, else RT_CONFIG_DEFAULT.  A
 * missing default file is no configuration; a missing file named is an
 * error.
 */
static int load_config(const char *opt)
{
	const char *env = getenv(RT_ENV_CONFIG);
	bool named = opt || (env && *env);
	const char *path = opt ? opt : named ? env : RT_CONFIG_DEFAULT;
	char line[4096];
	unsigned no = 0;
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT && !named ? 0 : die("%s: %s", path, strerror(errno));
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		no++;
		size_t n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f))
			r = die("%s:%u: line too long", path, no);
		char *eq = strchr(line, '=');
		if (r || line[0] == '\0' || line[0] == '#')
			continue;
		if (!eq || strncmp(line, "VMIG_", 5) != 0 ||
		    strcspn(line, " \t") < (size_t)(eq - line))
			r = die("%s:%u: not a VMIG_NAME=VALUE line", path, no);
		else if ((*eq = '\0', setenv(line, eq + 1, 0) < 0))
			r = die("%s:%u: %s", path, no, strerror(errno));
	}
	fclose(f);
	return r;
}

/* The real runtime as an executable path; not this program itself. */
static int find_runtime(char *buf, size_t size)
{
	const char *want = getenv(RT_ENV_RUNTIME);
	char self[PATH_MAX], real[PATH_MAX];
	want = want && *want ? want : RT_RUNTIME_DEFAULT;
	if (strchr(want, '/')) {
		snprintf(buf, size, "%s", want);
	} else {
		const char *path = getenv("PATH");
		bool found = false;
		for (const char *p = path ? path : "/usr/local/bin:/usr/bin:/bin"; *p && !found;) {
			size_t len = strcspn(p, ":");
			snprintf(buf, size, "%.*s/%s", (int)len, len ? p : ".", want);
			found = access(buf, X_OK) == 0;
			p += len + (p[len] == ':');
		}
		if (!found)
			return die("the OCI runtime '%s' is not in PATH (set %s)", want,
				   RT_ENV_RUNTIME);
	}
	if (access(buf, X_OK) < 0)
		return die("the OCI runtime %s: %s (set %s)", buf, strerror(errno), RT_ENV_RUNTIME);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0 && realpath(buf, real)) {
		self[n] = '\0';
		if (strcmp(self, real) == 0)
			return die("%s=%s is this program itself", RT_ENV_RUNTIME, buf);
	}
	return 0;
}

/* runc's global options that take a value as the next word. */
static bool global_takes_value(const char *a)
{
	static const char *const opts[] = {"--root", "--log", "--log-format", "--criu",
					   "--rootless"};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(a, opts[i]) == 0)
			return true;
	return false;
}

/* The index of the command word, or argc when there is none. */
static int command_index(int argc, char **argv)
{
	int i = 1;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--") == 0)
			return i + 1;
		i += global_takes_value(argv[i]) && !strchr(argv[i], '=') ? 2 : 1;
	}
	return i;
}

/* create's and run's --bundle/-b, default the working directory. */
static const char *bundle_of(int argc, char **argv, int cmd)
{
	const char *bundle = ".";
	for (int i = cmd + 1; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "--bundle") == 0 || strcmp(a, "-b") == 0) && i + 1 < argc)
			bundle = argv[++i];
		else if (strncmp(a, "--bundle=", 9) == 0)
			bundle = a + 9;
		else if (strncmp(a, "-b=", 3) == 0)
			bundle = a + 3;
	}
	return bundle;
}

/*
 * Take our own global option out of argv: --vmig-config=FILE (podman:
 * --runtime-flag vmig-config=FILE), since podman (through conmon) does not
 * hand its environment to the runtime.  Returns the new argc; *ret the file or NULL.
 */
static int take_own_option(int argc, char **argv, const char **ret)
{
	int cmd = command_index(argc, argv), out = 1;
	*ret = NULL;
	for (int i = 1; i < argc; i++) {
		if (i < cmd &&
		    strncmp(argv[i], "--" RT_OPT_CONFIG "=", sizeof(RT_OPT_CONFIG) + 2) == 0)
			*ret = argv[i] + sizeof(RT_OPT_CONFIG) + 2;
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	char runtime[PATH_MAX];
	struct vmig_err err = {0};
	const char *config;
	argc = take_own_option(argc, argv, &config);
	if (load_config(config) != 0 || find_runtime(runtime, sizeof(runtime)) != 0)
		return 1;
	int cmd = command_index(argc, argv);
	if (cmd < argc && (strcmp(argv[cmd], "create") == 0 || strcmp(argv[cmd], "run") == 0)) {
		const char *kind = vmig_cdi_kind(NULL);
		if (vmig_cdi_kind_check(kind, &err) < 0 ||
		    rt_edit_bundle(bundle_of(argc, argv, cmd), kind, &err) < 0)
			return die("%s", err.msg);
	}
	argv[0] = runtime;
	fflush(NULL);
	execv(runtime, argv);
	return die("cannot run %s: %s", runtime, strerror(errno));
}
