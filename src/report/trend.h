/* trend.h - growth per stack over a series of snapshots of one process
 * (tracemem trend).
 *
 * The snapshots (periodic, signal or API ones of one process) are put in
 * order of snapshot.seq, then snapshot.time. Stacks are keyed by their
 * symbolic traceback key (tm_stack_key()), so the same call path matches
 * in every snapshot; a stack's size in a snapshot is the live bytes of its
 * traces in every domain, 0 where it does not appear.
 *
 * For each stack a least-squares line is fitted to its sizes, against the
 * snapshot's position in the series (slope in bytes per snapshot) and
 * against snapshot.time (bytes per second). A stack GROWS STEADILY when
 *
 *   growth = last size - first size >= min_growth (and > 0),
 *   the slope per snapshot is > 0,
 *   at most 10 % of the steps go down (rounded down: none below 10 steps),
 *   and the line explains the sizes: R^2 >= 0.8 (with 3 snapshots or more).
 *
 * The R^2 rule is what keeps out a structure that was allocated once in the
 * middle of the series (a single step has R^2 <= 0.75) and one that grew
 * and shrank back; the step rule keeps out sawtooth patterns whose
 * line happens to rise.
 */
#ifndef TM_REPORT_TREND_H
#define TM_REPORT_TREND_H

#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TM_TREND_MIN_R2 0.8

/* Parses an ISO 8601 UTC time ("2026-01-01T00:00:00.125Z", also without
 * fraction, or with "+00:00") into seconds since the epoch. Returns 0 or
 * -EINVAL. */
int tm_time_parse(const char *iso, double *seconds);

/* --- the fit --- */

typedef struct tm_fit {
    double slope;
    double intercept;
    double r2; /* 1 when y is exactly linear; 0 when y is flat */
} tm_fit;

/* Least squares y = intercept + slope * x over 'n' points. Returns 0, or
 * -EINVAL when there are fewer than 2 points or every x is the same. */
int tm_fit_line(const double *x, const double *y, size_t n, tm_fit *out);

/* The number of steps of 'y' that go down. */
size_t tm_trend_decreases(const double *y, size_t n);

/* 1 when 'n' sizes 'y' with fit 'fit' grow steadily by the rule above. */
int tm_trend_steady(const double *y, size_t n, const tm_fit *fit, uint64_t min_growth);

/* --- series --- */

/* Checks that the 'n' snapshots come from one process (same pid and
 * exe). Returns 0, or -EINVAL with 'err' filled and the index of the
 * first snapshot that differs from snaps[0] in '*bad'. */
int tm_trend_same_process(tm_snapshot *const *snaps, size_t n, size_t *bad, tm_error *err);

/* Symbolizes a series of snapshots of one process cheaply: the newest
 * (last in series order) with libdw (tm_symbolize(), warnings to 'warn'),
 * every other raw frame by copying the symbols of the newest snapshot's
 * frame at the same module path and offset - one process has the same
 * modules throughout. Frames the newest snapshot does not have stay raw:
 * they belong to stacks that are gone by then, which never grow steadily
 * (a steady stack is live in the last snapshot). Frames that already have
 * symbols are left alone. Returns 0 or a negative errno code with 'err'
 * filled; the snapshots are re-indexed. */
int tm_trend_symbolize(tm_snapshot *const *snaps, size_t n, FILE *warn, tm_error *err);

typedef struct tm_trend_stack {
    char *key;               /* owned traceback key of a steady stack (the
                                printed ones); NULL for the others */
    size_t snap;             /* the last snapshot it appears in ... */
    size_t stack;            /* ... and its stack there (for the frames) */
    uint64_t *sizes;         /* one per snapshot, in series order (owned) */
    int64_t growth;          /* last - first */
    double slope;            /* bytes per snapshot */
    double slope_per_second; /* NAN when the times are unknown */
    double r2;
    size_t decreases;
    int steady;
} tm_trend_stack;

typedef struct tm_trend {
    size_t nsnaps;
    tm_snapshot **snaps; /* borrowed snapshots, in series order (owned array) */
    double *seconds;     /* since the first snapshot; NAN when unknown */
    size_t n;
    tm_trend_stack *v; /* steady stacks first, by growth descending,
                          then the others by growth descending */
    size_t nsteady;
    uint64_t min_growth;
    uint64_t *current; /* a timeline's series (tm_trend_timeline): the heap at
                          each point (owned); NULL for a series of snapshots */
} tm_trend;

/* Computes the trend of the 'n' (>= 2) symbolized snapshots 'snaps' of one
 * process (not checked here; see tm_trend_same_process()). 'snaps' is not
 * reordered; the snapshots must outlive the trend. Returns 0, -EINVAL with
 * 'err' filled (fewer than 2 snapshots) or -ENOMEM. */
int tm_trend_compute(tm_snapshot *const *snaps, size_t n, uint64_t min_growth, tm_trend *out, tm_error *err);
void tm_trend_free(tm_trend *trend);

/* The points a timeline's series keeps at most (evenly spread samples). */
#define TM_TREND_TIMELINE_POINTS 64

/* The same rule over the timeline 'tl' of the one symbolized snapshot
 * 'snap' (report/timeline.h): the points are up to TM_TREND_TIMELINE_POINTS
 * samples spread evenly over the run (the first and the last included), a
 * stack's size at a point is the live bytes of its newest row up to that
 * sample; 'snaps' then holds 'snap' once per point and 'current' the heap
 * at each point. Returns 0, -EINVAL with 'err' filled (fewer than 2
 * samples) or -ENOMEM. */
struct tm_timeline;
int tm_trend_timeline(tm_snapshot *snap, const struct tm_timeline *tl, uint64_t min_growth, tm_trend *out,
                      tm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_TREND_H */
