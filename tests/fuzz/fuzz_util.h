/* tests/fuzz/fuzz_util.h — what the libFuzzer targets share: their entry point, reading
 * typed values off the fuzzer's input, failing with a message, scratch directories,
 * keeping the libraries' stderr chatter out of long runs, and counting open file
 * descriptors (leak checks). Single-threaded, like libFuzzer's calls into a target. */
#ifndef FANOUT_TESTS_FUZZ_UTIL_H
#define FANOUT_TESTS_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point: each target defines it, once per input, and returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unread rest of an input. Reads past the end give zeros (and an empty take), so a
 * target decodes any input without length checks of its own. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

uint8_t fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);	/* little-endian */
uint32_t fuzz_u32(struct fuzz_in *in);
uint64_t fuzz_u64(struct fuzz_in *in);
bool fuzz_bool(struct fuzz_in *in);

/* Up to want bytes: returns where they start and sets *got (<= want). */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got);

/* Reports "fuzz check failed at file:line: message" on the real stderr and aborts, so
 * libFuzzer saves the input as a crash. */
__attribute__((noreturn, format(printf, 3, 4)))
void fuzz_fail(const char *file, int line, const char *fmt, ...);

#define FUZZ_CHECK(cond, ...)							\
	do {									\
		if (!(cond))							\
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);		\
	} while (0)

/* Makes a fresh directory "<base>/fanout-fuzz-<tag>.XXXXXX" into buf (cap bytes); base is
 * $FANOUT_FUZZ_TMPDIR, else /dev/shm when writable, else $TMPDIR, else /tmp. It is removed
 * at exit (not after a crash: tests/fuzz/run.sh points FANOUT_FUZZ_TMPDIR at a directory
 * it removes). Aborts on failure: a target cannot run without it. */
void fuzz_tmpdir(char *buf, size_t cap, const char *tag);

/* Removes path and everything under it; a missing path is fine. Returns 0 or -errno. */
int fuzz_rmtree(const char *path);

/* Between begin and end, writes to stderr (the libraries' log lines) go to /dev/null,
 * unless FANOUT_FUZZ_VERBOSE is set (use it to reproduce a crash). Sanitizer reports and
 * fuzz_fail always reach the real stderr. Not nested. */
void fuzz_quiet_begin(void);
void fuzz_quiet_end(void);

/* Open file descriptors of this process, from /proc/self/fd. */
int fuzz_open_fds(void);

#endif
