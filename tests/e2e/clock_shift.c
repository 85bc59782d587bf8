/* An LD_PRELOAD shim for test_clock.py: the wall clock the daemon reads
 * (time, gettimeofday, clock_gettime of the CLOCK_REALTIME kinds) is the
 * system's plus an offset in seconds, a native int64 at the start of the
 * file named by CLOCK_SHIFT_FILE, read through a shared mapping so that
 * the test can move the clock while the daemon runs.  The kernel's clock
 * does not move: an absolute CLOCK_REALTIME deadline computed from the
 * shifted clock is what a deadline computed just before a real clock
 * step would be. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile const int64_t *shift_p;

static int64_t
shift(void)
{
	if (shift_p == NULL) {
		const char *path = getenv("CLOCK_SHIFT_FILE");
		void *m;
		int fd;

		if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return 0;
		m = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (m == MAP_FAILED)
			return 0;
		shift_p = m;
	}
	return *shift_p;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int r;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += shift();
	return r;
}

time_t
time(time_t *out)
{
	struct timespec ts;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;
	if (out != NULL)
		*out = t;
	return t;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (tv != NULL) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}
