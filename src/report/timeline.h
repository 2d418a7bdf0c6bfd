/* timeline.h - the snapshot's "timeline" key: memory over time.
 *
 * Written by the shim (tracemem-snapshot(5)): samples of the heap, the
 * resident and mapped memory and the live blocks at a fixed resolution,
 * sparse per-stack rows (a stack's live and cumulative allocated bytes,
 * holding until its next row) and events (snapshots, the peak). The loader
 * validates it completely against its snapshot (stack indexes in range,
 * times strictly increasing, rows in sample order); tm_snapshot_load()
 * runs the same check, so a command never sees a bad timeline.
 *
 * Nothing here prints or exits; errors name the key ("timeline.samples[3]:
 * ..."). Not thread-safe.
 */
#ifndef TM_REPORT_TIMELINE_H
#define TM_REPORT_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_timeline_sample {
    uint64_t t_ns; /* since start_ns */
    uint64_t heap, rss, mapped, blocks;
} tm_timeline_sample;

typedef struct tm_timeline_row {
    size_t sample; /* index into samples */
    size_t stack;  /* index into the snapshot's stacks */
    uint64_t live, allocated;
} tm_timeline_row;

typedef struct tm_timeline_event {
    uint64_t t_ns;
    const char *kind;  /* borrowed from the snapshot's document */
    const char *label;
} tm_timeline_event;

typedef struct tm_timeline {
    int present; /* 0: the snapshot has no timeline (older shim, or off) */
    uint64_t resolution_ns;
    int64_t start_ns;
    size_t nsamples;
    tm_timeline_sample *samples;
    size_t nrows;
    tm_timeline_row *rows;
    size_t nevents;
    tm_timeline_event *events;
} tm_timeline;

/* Loads and validates 'snap''s timeline into '*out' (its strings borrowed
 * from 'snap', which must outlive it). Returns 0 (out->present 0 when there
 * is none), -EINVAL with 'err' naming the key, or -ENOMEM. Free with
 * tm_timeline_free(). */
int tm_timeline_load(const tm_snapshot *snap, tm_timeline *out, tm_error *err);

/* Only the validation (tm_snapshot_load's): 0 or -EINVAL / -ENOMEM. */
int tm_timeline_check(const tm_snapshot *snap, tm_error *err);

void tm_timeline_free(tm_timeline *tl);

/* The live bytes of every stack at sample 'sample': 'live' has
 * snap->nstacks entries, filled from the rows up to that sample. */
void tm_timeline_live_at(const tm_timeline *tl, size_t sample, uint64_t *live, size_t nstacks);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_TIMELINE_H */
