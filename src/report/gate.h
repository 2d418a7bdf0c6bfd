/* gate.h - the CI leak gate of tracemem check: limits, baselines and the
 * report formats (text, JSON, JUnit XML, SARIF 2.1.0, GitHub workflow
 * annotations).
 *
 * The gate counts the records of a tm_leak_report that are not
 * suppressed. Without a baseline every such record counts in full; with
 * one, a record whose (kind, key) is not in the baseline counts in full
 * (new), one that has more bytes or blocks than its baseline entry counts
 * by the difference (grown), and the others count nothing. The gate fails
 * when what counts exceeds the byte or the block limit.
 *
 * A baseline file (tracemem-check(1)) is:
 *
 *   {"format": "tracemem-baseline", "version": 1,
 *    "kinds": [KIND],
 *    "leaks": [{"kind": KIND, "bytes": N, "blocks": N,
 *               "stack": [FRAME_KEY]}]}
 *
 * where "stack" is tm_leak_key() split into lines: "FUNCTION at
 * FILE:LINE (MODULE)" with base names, "FUNCTION (MODULE)" (always for
 * the system's libraries, whose lines move with updates), or
 * "MODULE+0xOFFSET" when nothing symbolic is known. Nothing in it depends
 * on load addresses, so it survives ASLR and rebuilds that do not move
 * the leaking lines. Entries with the same kind and stack add up.
 */
#ifndef TM_REPORT_GATE_H
#define TM_REPORT_GATE_H

#include <stdio.h>

#include "report/leaks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- baselines --- */

typedef struct tm_baseline_entry {
    char *key;
    tm_leak_kind kind;
    uint64_t bytes;
    uint64_t blocks;
} tm_baseline_entry;

typedef struct tm_baseline {
    size_t n;
    tm_baseline_entry *v;
} tm_baseline;

/* Reads the baseline file 'path' into 'b' (free with tm_baseline_free()).
 * Returns 0, or a negative errno code with "PATH: what is wrong" in
 * 'err' (-EINVAL for a file that is not a valid baseline). */
int tm_baseline_load(tm_baseline *b, const char *path, tm_error *err);

/* Parses an already loaded document; 'name' is used in messages. */
int tm_baseline_from_json(tm_baseline *b, const json_t *root,
                          const char *name, tm_error *err);
void tm_baseline_free(tm_baseline *b);

/* The entry for 'kind' and 'key', or NULL. */
const tm_baseline_entry *tm_baseline_find(const tm_baseline *b,
                                          tm_leak_kind kind, const char *key);

/* The baseline of the records of 'r' that are not suppressed (new
 * reference), and writing it to 'path' atomically. */
json_t *tm_baseline_json(const tm_leak_report *r);
int tm_baseline_write(const tm_leak_report *r, const char *path,
                      tm_error *err);

/* Writes 'len' bytes of 'data' to 'path' as report/outfile.h does (a
 * regular file through a temporary file in the same directory and
 * rename(2), a symlink followed, a device or FIFO written through); "-"
 * writes to stdout. Returns 0 or a negative errno code with "PATH: why"
 * in 'err' ("<stdout>" for "-"). */
int tm_write_file_atomic(const char *path, const char *data, size_t len,
                         tm_error *err);

/* --- the gate --- */

typedef struct tm_gate_opts {
    int64_t max_bytes;          /* -1: no limit */
    int64_t max_blocks;         /* -1: no limit */
    const tm_baseline *baseline;    /* NULL: none */
    const char *baseline_file;
    int64_t max_peak;           /* --max-peak: 0 or less, none */
} tm_gate_opts;

typedef struct tm_gate {
    const tm_gate_opts *opts;
    int failed;
    uint64_t bytes;             /* what counts against the limits */
    uint64_t blocks;
    size_t ncounted;            /* records with something counted */
    size_t nnew, ngrown, nbaseline, nsuppressed;
    /* the highest memory.peak of the snapshots, and whether it is above
     * opts->max_peak (which fails the gate too) */
    uint64_t peak;
    const tm_snapshot *peak_snap;
    int peak_failed;
    /* the program run by check, if any */
    char *const *argv;          /* NULL when reading files */
    int status;                 /* its exit status */
} tm_gate;

/* Sets the status and gated figures of every record of 'r' and fills
 * 'g' (whose argv/status the caller sets). */
void tm_gate_eval(tm_leak_report *r, const tm_gate_opts *o, tm_gate *g);

/* "new", "grown", "baseline", "suppressed", "leak". */
const char *tm_rec_status_name(tm_rec_status st);

/* --- output --- */

typedef enum tm_gate_format {
    TM_GATE_TEXT,
    TM_GATE_JSON,
    TM_GATE_JUNIT,
    TM_GATE_SARIF,
    TM_GATE_GITHUB,
} tm_gate_format;

/* Parses --format; -1 when unknown. */
int tm_gate_format_parse(const char *name);

/* Writes the report of 'r' judged by 'g' in 'format' to 'fp'. */
void tm_gate_render(FILE *fp, const tm_leak_report *r, const tm_gate *g,
                    tm_gate_format format);

/* Escaping, exposed for the tests: GitHub's escapeData() (message) and
 * escapeProperty() (file, title ...), XML character data/attributes, and
 * a URI path (RFC 3986: everything but unreserved characters and '/'
 * percent-encoded). Each prints 's' escaped to 'fp'. */
void tm_github_escape_data(FILE *fp, const char *s);
void tm_github_escape_property(FILE *fp, const char *s);
void tm_xml_escape(FILE *fp, const char *s);
void tm_uri_escape(FILE *fp, const char *s);

/* A fingerprint of a record that ignores line numbers and offsets (kind,
 * functions and modules of its frames): 16 hex digits into 'buf'. */
char *tm_leak_fingerprint(const tm_leak_record *rec, char buf[17]);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_GATE_H */
