/* chart.h - memory over time as a small text chart (like ms_print's
 * graph), for the terminal: the heap as bars, the resident memory as
 * dots, the peak marked, axes labelled with units and seconds.
 */
#ifndef TM_REPORT_CHART_H
#define TM_REPORT_CHART_H

#include <stdio.h>

#include "report/snapshot.h"
#include "report/timeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Draws 'tl' into a new string (lines ending in '\n'): 'width' columns in
 * all (at least 30), 'height' rows of plot (at least 3), 'utf8' block
 * characters, else plain ASCII. NULL when there is nothing to draw (fewer
 * than two samples) or out of memory. The caller frees it. */
char *tm_chart_render(const tm_timeline *tl, int width, int height, int utf8);

/* The chart of 'snap''s timeline for 'fp': plain ASCII unless 'fp' is a
 * terminal with a UTF-8 locale; as wide as the terminal (or $COLUMNS, at
 * most 100, default 72). Prints nothing when the snapshot has no usable
 * timeline. */
void tm_chart_summary(FILE *fp, const tm_snapshot *snap);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_CHART_H */
