/*
 * hub_wire.h: what a rank of `gptc train --ranks N` and the hub (the gptc
 * process that started it, runtime/dist/launch.c) say to each other over the
 * rank's socket (an AF_UNIX stream; both ends on one machine, so no byte
 * order question).
 *
 * Each collective is one HubHeader from every rank, then the rank's
 * payload: a sum's buffer (every rank), a broadcast's bytes (the root
 * only), nothing for the others. When every rank has sent the same op, the
 * hub answers each rank: the summed buffer; the broadcast bytes (not to the
 * root); one byte for a barrier; nothing for finalize and abort. The hub
 * checks that the ranks agree on op, sequence number, type, size and root:
 * ranks that disagree are a bug, stopped with both named rather than summed
 * wrongly.
 */
#ifndef GPTC_HUB_WIRE_H
#define GPTC_HUB_WIRE_H

#include <stdint.h>

/* The environment of a rank the hub started. */
#define HUB_ENV_FD "GPTC_HUB_FD"
#define HUB_ENV_RANK "GPTC_HUB_RANK"
#define HUB_ENV_SIZE "GPTC_HUB_SIZE"
#define HUB_ENV_LOCAL "GPTC_LOCAL_RANK"

enum { HUB_SUM = 1, HUB_BCAST, HUB_BARRIER, HUB_ABORT, HUB_FINALIZE };

#define HUB_WHAT 96

typedef struct {
    uint32_t op;
    uint32_t type;   /* CollType, for a sum */
    uint64_t seq;    /* 0, 1, 2 ... per rank: every rank's k-th collective */
    uint64_t bytes;  /* the op's buffer size, the same on every rank */
    int32_t root;    /* a broadcast's root; an abort's exit status */
    char what[HUB_WHAT]; /* the exchange, for messages; NUL-terminated */
} HubHeader;

#endif
