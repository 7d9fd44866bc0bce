/* tests/fuzz/fuzz_util.c — helpers shared by the libFuzzer targets (fuzz_util.h). */
#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sanitizer/common_interface_defs.h>

static uint64_t fuzz_le(struct fuzz_in *in, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_le(in, 1);
}

uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)fuzz_le(in, 2);
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
	return (uint32_t)fuzz_le(in, 4);
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_le(in, 8);
}

bool fuzz_bool(struct fuzz_in *in)
{
	return fuzz_u8(in) & 1;
}

const uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got)
{
	const uint8_t *p = in->p;

	*got = want < in->n ? want : in->n;
	in->p += *got;
	in->n -= *got;
	return p;
}

/* The stderr this process started with, kept while fuzz_quiet_begin hides fd 2. */
static int fuzz_stderr_fd = -1;

static int fuzz_real_stderr(void)
{
	return fuzz_stderr_fd >= 0 ? fuzz_stderr_fd : STDERR_FILENO;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "fuzz check failed at %s:%d: ", file, line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	dprintf(fuzz_real_stderr(), "%s\n", msg);
	abort();
}

static char fuzz_tmp_paths[8][512];
static unsigned fuzz_tmp_count;

static void fuzz_tmp_cleanup(void)
{
	for (unsigned i = 0; i < fuzz_tmp_count; i++)
		fuzz_rmtree(fuzz_tmp_paths[i]);
}

static const char *fuzz_tmp_base(void)
{
	const char *env = getenv("FANOUT_FUZZ_TMPDIR");

	if (env && env[0])
		return env;
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	env = getenv("TMPDIR");
	return env && env[0] ? env : "/tmp";
}

void fuzz_tmpdir(char *buf, size_t cap, const char *tag)
{
	int n = snprintf(buf, cap, "%s/fanout-fuzz-%s.XXXXXX", fuzz_tmp_base(), tag);

	FUZZ_CHECK(n > 0 && (size_t)n < cap && (size_t)n < sizeof(fuzz_tmp_paths[0]),
		   "scratch directory name too long");
	FUZZ_CHECK(fuzz_tmp_count < sizeof(fuzz_tmp_paths) / sizeof(fuzz_tmp_paths[0]),
		   "too many scratch directories");
	FUZZ_CHECK(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
	if (fuzz_tmp_count == 0)
		atexit(fuzz_tmp_cleanup);
	snprintf(fuzz_tmp_paths[fuzz_tmp_count++], sizeof(fuzz_tmp_paths[0]), "%s", buf);
}

static int fuzz_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int fuzz_rmtree(const char *path)
{
	if (nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

static bool fuzz_quiet_on;

/* Before libFuzzer's main: a copy of the real stderr for sanitizer reports and
 * fuzz_fail, made once so that it is not counted as a leak by fuzz_open_fds checks. */
__attribute__((constructor)) static void fuzz_stderr_init(void)
{
	fuzz_stderr_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fuzz_stderr_fd >= 0)
		__sanitizer_set_report_fd((void *)(intptr_t)fuzz_stderr_fd);
}

void fuzz_quiet_begin(void)
{
	static int verbose = -1;
	int null;

	if (verbose < 0)
		verbose = getenv("FANOUT_FUZZ_VERBOSE") != NULL;
	if (verbose || fuzz_stderr_fd < 0)
		return;
	fflush(stderr);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	FUZZ_CHECK(null >= 0, "open /dev/null: %s", strerror(errno));
	dup2(null, STDERR_FILENO);
	close(null);
	fuzz_quiet_on = true;
}

void fuzz_quiet_end(void)
{
	if (!fuzz_quiet_on)
		return;
	fflush(stderr);
	dup2(fuzz_stderr_fd, STDERR_FILENO);
	fuzz_quiet_on = false;
}

int fuzz_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	FUZZ_CHECK(d != NULL, "opendir /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}
