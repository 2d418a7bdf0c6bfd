/* gate_render.c - the report formats of tracemem check (see gate.h):
 * text, JSON, JUnit XML, SARIF 2.1.0 and GitHub workflow annotations.
 *
 * Every format has one entry per record of the selected kinds; what a
 * record "fails" means is the same everywhere: it counts against the
 * limits (tm_leak_record.gated_*) and the gate failed. Records that count
 * but stay within the limits are warnings, records in the baseline notes,
 * suppressed records are listed as suppressed (SARIF, JUnit, JSON) or
 * left out (text, GitHub).
 */
#include "config.h"

#include "report/gate.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "report/render.h"
#include "report/stats.h"

#define SARIF_SCHEMA "https://json.schemastore.org/sarif-2.1.0.json"

int tm_gate_format_parse(const char *name)
{
    static const char *const names[] = { "text", "json", "junit", "sarif",
                                         "github", NULL };

    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int counts(const tm_leak_record *rec)
{
    return rec->gated_bytes || rec->gated_blocks;
}

static int fails(const tm_gate *g, const tm_leak_record *rec)
{
    return g->failed && counts(rec);
}

/* --- escaping --- */

void tm_github_escape_data(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '%': fputs("%25", fp); break;
        case '\r': fputs("%0D", fp); break;
        case '\n': fputs("%0A", fp); break;
        default: fputc(*s, fp);
        }
    }
}

void tm_github_escape_property(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '%': fputs("%25", fp); break;
        case '\r': fputs("%0D", fp); break;
        case '\n': fputs("%0A", fp); break;
        case ':': fputs("%3A", fp); break;
        case ',': fputs("%2C", fp); break;
        default: fputc(*s, fp);
        }
    }
}

void tm_xml_escape(FILE *fp, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '&': fputs("&amp;", fp); break;
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&apos;", fp); break;
        default:
            /* XML 1.0 cannot carry other control characters at all */
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                fputc('?', fp);
            else
                fputc(c, fp);
        }
    }
}

void tm_uri_escape(FILE *fp, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~/", c))
            fputc(c, fp);
        else
            fprintf(fp, "%%%02X", c);
    }
}

/* --- shared pieces --- */

char *tm_leak_fingerprint(const tm_leak_record *rec, char buf[17])
{
    const tm_snapshot *snap = rec->snap;
    const tm_stack *st = &snap->stacks[rec->stack];
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    const char *kind = tm_leak_kind_name(rec->kind);
    char part[64];

#define HASH(str)                                                            \
    for (const char *p_ = (str); *p_; p_++)                                  \
        h = (h ^ (unsigned char)*p_) * 1099511628211ULL;                     \
    h = (h ^ 0xff) * 1099511628211ULL
    HASH(kind);
    for (size_t i = 0; i < st->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);
        const tm_module *m = tm_snapshot_frame_module(snap, f);

        for (int l = -1; l < (int)f->ninlined; l++) {
            const char *fn = tm_frame_loc(f, l)->function;

            if (!fn) {
                snprintf(part, sizeof part, "+0x%" PRIx64, f->offset);
                fn = part;
            }
            HASH(fn);
            HASH(m ? m->name : "?");
        }
    }
#undef HASH
    snprintf(buf, 17, "%016" PRIx64, h);
    return buf;
}

/* The user frame of 'rec': its location, and its module. */
static const tm_location *user_loc(const tm_leak_record *rec,
                                   const tm_frame **frame, int *loc)
{
    if (tm_leak_user_frame(rec->snap, &rec->snap->stacks[rec->stack], frame,
                           loc))
        return NULL;
    return tm_frame_loc(*frame, *loc);
}

/* The source root: $GITHUB_WORKSPACE when set, else the current
 * directory; resolved (realpath) once. */
static const char *source_root(void)
{
    static char root[PATH_MAX];
    static int done;
    const char *ws = getenv("GITHUB_WORKSPACE");

    if (!done) {
        done = 1;
        if (!realpath(ws && *ws ? ws : ".", root))
            root[0] = '\0';
    }
    return root[0] ? root : NULL;
}

/* 'file' relative to the source root when it is inside it (compared
 * after resolving both, so "a/../b" and symbolic links do not matter);
 * else 'file' itself. The result lives until the next call. */
static const char *relative_file(const char *file, int *inside)
{
    static char real[PATH_MAX];
    const char *root = source_root(), *f = file;
    size_t n = root ? strlen(root) : 0;

    if (file[0] == '/' && realpath(file, real))
        f = real;
    while (n > 1 && root[n - 1] == '/')
        n--;
    *inside = root && f[0] == '/' && n > 1 && strncmp(f, root, n) == 0 &&
              f[n] == '/';
    return *inside ? f + n + 1 : file;
}

/* "100 bytes in 1 blocks are definitely lost in loss record 1 of 3",
 * plus what the baseline says. New string. */
static char *headline(const tm_leak_report *r, const tm_leak_record *rec)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    if (!fp)
        return NULL;
    fprintf(fp, "%" PRIu64 " bytes in %" PRIu64 " blocks are %s",
            rec->bytes, rec->blocks, tm_leak_kind_phrase(rec->kind));
    if (rec->number)
        fprintf(fp, " in loss record %zu of %zu", rec->number, r->nshown);
    if (rec->status == TM_REC_NEW)
        fputs(" (new: not in the baseline)", fp);
    else if (rec->status == TM_REC_GROWN || rec->status == TM_REC_BASELINE)
        fprintf(fp, " (%s: baseline %" PRIu64 " bytes in %" PRIu64
                " blocks)", rec->status == TM_REC_GROWN ? "grown" : "unchanged",
                rec->base_bytes, rec->base_blocks);
    else if (rec->status == TM_REC_SUPPRESSED)
        fprintf(fp, " (suppressed by %s)",
                r->supp->v[rec->suppression].name);
    fclose(fp);
    return out;
}

/* The headline and the stack, as one multi-line string. */
static char *full_message(const tm_leak_report *r, const tm_leak_record *rec)
{
    char *out = NULL, *head = headline(r, rec);
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    if (!fp) {
        free(head);
        return NULL;
    }
    fprintf(fp, "%s\n", head ? head : "");
    tm_leak_print_stack(fp, rec);
    fclose(fp);
    free(head);
    if (len && out[len - 1] == '\n')
        out[len - 1] = '\0';
    return out;
}

static void print_kind_list(FILE *fp, unsigned kinds)
{
    const char *sep = "";

    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        if (kinds & (1u << k)) {
            fprintf(fp, "%s%s", sep, tm_leak_kind_name((tm_leak_kind)k));
            sep = ",";
        }
}

static void print_limit(FILE *fp, int64_t v, const char *unit)
{
    if (v < 0)
        fprintf(fp, "no %s limit", unit);
    else
        fprintf(fp, "%" PRId64 " %s", v, unit);
}

/* One line: "tracemem check: FAILED: ..." / "passed: ...". */
static void print_verdict(FILE *fp, const tm_leak_report *r, const tm_gate *g)
{
    const tm_gate_opts *o = g->opts;

    fprintf(fp, "tracemem check: %s: ", g->failed ? "FAILED" : "passed");
    if (o->baseline)
        fprintf(fp, "%zu new and %zu grown leak stacks (%zu unchanged) "
                "compared with %s, ", g->nnew, g->ngrown, g->nbaseline,
                o->baseline_file ? o->baseline_file : "the baseline");
    fprintf(fp, "%" PRIu64 " bytes in %" PRIu64 " blocks %s (kinds ", g->bytes,
            g->blocks, o->baseline ? "more" : "leaked");
    print_kind_list(fp, r->kinds);
    fputs("; limits: ", fp);
    print_limit(fp, o->max_bytes, "bytes");
    fputs(", ", fp);
    print_limit(fp, o->max_blocks, "blocks");
    fprintf(fp, ")%s", g->nsuppressed ? ", suppressed stacks not counted" : "");
    if (o->max_peak > 0)
        fprintf(fp, "; peak heap memory %" PRIu64 " bytes (pid %" PRId64 "), %s the --max-peak limit of %" PRId64
                    " bytes",
                g->peak, g->peak_snap ? g->peak_snap->pid : 0, g->peak_failed ? "above" : "within", o->max_peak);
    fputc('\n', fp);
}

/* The peak gate's sentence, for the report formats (NULL without
 * --max-peak): new string. */
static char *peak_message(const tm_gate *g)
{
    char *s = NULL;

    if (g->opts->max_peak <= 0 ||
        asprintf(&s, "peak heap memory %" PRIu64 " bytes in pid %" PRId64 " (%s), %s the limit of %" PRId64
                     " bytes (--max-peak)",
                 g->peak, g->peak_snap ? g->peak_snap->pid : 0,
                 g->peak_snap && g->peak_snap->exe ? g->peak_snap->exe : "?", g->peak_failed ? "above" : "within",
                 g->opts->max_peak) < 0)
        return NULL;
    return s;
}

/* --- text --- */

static void render_text(FILE *fp, const tm_leak_report *r, const tm_gate *g)
{
    for (size_t i = 0; i < r->n; i++) {
        const tm_leak_record *rec = &r->v[i];
        char *head;

        if (rec->status == TM_REC_SUPPRESSED)
            continue;
        head = headline(r, rec);
        fprintf(fp, "%s\n", head ? head : "");
        free(head);
        tm_leak_print_stack(fp, rec);
        fputc('\n', fp);
    }
    fputs("LEAK SUMMARY:\n", fp);
    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        fprintf(fp, "   %15s: %" PRIu64 " bytes in %" PRIu64 " blocks\n",
                tm_leak_kind_phrase((tm_leak_kind)k), r->summary[k].bytes,
                r->summary[k].blocks);
    fprintf(fp, "   %15s: %" PRIu64 " bytes in %" PRIu64 " blocks\n",
            "suppressed", r->suppressed.bytes, r->suppressed.blocks);
    tm_leak_print_caveats(fp, r);
    tm_leak_print_suppressions(fp, r);
    fputc('\n', fp);
    if (g->argv && g->status > 128)
        fprintf(fp, "tracemem check: %s was killed by signal %d (%s)\n", g->argv[0], g->status - 128,
                strsignal(g->status - 128));
    else if (g->argv)
        fprintf(fp, "tracemem check: %s exited with status %d\n", g->argv[0],
                g->status);
    print_verdict(fp, r, g);
}

/* --- JSON --- */

/* Adds status, counted and baseline to the records of 'j'. */
static void annotate_records(json_t *recs, const tm_leak_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_t *e = json_array_get(recs, i);
        const tm_leak_record *rec = &r->v[i];
        int based = rec->status == TM_REC_GROWN ||
                    rec->status == TM_REC_BASELINE;

        json_object_set_new(e, "status",
                            json_string(tm_rec_status_name(rec->status)));
        json_object_set_new(e, "counted",
                            json_pack("{s:I, s:I}", "bytes",
                                      (json_int_t)rec->gated_bytes, "blocks",
                                      (json_int_t)rec->gated_blocks));
        json_object_set_new(e, "baseline",
                            based ? json_pack("{s:I, s:I}", "bytes",
                                              (json_int_t)rec->base_bytes,
                                              "blocks",
                                              (json_int_t)rec->base_blocks)
                                  : json_null());
    }
}

static json_t *limit_json(int64_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *render_json(const tm_leak_report *r, const tm_gate *g)
{
    json_t *j = tm_leak_render_json(r), *prog = json_null();
    char *verdict = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&verdict, &len);

    if (fp) {
        print_verdict(fp, r, g);
        fclose(fp);
        if (len)
            verdict[len - 1] = '\0';
    }
    annotate_records(json_object_get(j, "records"), r);
    if (g->argv) {
        json_t *argv = json_array();

        for (size_t i = 0; g->argv[i]; i++)
            json_array_append_new(argv, json_string(g->argv[i]));
        prog = json_pack("{s:o, s:i}", "argv", argv, "status", g->status);
    }
    json_object_set_new(j, "format", json_string("tracemem-check"));
    json_object_set_new(j, "result", json_string(g->failed ? "fail" : "pass"));
    json_object_set_new(j, "message", json_string(verdict ? verdict : ""));
    json_object_set_new(j, "program", prog);
    json_object_set_new(j, "limits",
                        json_pack("{s:o, s:o}", "bytes",
                                  limit_json(g->opts->max_bytes), "blocks",
                                  limit_json(g->opts->max_blocks)));
    json_object_set_new(j, "baseline", g->opts->baseline_file
                                           ? json_string(g->opts->baseline_file)
                                           : json_null());
    json_object_set_new(j, "counted", json_pack("{s:I, s:I}", "bytes",
                                                (json_int_t)g->bytes, "blocks",
                                                (json_int_t)g->blocks));
    if (g->opts->max_peak > 0)
        json_object_set_new(j, "peak",
                            json_pack("{s:I, s:I, s:I, s:s?, s:b}", "bytes", (json_int_t)g->peak, "limit",
                                      (json_int_t)g->opts->max_peak, "pid",
                                      (json_int_t)(g->peak_snap ? g->peak_snap->pid : 0), "snapshot",
                                      g->peak_snap ? g->peak_snap->file : NULL, "failed", g->peak_failed));
    free(verdict);
    return j;
}

/* --- JUnit XML --- */

static void junit_case(FILE *fp, const tm_leak_report *r, const tm_gate *g,
                       const tm_leak_record *rec)
{
    const tm_frame *f;
    const tm_location *l;
    char where[1024] = "[no frames]", fpr[17], *head = headline(r, rec);
    char *msg = full_message(r, rec);
    int loc;

    if ((l = user_loc(rec, &f, &loc)))
        tm_leak_format_frame(rec->snap, f, loc, where, sizeof where);
    fputs("    <testcase classname=\"tracemem.leaks.", fp);
    tm_xml_escape(fp, tm_leak_kind_name(rec->kind));
    fputs("\" name=\"", fp);
    tm_xml_escape(fp, where);
    fprintf(fp, " [%s]\"", tm_leak_fingerprint(rec, fpr));
    if (l && l->file && l->line > 0) {
        fputs(" file=\"", fp);
        tm_xml_escape(fp, l->file);
        fprintf(fp, "\" line=\"%" PRId64 "\"", l->line);
    }
    fputs(">\n", fp);
    if (rec->status == TM_REC_SUPPRESSED) {
        fputs("      <skipped message=\"", fp);
        tm_xml_escape(fp, head ? head : "");
        fputs("\"/>\n", fp);
    } else if (fails(g, rec)) {
        fputs("      <failure type=\"", fp);
        tm_xml_escape(fp, tm_leak_kind_name(rec->kind));
        fputs("\" message=\"", fp);
        tm_xml_escape(fp, head ? head : "");
        fputs("\">", fp);
        tm_xml_escape(fp, msg ? msg : "");
        fputs("</failure>\n", fp);
    } else {
        fputs("      <system-out>", fp);
        tm_xml_escape(fp, msg ? msg : "");
        fputs("</system-out>\n", fp);
    }
    fputs("    </testcase>\n", fp);
    free(head);
    free(msg);
}

static void render_junit(FILE *fp, const tm_leak_report *r, const tm_gate *g)
{
    size_t nfail = 0, nskip = 0, n = r->n ? r->n : 1;
    int peak = g->opts->max_peak > 0;
    char *pmsg = peak_message(g);

    for (size_t i = 0; i < r->n; i++) {
        nfail += (size_t)fails(g, &r->v[i]);
        nskip += r->v[i].status == TM_REC_SUPPRESSED;
    }
    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites name=\"tracemem check\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n"
            "  <testsuite name=\"tracemem.leaks\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n",
            n + peak, nfail + g->peak_failed, nskip, n, nfail, nskip);
    for (size_t i = 0; i < r->n; i++)
        junit_case(fp, r, g, &r->v[i]);
    if (!r->n)
        fputs("    <testcase classname=\"tracemem.leaks\" "
              "name=\"no leaks\"/>\n", fp);
    fputs("  </testsuite>\n", fp);
    if (peak) { /* the peak gate: a suite of one case */
        fprintf(fp, "  <testsuite name=\"tracemem.peak\" tests=\"1\" failures=\"%d\" errors=\"0\" "
                    "skipped=\"0\">\n    <testcase classname=\"tracemem.peak\" name=\"peak heap memory\"",
                g->peak_failed);
        if (g->peak_failed) {
            fputs(">\n      <failure type=\"peak\" message=\"", fp);
            tm_xml_escape(fp, pmsg ? pmsg : "");
            fputs("\"/>\n    </testcase>\n", fp);
        } else {
            fputs(">\n      <system-out>", fp);
            tm_xml_escape(fp, pmsg ? pmsg : "");
            fputs("</system-out>\n    </testcase>\n", fp);
        }
        fputs("  </testsuite>\n", fp);
    }
    fputs("</testsuites>\n", fp);
    free(pmsg);
}

/* --- SARIF 2.1.0 --- */

static const char *const rule_names[TM_LEAK_NKINDS] = {
    "DefiniteLeak", "IndirectLeak", "PossibleLeak", "ReachableAtExit",
};

static const char *const rule_texts[TM_LEAK_NKINDS] = {
    "Heap memory definitely lost: no pointer to the block is left.",
    "Heap memory indirectly lost: only reachable from lost blocks.",
    "Heap memory possibly lost: only reachable through a pointer into its "
    "middle.",
    "Heap memory still reachable at exit: never freed, still pointed to.",
};

static json_t *sarif_rules(int peak)
{
    json_t *rules = json_array();

    for (int k = 0; k < TM_LEAK_NKINDS; k++) {
        char id[32];

        snprintf(id, sizeof id, "leak/%s", tm_leak_kind_name((tm_leak_kind)k));
        json_array_append_new(
            rules,
            json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:[ss]}}",
                      "id", id, "name", rule_names[k], "shortDescription",
                      "text", rule_texts[k], "fullDescription", "text",
                      rule_texts[k], "defaultConfiguration", "level",
                      k <= TM_LEAK_INDIRECT ? "error" : "warning",
                      "properties", "tags", "memory", "leak"));
    }
    if (peak) /* after the leak rules: ruleIndex of a leak is its kind */
        json_array_append_new(rules, json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:[ss]}}", "id", "peak", "name",
                                               "PeakMemory", "shortDescription", "text",
                                               "Peak heap memory above the --max-peak limit.",
                                               "defaultConfiguration", "level", "error", "properties", "tags",
                                               "memory", "peak"));
    return rules;
}

/* An artifactLocation for 'file' (a URI relative to %SRCROOT% when the
 * file is inside the source root). */
static json_t *sarif_artifact(const char *file)
{
    char *uri = NULL;
    size_t len = 0;
    int inside;
    const char *rel = relative_file(file, &inside);
    FILE *fp = open_memstream(&uri, &len);
    json_t *j;

    if (!fp)
        return json_object();
    if (!inside && file[0] == '/')
        fputs("file://", fp);
    tm_uri_escape(fp, rel);
    fclose(fp);
    /* a relative file name is relative to the build's source root */
    j = inside || file[0] != '/'
            ? json_pack("{s:s, s:s}", "uri", uri, "uriBaseId", "%SRCROOT%")
               : json_pack("{s:s}", "uri", uri);
    free(uri);
    return j;
}

/* A location of logical frame 'loc' of 'f' (NULL 'f': none known). */
static json_t *sarif_location(const tm_snapshot *snap, const tm_frame *f,
                              int loc)
{
    const tm_location *l = tm_frame_loc(f, loc);
    const tm_module *m = tm_snapshot_frame_module(snap, f);
    json_t *j = json_object();
    char where[1024];

    if (l->file && l->line > 0)
        json_object_set_new(j, "physicalLocation",
                            json_pack("{s:o, s:{s:I}}", "artifactLocation",
                                      sarif_artifact(l->file), "region",
                                      "startLine", (json_int_t)l->line));
    else if (m && m->path[0] == '/')
        json_object_set_new(j, "physicalLocation",
                            json_pack("{s:o}", "artifactLocation",
                                      sarif_artifact(m->path)));
    if (l->function)
        json_object_set_new(j, "logicalLocations",
                            json_pack("[{s:s, s:s}]", "name", l->function,
                                      "kind", "function"));
    json_object_set_new(j, "message",
                        json_pack("{s:s}", "text",
                                  tm_leak_format_frame(snap, f, loc, where,
                                                       sizeof where)));
    return j;
}

static json_t *sarif_stack(const tm_leak_record *rec)
{
    const tm_snapshot *snap = rec->snap;
    const tm_stack *st = &snap->stacks[rec->stack];
    json_t *frames = json_array();

    for (size_t i = 0; i < st->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);
        const tm_module *m = tm_snapshot_frame_module(snap, f);

        for (int l = -1; l < (int)f->ninlined; l++) {
            json_t *fr = json_pack("{s:o}", "location",
                                   sarif_location(snap, f, l));

            if (m)
                json_object_set_new(fr, "module", json_string(m->name));
            json_array_append_new(frames, fr);
        }
    }
    return json_pack("{s:{s:s}, s:o}", "message", "text", "allocation stack",
                     "frames", frames);
}

static const char *sarif_level(const tm_gate *g, const tm_leak_record *rec)
{
    if (fails(g, rec))
        return "error";
    if (rec->status == TM_REC_SUPPRESSED || rec->status == TM_REC_BASELINE)
        return "note";
    return "warning";
}

static json_t *sarif_result(const tm_leak_report *r, const tm_gate *g,
                            const tm_leak_record *rec)
{
    static const char *const states[] = {
        [TM_REC_SHOWN] = NULL, [TM_REC_SUPPRESSED] = NULL,
        [TM_REC_BASELINE] = "unchanged", [TM_REC_NEW] = "new",
        [TM_REC_GROWN] = "updated",
    };
    char id[32], fpr[17], *msg = headline(r, rec);
    const tm_frame *f;
    int loc;
    json_t *res, *locs = json_array();

    snprintf(id, sizeof id, "leak/%s", tm_leak_kind_name(rec->kind));
    if (user_loc(rec, &f, &loc))
        json_array_append_new(locs, sarif_location(rec->snap, f, loc));
    res = json_pack("{s:s, s:i, s:s, s:{s:s}, s:o, s:[o], s:{s:s}, s:{s:I, "
                    "s:I}}", "ruleId", id, "ruleIndex", (int)rec->kind,
                    "level", sarif_level(g, rec), "message", "text",
                    msg ? msg : "", "locations", locs, "stacks",
                    sarif_stack(rec), "partialFingerprints",
                    "tracemem/leakStack/v1", tm_leak_fingerprint(rec, fpr),
                    "properties", "bytes", (json_int_t)rec->bytes, "blocks",
                    (json_int_t)rec->blocks);
    if (states[rec->status])
        json_object_set_new(res, "baselineState",
                            json_string(states[rec->status]));
    if (rec->status == TM_REC_SUPPRESSED) {
        const tm_suppression *s = &r->supp->v[rec->suppression];
        char just[1024];

        snprintf(just, sizeof just, "%s (%s:%d)", s->name, s->file, s->line);
        json_object_set_new(res, "suppressions",
                            json_pack("[{s:s, s:s, s:s}]", "kind", "external",
                                      "status", "accepted", "justification",
                                      just));
    }
    free(msg);
    return res;
}

static json_t *render_sarif(const tm_leak_report *r, const tm_gate *g)
{
    json_t *results = json_array(), *run;
    const char *root = source_root();
    char *rooturi = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&rooturi, &len);

    for (size_t i = 0; i < r->n; i++)
        json_array_append_new(results, sarif_result(r, g, &r->v[i]));
    if (g->peak_failed) { /* the peak gate's result: no location in the code */
        char *pmsg = peak_message(g);

        json_array_append_new(results, json_pack("{s:s, s:i, s:s, s:{s:s}}", "ruleId", "peak", "ruleIndex",
                                                 TM_LEAK_NKINDS, "level", "error", "message", "text",
                                                 pmsg ? pmsg : "peak heap memory above the limit"));
        free(pmsg);
    }
    /* no informationUri: it is optional, and the project publishes no
     * page of its own to point at */
    run = json_pack("{s:{s:{s:s, s:s, s:o}}, s:o, s:[{s:b}]}", "tool",
                    "driver", "name", "tracemem", "version", PACKAGE_VERSION,
                    "rules", sarif_rules(g->opts->max_peak > 0),
                    "results", results, "invocations", "executionSuccessful",
                    !g->argv || g->status == 0);
    if (fp && root) {
        fputs("file://", fp);
        tm_uri_escape(fp, root);
        if (root[strlen(root) - 1] != '/')
            fputc('/', fp);
    }
    if (fp && !fclose(fp) && root)
        json_object_set_new(run, "originalUriBaseIds",
                            json_pack("{s:{s:s}}", "%SRCROOT%", "uri",
                                      rooturi));
    free(rooturi);
    return json_pack("{s:s, s:s, s:[o]}", "$schema", SARIF_SCHEMA, "version",
                     "2.1.0", "runs", run);
}

/* --- GitHub workflow commands --- */

static void render_github(FILE *fp, const tm_leak_report *r, const tm_gate *g)
{
    for (size_t i = 0; i < r->n; i++) {
        const tm_leak_record *rec = &r->v[i];
        const tm_location *l;
        const tm_frame *f;
        char title[128], *msg;
        int loc, inside;

        if (!counts(rec))
            continue;
        msg = full_message(r, rec);
        fprintf(fp, "::%s ", fails(g, rec) ? "error" : "warning");
        l = user_loc(rec, &f, &loc);
        if (l && l->file && l->line > 0) {
            fputs("file=", fp);
            tm_github_escape_property(fp, relative_file(l->file, &inside));
            fprintf(fp, ",line=%" PRId64 ",", l->line);
        }
        snprintf(title, sizeof title, "Memory leak (%s)",
                 tm_leak_kind_name(rec->kind));
        fputs("title=", fp);
        tm_github_escape_property(fp, title);
        fputs("::", fp);
        tm_github_escape_data(fp, msg ? msg : "");
        fputc('\n', fp);
        free(msg);
    }
}

static void github_peak(FILE *fp, const tm_gate *g)
{
    char *pmsg;

    if (!g->peak_failed || !(pmsg = peak_message(g)))
        return;
    fputs("::error title=Peak heap memory::", fp);
    tm_github_escape_data(fp, pmsg);
    fputc('\n', fp);
    free(pmsg);
}

void tm_gate_render(FILE *fp, const tm_leak_report *r, const tm_gate *g,
                    tm_gate_format format)
{
    json_t *j;

    switch (format) {
    case TM_GATE_TEXT:
        render_text(fp, r, g);
        break;
    case TM_GATE_JSON:
    case TM_GATE_SARIF:
        j = format == TM_GATE_JSON ? render_json(r, g) : render_sarif(r, g);
        json_dumpf(j, fp, JSON_INDENT(2));
        fputc('\n', fp);
        json_decref(j);
        break;
    case TM_GATE_JUNIT:
        render_junit(fp, r, g);
        break;
    case TM_GATE_GITHUB:
        render_github(fp, r, g);
        github_peak(fp, g);
        break;
    }
}
