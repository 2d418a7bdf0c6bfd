/* leaks.h - the leak report behind tracemem leaks and tracemem check:
 * leak stacks of one or more snapshots grouped into loss records,
 * suppressions applied, and the text/JSON output of tracemem leaks.
 *
 * A loss record is the leaked blocks of one kind whose stacks have the
 * same symbolic key (tm_leak_key()); records from several snapshots (the
 * processes of one run) with the same key add up. Records are sorted
 * biggest first (bytes, then blocks, then kind, then key) and the shown
 * ones (selected kinds, not suppressed) are numbered 1..N in that order,
 * "loss record 1 of N" being the biggest.
 *
 * The JSON form (tracemem-leaks(1)) is a stable interface:
 *
 *   {"format": "tracemem-leaks", "version": 1, "snapshots": [FILE],
 *    "checked": BOOL, "kinds": [KIND],
 *    "summary": {KIND: {"bytes", "blocks"}, "suppressed": {"bytes",
 *                "blocks"}},
 *    "records": [{"record": N|null, "kind", "bytes", "blocks", "key",
 *                 "suppressed_by": null|SUPPRESSION_NAME,
 *                 "frames": [FRAME]}],
 *    "suppressions": [{"name", "file", "line", "format": "lsan"|"valgrind",
 *                      "stacks", "blocks", "bytes"}]}
 *
 * "summary" counts every kind (not only the selected ones) without the
 * suppressed blocks, like Valgrind's LEAK SUMMARY; "records" lists the
 * records of the selected kinds, shown ones with their number and
 * suppressed ones with "record": null; FRAME is render.h's.
 */
#ifndef TM_REPORT_LEAKS_H
#define TM_REPORT_LEAKS_H

#include <stdio.h>

#include "report/snapshot.h"
#include "report/suppress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a record stands with the gate (gate.h); TM_REC_SHOWN before. */
typedef enum tm_rec_status {
    TM_REC_SHOWN,       /* counted (no baseline) */
    TM_REC_SUPPRESSED,
    TM_REC_BASELINE,    /* in the baseline, not grown */
    TM_REC_NEW,         /* not in the baseline */
    TM_REC_GROWN,       /* in the baseline, grown */
} tm_rec_status;

typedef struct tm_leak_record {
    const tm_snapshot *snap;    /* the first snapshot it was seen in */
    size_t stack;               /* in snap */
    tm_leak_kind kind;
    uint64_t bytes;
    uint64_t blocks;
    char *key;                  /* tm_leak_key() */
    long suppression;           /* index in the suppressions, or -1 */
    size_t number;              /* loss record number, 0 when not shown */
    tm_rec_status status;
    uint64_t base_bytes;        /* the baseline's figures (gate.h) */
    uint64_t base_blocks;
    uint64_t gated_bytes;       /* what counts against the limits */
    uint64_t gated_blocks;
} tm_leak_record;

typedef struct tm_leak_report {
    size_t nsnaps;
    tm_snapshot *const *snaps;  /* borrowed */
    unsigned kinds;             /* selected kinds, bit mask */
    int checked;                /* every snapshot had a leak check */
    tm_suppressions *supp;      /* borrowed, counters updated; may be NULL */
    size_t n;
    tm_leak_record *v;          /* records of the selected kinds */
    size_t nshown;
    tm_leak_total summary[TM_LEAK_NKINDS];  /* not suppressed, every kind */
    tm_leak_total suppressed;   /* suppressed, every kind */
    int64_t sampling_bytes;     /* > 0: a snapshot was sampled, the figures
                                   are estimates (the largest mean) */
    int64_t threads_not_stopped; /* > 0: registers of so many threads were
                                    not read (leaks.partial) */
} tm_leak_report;

/* Default kinds of tracemem leaks (all) and tracemem check. */
#define TM_KINDS_CHECK ((1u << TM_LEAK_DEFINITE) | (1u << TM_LEAK_INDIRECT))

/* Lines that say the figures are estimates (a sampled snapshot) or partial
 * (threads whose registers were not read); nothing when neither. */
void tm_leak_print_caveats(FILE *fp, const tm_leak_report *r);

/* Parses a --kinds list ("definite,indirect", "all"); -1 when a name is
 * unknown or the list is empty. */
int tm_leak_kinds_parse(const char *list);

/* The symbolic key of a leak stack, also the baseline's: one line per
 * logical frame, innermost first, "FUNCTION at FILE:LINE (MODULE)" with
 * the base names of FILE and MODULE, "FUNCTION (MODULE)" without a line,
 * "MODULE+0xOFFSET" without a function. Frames in the system's libraries
 * (under /lib, /usr/lib ...: their lines move with every update) are
 * always "FUNCTION (MODULE)", "??" for an unknown function. New string or
 * NULL (ENOMEM). */
char *tm_leak_key(const tm_snapshot *snap, const tm_stack *stack);

/* Builds the report of the 'nsnaps' symbolized snapshots for the 'kinds'
 * mask, applying 'supp' (may be NULL; its hit counters are incremented).
 * Returns 0 or -ENOMEM. */
int tm_leak_report_build(tm_leak_report *r, tm_snapshot *const *snaps,
                         size_t nsnaps, unsigned kinds, tm_suppressions *supp);
void tm_leak_report_free(tm_leak_report *r);

/* "definitely lost", "indirectly lost", "possibly lost", "still
 * reachable". */
const char *tm_leak_kind_phrase(tm_leak_kind kind);

/* The logical frame that stands for a record in one-line reports: the
 * first one with a source line outside the system's and tracemem's own
 * libraries, else the first with a line, else the first. Returns 0 and
 * fills '*frame'/'*loc', or -1 for a stack without frames. */
int tm_leak_user_frame(const tm_snapshot *snap, const tm_stack *stack,
                       const tm_frame **frame, int *loc);

/* One logical frame Valgrind-style: "FUNCTION (FILE:LINE)",
 * "FUNCTION (in MODULE)" or "??? (in MODULE+0xOFFSET)". */
char *tm_leak_format_frame(const tm_snapshot *snap, const tm_frame *frame,
                           int loc, char *buf, size_t len);

/* Prints the stack of record 'rec': "   at FRAME" then "   by FRAME". */
void tm_leak_print_stack(FILE *fp, const tm_leak_record *rec);

/* tracemem leaks: text (loss records, LEAK SUMMARY, suppressions used)
 * and JSON (see above; new reference). */
void tm_leak_render_text(FILE *fp, const tm_leak_report *r);
json_t *tm_leak_render_json(const tm_leak_report *r);

/* The "suppressions" JSON array and the text "Suppressions used:" table,
 * shared with tracemem check. */
json_t *tm_leak_suppressions_json(const tm_leak_report *r);
void tm_leak_print_suppressions(FILE *fp, const tm_leak_report *r);

/* tracemem leaks --gen-suppressions: a Valgrind block and an LSan line
 * for every shown record. */
void tm_leak_render_suppressions(FILE *fp, const tm_leak_report *r);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_LEAKS_H */
