/*
 * LD_PRELOAD shim for test/slowDisk.test.ts: makes fsync and fdatasync as slow as a congested
 * disk. The delay in milliseconds is read from the file SLOW_FSYNC_FILE at each call (missing or
 * empty: no delay), so a test can slow a running cluster down after it started; each delayed
 * call appends one byte to SLOW_FSYNC_COUNT, so the test can tell the delay was applied.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int delay_ms(void) {
  const char *path = getenv("SLOW_FSYNC_FILE");
  if (!path) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[16] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? atoi(buf) : 0;
}

static void nap(void) {
  int ms = delay_ms();
  if (ms <= 0) return;
  usleep((useconds_t)ms * 1000);
  const char *count = getenv("SLOW_FSYNC_COUNT");
  if (!count) return;
  int fd = open(count, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, ".", 1);
  close(fd);
}

int fsync(int fd) {
  static int (*real)(int) = 0;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  nap();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int) = 0;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  nap();
  return real(fd);
}
