// run-seccomp MODE COMMAND [ARGS...]
//
// Installs a seccomp filter that makes some kernel interfaces fail the way they fail on older
// kernels or in restrictive sandboxes, then execs COMMAND (which inherits the filter, as do
// all its descendants). Modes:
//   pidfd-enosys   pidfd_open, pidfd_send_signal, pidfd_getfd and clone3 fail with ENOSYS and
//                  waitid(P_PIDFD, ...) with EINVAL, as on Linux < 5.3 (glibc falls back to
//                  clone when clone3 answers ENOSYS).
//   pidfd-eperm    pidfd_open, pidfd_send_signal and pidfd_getfd fail with EPERM, as under a
//                  seccomp profile that forbids them (Docker's default before 20.10).
//   no-pidfd-info  the PIDFD_GET_INFO ioctl fails with ENOTTY, as on Linux < 6.15.
//   no-close-range close_range fails with ENOSYS, as on Linux < 5.9.
//   no-fd-listing  close_range and getdents64 fail with ENOSYS: no descriptor can be closed
//                  by range nor listed from /proc/self/fd.
// Everything else is allowed. Exits with 125 on a usage or setup error.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "run-seccomp knows the system call numbers of x86_64 and aarch64 only"
#endif

// Numbers shared by x86_64 and aarch64 (the unified table from 424 on), for old headers.
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define P_PIDFD_IDTYPE 3
// _IOWR(0xFF, 11, struct pidfd_info) with the 64-byte struct of Linux 6.15.
#define PIDFD_GET_INFO_REQUEST 0xC040FF0Bu

#define MAX_RULES 16

struct rule {
  int nr;
  // Only when args[arg] (its low 32 bits) equals value; arg < 0: always.
  int arg;
  unsigned value;
  int error;
};

static int rules_for(const char *mode, struct rule *rules) {
  int n = 0;
  if (strcmp(mode, "pidfd-enosys") == 0 || strcmp(mode, "pidfd-eperm") == 0) {
    int error = strcmp(mode, "pidfd-enosys") == 0 ? ENOSYS : EPERM;
    rules[n++] = (struct rule){__NR_pidfd_open, -1, 0, error};
    rules[n++] = (struct rule){__NR_pidfd_send_signal, -1, 0, error};
    rules[n++] = (struct rule){__NR_pidfd_getfd, -1, 0, error};
    if (error == ENOSYS) {
      rules[n++] = (struct rule){__NR_clone3, -1, 0, ENOSYS};
      rules[n++] = (struct rule){__NR_waitid, 0, P_PIDFD_IDTYPE, EINVAL};
    }
    return n;
  }
  if (strcmp(mode, "no-pidfd-info") == 0) {
    rules[n++] = (struct rule){__NR_ioctl, 1, PIDFD_GET_INFO_REQUEST, ENOTTY};
    return n;
  }
  if (strcmp(mode, "no-close-range") == 0 || strcmp(mode, "no-fd-listing") == 0) {
    rules[n++] = (struct rule){__NR_close_range, -1, 0, ENOSYS};
    if (strcmp(mode, "no-fd-listing") == 0) rules[n++] = (struct rule){__NR_getdents64, -1, 0, ENOSYS};
    return n;
  }
  return -1;
}

// Offset of the low 32 bits of argument i (little-endian on both architectures).
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + 8 * (i))

int main(int argc, char **argv) {
  struct rule rules[MAX_RULES];
  int n = argc >= 3 ? rules_for(argv[1], rules) : -1;
  if (n < 0) {
    fprintf(stderr, "usage: %s pidfd-enosys|pidfd-eperm|no-pidfd-info|no-close-range|no-fd-listing COMMAND [ARGS...]\n", argv[0]);
    return 125;
  }
  struct sock_filter program[4 + 5 * MAX_RULES];
  int len = 0;
  // Another architecture (a 32-bit compat call) uses other numbers: let it through untouched.
  program[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  program[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0);
  program[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (int i = 0; i < n; i++) {
    // Each rule: load nr; not this call → next rule; [load arg; not this value → next rule];
    // return the error. The accumulator is reloaded by each rule.
    int with_arg = rules[i].arg >= 0;
    program[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    program[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules[i].nr, 0, with_arg ? 3 : 1);
    if (with_arg) {
      program[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(rules[i].arg));
      program[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules[i].value, 0, 1);
    }
    program[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (rules[i].error & SECCOMP_RET_DATA));
  }
  program[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {.len = (unsigned short)len, .filter = program};
  // Without no_new_privs an unprivileged process may not install a filter; it also keeps a
  // setuid program from running with the filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("run-seccomp: PR_SET_NO_NEW_PRIVS");
    return 125;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
    perror("run-seccomp: PR_SET_SECCOMP");
    return 125;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "run-seccomp: cannot run %s: %s\n", argv[2], strerror(errno));
  return 127;
}
