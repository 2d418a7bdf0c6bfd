/* fuzz_readers.c - libFuzzer targets for the readers of untrusted input:
 * the snapshot loader (FUZZ_SNAPSHOT; FUZZ_GZSNAPSHOT for gzip'd ones,
 * inflated as the loader does), the suppressions reader
 * (FUZZ_SUPPRESSIONS) and the baseline reader (FUZZ_BASELINE), one
 * program each (make fuzz builds this file four times, with clang
 * -fsanitize=fuzzer,address,undefined; see tests/fuzz/local.mk).
 *
 * A snapshot that loads is also pushed through what the commands do with
 * it (statistics in every grouping, leaks, folding, flame graphs, the
 * exports, the gc section), since validation is what makes those safe.
 * Suppressions and baselines that load are matched against, and gated
 * with, the leaks of tests/data/leaks.json. Output goes to a memory
 * stream and is thrown away: only crashes, sanitizer reports and leaks
 * count.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/export.h"
#include "report/flame.h"
#include "report/gate.h"
#include "report/gc.h"
#include "report/infile.h"
#include "report/leaks.h"
#include "report/render.h"
#include "report/report.h"
#include "report/snapshot.h"
#include "report/stats.h"
#include "report/suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A stream that discards what is written (but still formats it). */
static FILE *sink(char **buf, size_t *len)
{
    return open_memstream(buf, len);
}

static void sink_close(FILE *fp, char **buf)
{
    if (fp)
        fclose(fp); /* sets '*buf' */
    free(*buf);
}

#if defined(FUZZ_SUPPRESSIONS) || defined(FUZZ_BASELINE)
/* tests/data/leaks.json, loaded once: what suppressions and baselines
 * are tried on. */
static tm_snapshot *leaks_snapshot(void)
{
    static tm_snapshot *snap;
    static int tried;
    const char *dir = getenv("TM_FUZZ_DATA");
    char path[4096];

    if (!tried) {
        tried = 1;
        snprintf(path, sizeof path, "%s/leaks.json", dir ? dir : TM_TEST_DATA);
        if (tm_snapshot_load(path, &snap, NULL)) {
            fprintf(stderr, "fuzz: cannot load %s\n", path);
            abort();
        }
    }
    return snap;
}
#endif

#ifdef FUZZ_GZSNAPSHOT
#define FUZZ_SNAPSHOT
#define FUZZ_GZIP
#endif

#ifdef FUZZ_SNAPSHOT
static void exercise_stats(const tm_snapshot *snap)
{
    for (int by = TM_BY_LINENO; by <= TM_BY_TRACEBACK; by++) {
        for (int variant = 0; variant < 3; variant++) {
            tm_stats_opts o;
            tm_stats st, st2;
            tm_diff d;
            char *buf = NULL;
            size_t len = 0;
            FILE *fp;

            tm_stats_opts_init(&o);
            o.by = (tm_group_by)by;
            o.cumulative = variant == 1 && by != TM_BY_TRACEBACK;
            o.peak = variant == 2;
            if (tm_stats_compute(snap, &o, &st, NULL))
                continue;
            fp = sink(&buf, &len);
            if (fp) {
                json_t *j = tm_render_top_json(&st, 0);

                tm_render_top_text(fp, &st, 0);
                json_decref(j);
                if (tm_stats_compute(snap, &o, &st2, NULL) == 0) {
                    if (tm_stats_compare(&st2, &st, &d) == 0) {
                        tm_render_diff_text(fp, &d, &st, 0);
                        tm_diff_free(&d);
                    }
                    tm_stats_free(&st2);
                }
            }
            sink_close(fp, &buf);
            tm_stats_free(&st);
        }
    }
}

static void exercise_output(tm_snapshot *snap)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = sink(&buf, &len);
    tm_leak_report r;

    if (!fp)
        return;
    if (tm_leak_report_build(&r, &snap, 1, TM_LEAK_KINDS_ALL, NULL) == 0) {
        json_t *j = tm_leak_render_json(&r);

        tm_leak_render_text(fp, &r);
        tm_leak_render_suppressions(fp, &r);
        json_decref(j);
        tm_leak_report_free(&r);
    }
    for (int m = 0; m <= TM_METRIC_LEAKED; m++) {
        tm_folded f;

        if (tm_folded_compute(snap, (tm_metric)m, TM_LEAK_KINDS_ALL, &f, NULL))
            continue;
        tm_folded_write(&f, fp);
        tm_flame_write(&f, m ? NULL : &f, NULL, fp);
        tm_folded_free(&f);
    }
    {
        tm_folded f;

        if (tm_folded_compute_ex(snap, TM_METRIC_LIVE, 0, TM_FOLD_LOCS | TM_FOLD_CALL_SITES, &f, NULL) == 0) {
            tm_flame_opts o = {.html = 1};

            tm_flame_write(&f, &f, &o, fp);
            tm_folded_free(&f);
        }
    }
    {
        tm_error err;
        long bad;
        json_t *page = tm_report_data(&snap, 1, NULL, &bad, &err);

        if (page)
            tm_report_write(page, NULL, fp);
        json_decref(page);
    }
    for (int to = 0; to <= TM_EXPORT_PPROF; to++)
        tm_export_write(snap, (tm_export_format)to, TM_METRIC_LIVE, TM_LEAK_KINDS_ALL, fp, NULL);
    {
        json_t *gc = json_object_get(snap->root, "gc");

        if (gc && tm_gc_validate(gc, NULL, 0) == 0) {
            tm_gc_print(fp, gc, 0);
            tm_gc_print(fp, gc, 1);
            tm_gc_diff_print(fp, gc, gc);
        }
    }
    sink_close(fp, &buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *root;
    tm_snapshot *snap = NULL;
    tm_error err;
#ifdef FUZZ_GZIP
    /* gzip'd snapshots: the input is inflated as tm_snapshot_load() does
     * (a limit of 64 MiB keeps a bomb within the fuzzer's memory) */
    char *text = NULL;
    size_t n = 0;

    if (tm_infile_gunzip((const char *)data, size, (uint64_t)64 << 20, &text, &n, &err) <= 0)
        return 0;
    root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    free(text);
#else
    /* the loader's fast way (the text cut into members, the large arrays
     * read without a tree) must agree with the tree's on every input */
    tm_snapshot *fast = NULL;
    char *copy = malloc(size + 1);
    int frc;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    frc = tm_snapshot_from_text(copy, size, "fuzz.json", &fast, &err);
    /* the lean way reads the same, or declines (-EAGAIN) */
    {
        tm_snapshot *lean = NULL;
        char *copy2 = malloc(size + 1);
        int lrc;

        if (!copy2)
            abort();
        memcpy(copy2, data, size);
        copy2[size] = '\0';
        lrc = tm__snapshot_from_text_lean(copy2, size, "fuzz.json", &lean, &err);
        if (lrc != -EAGAIN && (lrc == 0) != (frc == 0))
            abort();
        if (lrc == 0 && (lean->ntraces != fast->ntraces || lean->nstacks != fast->nstacks ||
                         lean->npeak_traces != fast->npeak_traces ||
                         (lean->ntraces && memcmp(lean->traces, fast->traces, lean->ntraces * sizeof *lean->traces))))
            abort();
        tm_snapshot_free(lean);
    }
    root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
#endif
    if (!root) {
#ifndef FUZZ_GZIP
        if (frc == 0)
            abort(); /* the fast way took what is not JSON */
        tm_snapshot_free(fast);
#endif
        return 0;
    }
    int rc = tm_snapshot_from_json(root, "fuzz.json", &snap, &err);
#ifndef FUZZ_GZIP
    if ((rc == 0) != (frc == 0))
        abort(); /* one way took what the other refused */
    if (rc == 0 && (snap->ntraces != fast->ntraces || snap->nstacks != fast->nstacks ||
                    snap->npeak_traces != fast->npeak_traces || snap->peak_current != fast->peak_current ||
                    (snap->ntraces && memcmp(snap->traces, fast->traces, snap->ntraces * sizeof *snap->traces)) ||
                    (snap->npeak_traces &&
                     memcmp(snap->peak_traces, fast->peak_traces, snap->npeak_traces * sizeof *snap->peak_traces))))
        abort(); /* the two ways read different figures */
    for (size_t i = 0; rc == 0 && i < snap->nstacks; i++)
        if (snap->stacks[i].nframes != fast->stacks[i].nframes || snap->stacks[i].depth != fast->stacks[i].depth ||
            snap->stacks[i].caller_only != fast->stacks[i].caller_only ||
            (snap->stacks[i].nframes &&
             memcmp(snap->stacks[i].frames, fast->stacks[i].frames, snap->stacks[i].nframes * sizeof *snap->stacks[i].frames)))
            abort();
    tm_snapshot_free(fast);
#endif
    if (rc == 0) {
        exercise_stats(snap);
        exercise_output(snap);
        tm_snapshot_free(snap);
    }
    json_decref(root);
    return 0;
}
#endif /* FUZZ_SNAPSHOT */

#ifdef FUZZ_SUPPRESSIONS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_snapshot *snap = leaks_snapshot();
    tm_suppressions supp = {0, NULL};
    char *text = malloc(size + 1);
    tm_leak_report r;
    tm_error err;
    int line;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < size; i++) /* as tm_suppressions_load() reads it */
        if (!text[i])
            text[i] = '\n';
    if (tm_suppressions_parse(&supp, "fuzz.supp", text, &line, &err) == 0 &&
        tm_leak_report_build(&r, &snap, 1, TM_LEAK_KINDS_ALL, &supp) == 0) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = sink(&buf, &len);

        if (fp) {
            json_t *j = tm_leak_suppressions_json(&r);

            tm_leak_render_text(fp, &r);
            json_decref(j);
        }
        sink_close(fp, &buf);
        tm_leak_report_free(&r);
    }
    tm_suppressions_free(&supp);
    free(text);
    return 0;
}
#endif /* FUZZ_SUPPRESSIONS */

#ifdef FUZZ_BASELINE
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tm_snapshot *snap = leaks_snapshot();
    json_error_t je;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    tm_baseline b;
    tm_leak_report r;
    tm_error err;

    if (!root)
        return 0;
    if (tm_baseline_from_json(&b, root, "fuzz.json", &err) == 0) {
        if (tm_leak_report_build(&r, &snap, 1, TM_LEAK_KINDS_ALL, NULL) == 0) {
            tm_gate_opts o = {-1, -1, &b, "fuzz.json"};
            tm_gate g = {0};
            char *buf = NULL;
            size_t len = 0;
            FILE *fp = sink(&buf, &len);

            tm_gate_eval(&r, &o, &g);
            for (int f = 0; fp && f <= TM_GATE_GITHUB; f++)
                tm_gate_render(fp, &r, &g, (tm_gate_format)f);
            sink_close(fp, &buf);
            tm_leak_report_free(&r);
        }
        tm_baseline_free(&b);
    }
    json_decref(root);
    return 0;
}
#endif /* FUZZ_BASELINE */
