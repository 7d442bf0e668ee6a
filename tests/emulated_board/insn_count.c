/*
 * insn_count: a QEMU (7.2, plugin API v1) TCG plugin for the emulated board. It counts the
 * guest instructions executed, exactly and repeatably, and optionally the guest's own memory.
 *
 * Counting: every translated block gets an inline "add n" (n = its instruction count) on one
 * 64-bit counter, executed each time the block runs. No helper call, so it is cheap. With
 * several guest threads the counter is shared without locking (the v1 API has no per-vCPU
 * inline counter): single-threaded programs, the case measured here, count exactly.
 *
 * Marks: the guest marks a point of its run with close(MARK_FD_BASE - id), id 0..65535 (an
 * invalid descriptor: the call fails with EBADF and does nothing else). From Python:
 *     try: os.close(-0x4E495200 - id)
 *     except OSError: pass
 * Each mark records the instructions executed so far and, with base=, the guest's memory.
 *
 * Gap marks (gap=on): the guest's sched_yield() system calls (os.sched_yield() in Python: no
 * exception, harmless anywhere, and nothing else in a single-threaded CPython program makes
 * it). They are not recorded one by one (they may come thousands of times a second): the
 * plugin keeps how many came, and the ten largest numbers of instructions between two
 * consecutive ones with where each ended. Marking each pass of a loop this way measures its
 * longest pass: the longest piece of work between two ADC conversions, for instance. A gap
 * mark costs the guest some hundred instructions (a mark() raises and catches an OSError,
 * some thousands) and reads no memory.
 *
 * Memory (base=ADDR, the guest base given to qemu with -B): the guest's own memory is what is
 * resident in [ADDR, ADDR + 4 GiB) of the qemu process, summed from /proc/self/smaps (Rss,
 * and Anonymous of it). With peak=on it is also read before every system call that can give
 * memory back (brk, munmap, mremap, mmap2, madvise, exit): resident memory only grows between
 * system calls, so the largest of these readings is the exact peak.
 *
 * Arguments (-plugin ./libinsn_count.so,ARG=VALUE,...): outfile=PATH (default: QEMU's log,
 * i.e. standard error), base=ADDR (hex or decimal), peak=on, gap=on.
 *
 * Output, one fact per line:
 *     insns TOTAL
 *     mark ID insns N [rss_kb R anon_kb A]
 *     final rss_kb R anon_kb A                 (with base=)
 *     peak rss_kb R anon_kb A                  (with peak=on: each its own maximum)
 *     marks_dropped N                          (only if more than MAX_MARKS were made)
    gap count N                              (with gap=on: N gap marks, then the 10 largest
    gap_top insns M end E                     gaps between two consecutive ones, largest
                                              first: M instructions, ending when E
                                              instructions had run)
 * A forked guest process that exits writes to OUTFILE.PID instead. A guest killed by a signal
 * (its default action) gets no exit callback from QEMU 7.2: the figures are written when it
 * sends a signal to itself (kill, tkill, tgkill: how CPython dies of an uncaught
 * KeyboardInterrupt, or abort()), but a run killed from outside (SIGTERM, SIGKILL) leaves none.
 *
 * Build: gcc -shared -fPIC -O2 -fvisibility=hidden -o libinsn_count.so insn_count.c
 *
 * SPDX-License-Identifier: GPL-2.0-or-later (it runs inside QEMU; see qemu_plugin_api.h)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = EMULATED_BOARD_QEMU_PLUGIN_VERSION;

/* 32-bit ARM EABI system call numbers. */
enum {
    NR_exit = 1,
    NR_close = 6,
    NR_kill = 37,
    NR_brk = 45,
    NR_munmap = 91,
    NR_mremap = 163,
    NR_mmap2 = 192,
    NR_sched_yield = 158,
    NR_madvise = 220,
    NR_tkill = 238,
    NR_exit_group = 248,
    NR_tgkill = 268,
};

#define MARK_FD_BASE (-0x4E495200L) /* "NIR\0" */
#define MARK_IDS 65536L
#define MAX_MARKS 100000
#define GUEST_SPAN (UINT64_C(1) << 32)

struct mark {
    uint32_t id;
    uint64_t insns;
    int64_t rss_kb, anon_kb;
};

static uint64_t insns; /* the inline counter */
static char *outfile;
static uint64_t base;
static int have_base, track_peak;
static int track_gaps;
#define GAP_TOP 10
static uint64_t gap_count, gap_last;
static uint64_t gap_top[GAP_TOP], gap_top_end[GAP_TOP]; /* the largest gaps, largest first */
static pid_t install_pid;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mark *marks;
static size_t n_marks, marks_dropped;
static int64_t peak_rss_kb = -1, peak_anon_kb = -1;

/* Resident and anonymous kB of this process's mappings inside [base, base + 4 GiB). */
static int guest_memory(int64_t *rss_kb, int64_t *anon_kb)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0;
    uint64_t start, end;
    long long kb;

    *rss_kb = 0;
    *anon_kb = 0;
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        /* A mapping's header starts with its lower-case hex range; its fields ("Rss:",
         * "Anonymous:", ...) start with an upper-case name. */
        int header = (line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f');

        if (header && sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2) {
            inside = start >= base && end <= base + GUEST_SPAN;
        } else if (inside && sscanf(line, "Rss: %lld kB", &kb) == 1) {
            *rss_kb += kb;
        } else if (inside && sscanf(line, "Anonymous: %lld kB", &kb) == 1) {
            *anon_kb += kb;
        }
    }
    fclose(f);
    return 0;
}

static void write_output(void);

static void sample_peak(void)
{
    int64_t rss, anon;

    if (guest_memory(&rss, &anon) == 0) {
        if (rss > peak_rss_kb) {
            peak_rss_kb = rss;
        }
        if (anon > peak_anon_kb) {
            peak_anon_kb = anon;
        }
    }
}

static void vcpu_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1,
                         uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                         uint64_t a7, uint64_t a8)
{
    int32_t fd = (int32_t)(uint32_t)a1;

    if (num == NR_sched_yield && track_gaps) {
        uint64_t now = insns;

        pthread_mutex_lock(&lock);
        if (gap_count && now - gap_last > gap_top[GAP_TOP - 1]) {
            int k = GAP_TOP - 1;

            for (; k > 0 && now - gap_last > gap_top[k - 1]; k--) {
                gap_top[k] = gap_top[k - 1];
                gap_top_end[k] = gap_top_end[k - 1];
            }
            gap_top[k] = now - gap_last;
            gap_top_end[k] = now;
        }
        gap_count++;
        gap_last = now;
        pthread_mutex_unlock(&lock);
    } else if (num == NR_close && fd <= MARK_FD_BASE && fd > MARK_FD_BASE - MARK_IDS) {
        struct mark m = {(uint32_t)(MARK_FD_BASE - fd), insns, -1, -1};

        pthread_mutex_lock(&lock);
        if (have_base) {
            guest_memory(&m.rss_kb, &m.anon_kb);
        }
        if (n_marks < MAX_MARKS) {
            marks[n_marks++] = m;
        } else {
            marks_dropped++;
        }
        pthread_mutex_unlock(&lock);
    } else if (((num == NR_kill || num == NR_tkill) && (int32_t)a1 == install_pid && a2 != 0) ||
               (num == NR_tgkill && (int32_t)a1 == install_pid && a3 != 0)) {
        /* The guest signals itself, maybe to die of it (CPython re-raises an uncaught
         * KeyboardInterrupt this way, abort() raises SIGABRT): QEMU 7.2 runs no plugin
         * exit callback for a guest killed by a signal, so write the figures now. If the
         * guest lives on, its exit writes them again. */
        if (getpid() == install_pid) {
            write_output();
        }
    } else if (track_peak && (num == NR_brk || num == NR_munmap || num == NR_mremap ||
                              num == NR_mmap2 || num == NR_madvise || num == NR_exit ||
                              num == NR_exit_group)) {
        pthread_mutex_lock(&lock);
        sample_peak();
        pthread_mutex_unlock(&lock);
    }
}

static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns,
                                             qemu_plugin_tb_n_insns(tb));
}

/* Writes everything counted so far to the outfile (or QEMU's log). */
static void write_output(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    size_t i;

    pthread_mutex_lock(&lock);
    fprintf(out, "insns %" PRIu64 "\n", insns);
    for (i = 0; i < n_marks; i++) {
        fprintf(out, "mark %" PRIu32 " insns %" PRIu64, marks[i].id, marks[i].insns);
        if (have_base) {
            fprintf(out, " rss_kb %" PRId64 " anon_kb %" PRId64, marks[i].rss_kb,
                    marks[i].anon_kb);
        }
        fputc('\n', out);
    }
    if (have_base) {
        int64_t rss, anon;

        guest_memory(&rss, &anon);
        fprintf(out, "final rss_kb %" PRId64 " anon_kb %" PRId64 "\n", rss, anon);
        if (track_peak) {
            sample_peak();
            fprintf(out, "peak rss_kb %" PRId64 " anon_kb %" PRId64 "\n", peak_rss_kb,
                    peak_anon_kb);
        }
    }
    if (track_gaps) {
        fprintf(out, "gap count %" PRIu64 "\n", gap_count);
        for (i = 0; i < GAP_TOP && gap_top[i]; i++) {
            fprintf(out, "gap_top insns %" PRIu64 " end %" PRIu64 "\n", gap_top[i],
                    gap_top_end[i]);
        }
    }
    if (marks_dropped) {
        fprintf(out, "marks_dropped %zu\n", marks_dropped);
    }
    pthread_mutex_unlock(&lock);
    fclose(out);

    if (outfile) {
        char path[4096];
        FILE *f;

        if (getpid() == install_pid) {
            snprintf(path, sizeof path, "%s", outfile);
        } else {
            snprintf(path, sizeof path, "%s.%ld", outfile, (long)getpid());
        }
        f = fopen(path, "w");
        if (f) {
            fputs(text, f);
            fclose(f);
        } else {
            qemu_plugin_outs("insn_count: cannot write the outfile\n");
            qemu_plugin_outs(text);
        }
    } else {
        qemu_plugin_outs(text);
    }
    free(text);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    write_output();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];

        if (strncmp(arg, "outfile=", 8) == 0) {
            outfile = strdup(arg + 8);
        } else if (strncmp(arg, "base=", 5) == 0) {
            base = strtoull(arg + 5, NULL, 0);
            have_base = 1;
        } else if (strcmp(arg, "gap=on") == 0) {
            track_gaps = 1;
        } else if (strcmp(arg, "gap=off") == 0) {
            track_gaps = 0;
        } else if (strcmp(arg, "peak=on") == 0) {
            track_peak = 1;
        } else if (strcmp(arg, "peak=off") != 0) {
            fprintf(stderr, "insn_count: unknown argument %s\n", arg);
            return -1;
        }
    }
    if (track_peak && !have_base) {
        fprintf(stderr, "insn_count: peak=on needs base=ADDR (qemu's -B)\n");
        return -1;
    }
    marks = calloc(MAX_MARKS, sizeof *marks);
    if (!marks) {
        return -1;
    }
    install_pid = getpid();
    qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, vcpu_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
