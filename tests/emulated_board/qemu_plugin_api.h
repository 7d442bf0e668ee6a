/*
 * The part of QEMU's TCG plugin API (version 1, as in QEMU 7.2) that insn_count.c uses.
 *
 * Debian's qemu-user 7.2 accepts plugins but ships no qemu-plugin.h, so the few declarations
 * needed are written out here from QEMU's plugin documentation (docs/devel/tcg-plugins.rst)
 * and checked against the symbols /usr/bin/qemu-arm exports. Nothing else of QEMU is used.
 * The full header is include/qemu/qemu-plugin.h in QEMU's source (tag v7.2.0), under
 * GPL-2.0-or-later; QEMU loads plugins into its own process, so insn_count.c and this file
 * are GPL-2.0-or-later as well. Later QEMU versions (9.x) changed the inline API: this file
 * is for 7.2, the version Debian bookworm ships.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef EMULATED_BOARD_QEMU_PLUGIN_API_H
#define EMULATED_BOARD_QEMU_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The API version this plugin was written against; QEMU 7.2 accepts 0 and 1. */
#define EMULATED_BOARD_QEMU_PLUGIN_VERSION 1

typedef uint64_t qemu_plugin_id_t;

/* Only passed through: insn_count.c never looks inside it. */
typedef struct qemu_info_t qemu_info_t;

struct qemu_plugin_tb; /* a translation block, opaque */

enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64,
};

typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index,
                                              int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                                              uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7,
                                              uint64_t a8);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
void qemu_plugin_outs(const char *string);

#endif
