/* symbolize.c - libdwfl symbolization of snapshot frames.
 *
 * One Dwfl session per module, with the module reported at bias 0, so the
 * addresses looked up are exactly the snapshot's file-relative offsets.
 * Only modules some frame refers to are opened. Results are written into
 * the frames of snap->root, then the model is re-indexed (its strings
 * point into root).
 *
 * Inlined frames: dwarf_getscopes() gives the scopes at the address,
 * innermost first. The innermost function scope names the code at the
 * address, at the line table's file:line. Each DW_TAG_inlined_subroutine
 * scope then yields one more logical frame: the next enclosing function,
 * at the scope's DW_AT_call_file:DW_AT_call_line.
 */
#include "config.h"

#include "report/symbolize.h"
#include "report/infile.h"
#include "report/quote.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where separate debug files are searched, in libdwfl's syntax: entries
 * separated by ':'; an absolute directory D is searched for D/.build-id/
 * xx/yyyy.debug and D/<dir of the binary>/<debuglink>; "" means the
 * binary's own directory and ".debug" its .debug subdirectory. Set from
 * $TRACEMEM_DEBUGINFO_PATH (gdb's debug-file-directory). */
#define DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"
static char *debuginfo_path;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

/* An opened module: 'dwfl' NULL when it could not be used. 'same'
 * points at an earlier entry for the same file (a library loaded again
 * after dlclose appears once per load): it is opened only once. */
typedef struct modsym {
    Dwfl *dwfl;
    Dwfl_Module *mod;
    struct modsym *same;
} modsym;

static void hex(const unsigned char *bits, int n, char *out)
{
    for (int i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", bits[i]);
    out[2 * (n > 0 ? n : 0)] = '\0';
}

/* Reports 'file' at bias 0 in a new session and reads its build-id into
 * 'id' ("" when none). Returns 0, or -1 when the file cannot be used. */
static int open_file(const char *name, const char *file, modsym *ms, char *id)
{
    const unsigned char *bits;
    GElf_Addr vaddr;
    GElf_Addr bias;
    int n, fd;

    id[0] = '\0';
    /* only a regular file: a FIFO or a device named by a snapshot would
     * hang libelf or feed it without end (O_NONBLOCK: opening a FIFO
     * without a writer must not block either) */
    if ((fd = tm_infile_open(file, O_NONBLOCK, NULL)) < 0)
        return -1;
    if (!(ms->dwfl = dwfl_begin(&callbacks))) {
        close(fd);
        return -1;
    }
    dwfl_report_begin(ms->dwfl);
    ms->mod = dwfl_report_elf(ms->dwfl, name, file, fd, 0, true);
    dwfl_report_end(ms->dwfl, NULL, NULL);
    if (!ms->mod)
        close(fd); /* consumed by libdwfl only on success */
    if (!ms->mod || !dwfl_module_getelf(ms->mod, &bias)) {
        dwfl_end(ms->dwfl);
        ms->dwfl = NULL;
        return -1;
    }
    n = dwfl_module_build_id(ms->mod, &bits, &vaddr);
    if (n > 0 && n <= 64)
        hex(bits, n, id);
    return 0;
}

static void close_module(modsym *ms)
{
    if (ms->dwfl)
        dwfl_end(ms->dwfl);
    ms->dwfl = NULL;
}

/* Opens the separate debug file of build-id 'b' found under an absolute
 * directory of the debuginfo path, for a module whose file is gone or
 * changed: the debug file describes the recorded build exactly. */
static int open_by_build_id(const tm_module *m, modsym *ms, char *id)
{
    const char *b = m->build_id, *p = debuginfo_path;
    int found = -1;

    if (strlen(b) < 4)
        return -1;
    while (found < 0 && *p) {
        size_t n = strcspn(p, ":");
        char *dbg = NULL;

        if (*p == '/' && asprintf(&dbg, "%.*s/.build-id/%.2s/%s.debug", (int)n, p, b, b + 2) > 0 &&
            access(dbg, R_OK) == 0 && open_file(m->name, dbg, ms, id) == 0) {
            if (strcmp(b, id) == 0)
                found = 0;
            else
                close_module(ms);
        }
        free(dbg);
        p += n + (p[n] == ':');
    }
    return found;
}

/* Opens module 'm' (see the head comment of symbolize.h). */
static void open_module(const tm_snapshot *snap, const tm_module *m, modsym *ms, FILE *warn)
{
    char id[130], disk[130] = "";
    const char *b = m->build_id;
    int changed;

    if (m->path[0] != '/')
        return; /* [vdso] and the like: nothing on disk */
    if (open_file(m->name, m->path, ms, id) == 0 && (!*b || strcmp(b, id) == 0))
        return;
    changed = ms->dwfl != NULL;
    if (changed)
        strcpy(disk, id);
    close_module(ms);
    if (open_by_build_id(m, ms, id) == 0 || !warn)
        return;
    /* the names come from the snapshot: quoted for the terminal */
    char qfile[1024], qpath[1024], qb[300];
    const char *file = tm_quote(snap->file, qfile, sizeof qfile);
    const char *path = tm_quote(m->path, qpath, sizeof qpath);

    if (changed)
        fprintf(warn,
                "tracemem: %s: module %s changed since the run "
                "(build-id %s in the snapshot, %s on disk); its frames are "
                "not symbolized\n",
                file, path, tm_quote(b, qb, sizeof qb), *disk ? disk : "none");
    else
        fprintf(warn,
                "tracemem: %s: module %s: cannot read it; its frames "
                "are not symbolized\n",
                file, path);
}

static void open_modules(const tm_snapshot *snap, modsym *mods, const char *wanted, FILE *warn)
{
    for (size_t m = 0; m < snap->nmodules; m++) {
        const tm_module *mod = &snap->modules[m];

        if (!wanted[m])
            continue;
        for (size_t k = 0; k < m && !mods[m].same; k++)
            if (wanted[k] && !mods[k].same && strcmp(snap->modules[k].path, mod->path) == 0 &&
                strcmp(snap->modules[k].build_id, mod->build_id) == 0)
                mods[m].same = &mods[k];
        if (!mods[m].same)
            open_module(snap, mod, &mods[m], warn);
    }
}

/* --- one address --- */

static int set_str(json_t *obj, const char *key, const char *v)
{
    return v ? json_object_set_new(obj, key, json_string(v)) : 0;
}

static json_t *location(const char *function, const char *file, int line)
{
    json_t *o = json_object();

    if (o) {
        set_str(o, "function", function);
        set_str(o, "file", file);
        json_object_set_new(o, "line", json_integer(line > 0 ? line : 0));
    }
    return o;
}

/* --- names --- */

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* libstdc++'s __cxa_demangle when the library can be loaded: C++ names
 * read as in the source, and tracemem itself needs no C++ runtime. */
static demangle_fn demangler(void)
{
    static int tried;
    static demangle_fn fn;

    if (!tried) {
        void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

        tried = 1;
        if (h)
            fn = (demangle_fn)(uintptr_t)dlsym(h, "__cxa_demangle");
    }
    return fn;
}

/* 'name' demangled when it is a mangled C++ name; a new string. */
static char *readable_name(const char *name)
{
    demangle_fn d;
    char *r;
    int status;

    if (!name)
        return NULL;
    if (name[0] == '_' && name[1] == 'Z' && (d = demangler()) && (r = d(name, NULL, NULL, &status)) &&
        status == 0)
        return r;
    return strdup(name);
}

/* The name of a function DIE: its demangled linkage name (qualified, with
 * parameter types, as C++ users expect), else DW_AT_name. New string. */
static char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));

    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    return readable_name(n ? n : dwarf_diename(die));
}

static int is_function(Dwarf_Die *die)
{
    int tag = dwarf_tag(die);

    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

/* Removes "." and "dir/.." components of the absolute path 'p' in place,
 * without touching the file system. */
static void normalize_path(char *p)
{
    char *out = p, *in = p;

    while (*in) {
        while (*in == '/')
            in++;
        char *end = strchr(in, '/');
        size_t n = end ? (size_t)(end - in) : strlen(in);
        if (n == 1 && in[0] == '.') {
            /* skip */
        } else if (n == 2 && in[0] == '.' && in[1] == '.') {
            while (out > p && *--out != '/')
                ;
        } else if (n) {
            *out++ = '/';
            memmove(out, in, n);
            out += n;
        }
        in += n;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

/* 'file' made absolute: line tables name files relative to the unit's
 * DW_AT_comp_dir when the compiler was given a relative path (a build with
 * a relative srcdir, Debian's packages). New string, or NULL. */
static char *absolute_file(Dwarf_Die *cudie, const char *file)
{
    Dwarf_Attribute attr;
    const char *dir = NULL;
    char *path;

    if (!file)
        return NULL;
    if (file[0] != '/' && cudie)
        dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
    if (file[0] != '/' && (!dir || dir[0] != '/'))
        return strdup(file);
    if (file[0] == '/')
        path = strdup(file);
    else if (asprintf(&path, "%s/%s", dir, file) < 0)
        path = NULL;
    if (path)
        normalize_path(path);
    return path;
}

/* The call site file:line of the inlined scope 'die'. */
static void call_site(Dwarf_Die *cudie, Dwarf_Die *die, char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word v;
    Dwarf_Files *files;
    size_t nfiles;

    *file = NULL;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
        dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && v < nfiles)
        *file = absolute_file(cudie, dwarf_filesrc(files, v, NULL, NULL));
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
        *line = (int)v;
}

/* The scopes at 'pc' from its innermost function outwards through the
 * concrete nesting: dwarf_getscopes() follows an inlined subroutine into
 * its abstract origin, so like eu-addr2line we restart from the innermost
 * function DIE with dwarf_getscopes_die(). Returns the count, or <= 0. */
static int function_scopes(GElf_Addr pc, Dwarf_Die *cudie, Dwarf_Addr bias, Dwarf_Die **out)
{
    Dwarf_Die *scopes = NULL, fn;
    int n = dwarf_getscopes(cudie, pc - bias, &scopes), i = 0;

    *out = NULL;
    while (i < n && !is_function(&scopes[i]))
        i++;
    if (i >= n) {
        free(scopes);
        return 0;
    }
    fn = scopes[i];
    free(scopes);
    return dwarf_getscopes_die(&fn, out);
}

/* Adds the inlined chain of 'pc' to 'frame'; stores the innermost
 * function's name in '*fn' (new string; NULL without DWARF scopes). */
static void add_scopes(Dwfl_Module *mod, GElf_Addr pc, json_t *frame, char **fn)
{
    Dwarf_Addr bias;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias), *scopes = NULL;
    json_t *inl = NULL;
    int n;

    *fn = NULL;
    if (!cudie || (n = function_scopes(pc, cudie, bias, &scopes)) <= 0)
        return;
    *fn = die_name(&scopes[0]);
    for (int i = 0; i < n && dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine;) {
        char *file, *name;
        int line, j = i + 1;

        while (j < n && !is_function(&scopes[j]))
            j++;
        if (j == n)
            break;
        call_site(cudie, &scopes[i], &file, &line);
        if (!inl)
            inl = json_array();
        name = die_name(&scopes[j]);
        json_array_append_new(inl, location(name, file, line));
        free(name);
        free(file);
        i = j;
    }
    if (inl)
        json_object_set_new(frame, "inlined", inl);
    free(scopes);
}

/* Symbolizes one frame object at file-relative return address 'offset'. */
static void symbolize_frame(modsym *ms, uint64_t offset, json_t *frame)
{
    GElf_Addr pc = offset ? offset - 1 : 0; /* inside the call insn */
    Dwfl_Line *l = dwfl_module_getsrc(ms->mod, pc);
    char *file = NULL, *fn = NULL;
    int line = 0;

    add_scopes(ms->mod, pc, frame, &fn);
    if (!fn) {
        GElf_Off off;
        GElf_Sym sym;

        fn = readable_name(dwfl_module_addrinfo(ms->mod, pc, &off, &sym, NULL, NULL, NULL));
    }
    if (l) {
        Dwarf_Addr bias;
        file = absolute_file(dwfl_module_addrdie(ms->mod, pc, &bias),
                             dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL));
    }
    set_str(frame, "function", fn);
    free(fn);
    if (file && line > 0) {
        set_str(frame, "file", file);
        json_object_set_new(frame, "line", json_integer(line));
    }
    free(file);
}

int tm_symbolize(tm_snapshot *snap, int force, FILE *warn, tm_error *err)
{
    json_t *frames = json_object_get(snap->root, "frames");
    modsym *mods;
    char *wanted;
    int rc;

    if (snap->symbolized && !force)
        return 0;
    if (!debuginfo_path) {
        const char *env = getenv("TRACEMEM_DEBUGINFO_PATH");

        debuginfo_path = strdup(env && *env ? env : DEFAULT_DEBUGINFO_PATH);
        if (!debuginfo_path)
            return tm__error_set(err, -ENOMEM, "out of memory");
    }
    mods = calloc(snap->nmodules + 1, sizeof *mods);
    wanted = calloc(snap->nmodules + 1, 1);
    if (!mods || !wanted) {
        rc = tm__error_set(err, -ENOMEM, "out of memory");
        goto out_free;
    }
    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];

        if (f->module >= 0 && !f->loc.function && !f->loc.file)
            wanted[f->module] = 1;
    }
    open_modules(snap, mods, wanted, warn);
    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];
        modsym *ms = f->module >= 0 ? &mods[f->module] : NULL;

        if (ms && ms->same)
            ms = ms->same;
        if (!ms || !ms->dwfl || f->loc.function || f->loc.file)
            continue;
        symbolize_frame(ms, f->offset, json_array_get(frames, i));
    }
    json_object_set_new(snap->root, "symbolized", json_true());
    rc = tm_snapshot_reindex(snap, err);
    for (size_t m = 0; m < snap->nmodules; m++)
        close_module(&mods[m]);
out_free:
    free(mods);
    free(wanted);
    return rc;
}
