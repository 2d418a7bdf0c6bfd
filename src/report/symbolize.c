/* symbolize.c - libdwfl symbolization of snapshot frames.
 *
 * One Dwfl session per module, with the module reported at bias 0, so the
 * addresses looked up are exactly the snapshot's file-relative offsets.
 * Only modules some frame refers to are opened, once per tm_symcache (by
 * path and build-id), and each address is looked up once per cache.
 * Function names without DWARF come from the module's sorted symbol table
 * (symtab.c), which answers as dwfl_module_addrinfo() without its linear
 * scan. Results are written into the frames of snap->root, then the
 * model's frames are loaded again (its strings point into root).
 *
 * Inlined frames: the function scopes at the address, innermost first,
 * come from the module's per-unit tables (scopetab.c; libdw's
 * dwarf_getscopes() and dwarf_getscopes_die(), which give the same but
 * walk the unit for every address, answer where a table cannot). The
 * innermost function scope names the code at the address, at the line
 * table's file:line. Each DW_TAG_inlined_subroutine scope then yields one
 * more logical frame: the next enclosing function, at the scope's
 * DW_AT_call_file:DW_AT_call_line.
 */
#include "config.h"

#include "report/symbolize.h"
#include "report/infile.h"
#include "report/quote.h"
#include "report/scopetab.h"
#include "report/symtab.h"

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

/* A module of the cache, for one (path, build-id): opened once, with its
 * sorted symbol table (made when first needed) and the results of the
 * addresses looked up so far. 'dwfl' is NULL when the module cannot be
 * used; 'warning' then says why (NULL: nothing to say, e.g. [vdso]) and
 * 'warned' that it was said. */
typedef struct result result;
typedef struct modsym {
    char *path;
    char *build_id;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    tm_symtab *symtab;
    tm_scopetab *scopes; /* inline scopes per unit, made when first needed */
    char *warning;
    int warned;
    /* offset -> results[i]: open addressing, keys + 1 (0 is empty) */
    uint64_t *keys;
    uint32_t *slots;
    size_t nslots;
    result *results;
    size_t nresults, capresults;
} modsym;

struct tm_symcache {
    modsym **mods; /* each allocated on its own: pointers to them stay valid */
    size_t nmods, capmods;
};

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

/* Opens module 'm' into 'ms' (see the head comment of symbolize.h); when
 * it cannot be used, stores why in ms->warning (the part after "module
 * PATH"; the path is quoted for the terminal when the warning is said). */
static void open_module(const tm_module *m, modsym *ms)
{
    char id[130], disk[130] = "", qb[300];
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
    if (open_by_build_id(m, ms, id) == 0)
        return;
    if (changed) {
        if (asprintf(&ms->warning,
                     " changed since the run (build-id %s in the snapshot, %s on disk); its frames are "
                     "not symbolized",
                     tm_quote(b, qb, sizeof qb), *disk ? disk : "none") < 0)
            ms->warning = NULL;
    } else {
        ms->warning = strdup(": cannot read it; its frames are not symbolized");
    }
}

static int grow_mods(tm_symcache *c)
{
    if (c->nmods == c->capmods) {
        size_t ncap = c->capmods ? 2 * c->capmods : 16;
        modsym **nv = realloc(c->mods, ncap * sizeof *nv);

        if (!nv)
            return -1;
        c->mods = nv;
        c->capmods = ncap;
    }
    return 0;
}

/* The cache's entry for module 'm', opened when new; NULL on ENOMEM. An
 * entry opened under another name with the same build-id is the same
 * file's (/lib and /usr/lib, a preloaded one: tm_symcache_preload()). */
static modsym *cache_module(tm_symcache *c, const tm_module *m)
{
    modsym *ms;

    for (size_t i = 0; i < c->nmods; i++)
        if (strcmp(c->mods[i]->path, m->path) == 0 && strcmp(c->mods[i]->build_id, m->build_id) == 0)
            return c->mods[i];
    for (size_t i = 0; *m->build_id && i < c->nmods; i++)
        if (c->mods[i]->dwfl && strcmp(c->mods[i]->build_id, m->build_id) == 0)
            return c->mods[i];
    if (grow_mods(c))
        return NULL;
    if (!(ms = calloc(1, sizeof *ms)) || !(ms->path = strdup(m->path)) ||
        !(ms->build_id = strdup(m->build_id))) {
        if (ms)
            free(ms->path);
        free(ms);
        return NULL;
    }
    c->mods[c->nmods++] = ms;
    open_module(m, ms);
    return ms;
}

static void warn_module(const tm_snapshot *snap, modsym *ms, FILE *warn)
{
    char qfile[1024], qpath[1024];

    if (!warn || !ms->warning || ms->warned)
        return;
    ms->warned = 1;
    /* the names come from the snapshot: quoted for the terminal */
    fprintf(warn, "tracemem: %s: module %s%s\n", tm_quote(snap->file, qfile, sizeof qfile),
            tm_quote(ms->path, qpath, sizeof qpath), ms->warning);
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

/* --- results --- */

/* What is known about one address: the innermost function, file:line
 * (file NULL unless the line is known) and the inlined chain, as the
 * strings to write into the frame. */
typedef struct loc {
    char *function;
    char *file;
    int line;
} loc;

struct result {
    loc at;
    size_t ninlined;
    loc *inlined;
};

static void result_free(result *r)
{
    free(r->at.function);
    free(r->at.file);
    for (size_t i = 0; i < r->ninlined; i++) {
        free(r->inlined[i].function);
        free(r->inlined[i].file);
    }
    free(r->inlined);
}

/* Adds the inlined chain of 'pc' to 'r' and the innermost function's
 * name as r->at.function (NULL without DWARF scopes). */
static void add_scopes(modsym *ms, GElf_Addr pc, result *r)
{
    Dwarf_Addr bias;
    Dwarf_Die *cudie = dwfl_module_addrdie(ms->mod, pc, &bias), *scopes = NULL;
    int n = TM_SCOPES_UNKNOWN;

    if (!cudie)
        return;
    if (ms->scopes || (ms->scopes = tm_scopetab_new()))
        n = tm_scopetab_lookup(ms->scopes, cudie, pc - bias, &scopes);
    if (n < 0) /* the table cannot tell, or ENOMEM: libdw always can */
        n = tm_scopes_libdw(cudie, pc - bias, &scopes);
    if (n <= 0)
        return;
    r->at.function = die_name(&scopes[0]);
    /* each inlined subroutine: called from the enclosing function */
    for (int i = 0; i + 1 < n && dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine; i++) {
        loc *nv = realloc(r->inlined, (r->ninlined + 1) * sizeof *nv);

        if (!nv)
            break;
        r->inlined = nv;
        nv = &r->inlined[r->ninlined++];
        call_site(cudie, &scopes[i], &nv->file, &nv->line);
        nv->function = die_name(&scopes[i + 1]);
    }
    free(scopes);
}

/* Looks up file-relative return address 'offset' of 'ms'. */
static void lookup(modsym *ms, uint64_t offset, result *r)
{
    GElf_Addr pc = offset ? offset - 1 : 0; /* inside the call insn */
    Dwfl_Line *l = dwfl_module_getsrc(ms->mod, pc);

    memset(r, 0, sizeof *r);
    add_scopes(ms, pc, r);
    if (!r->at.function) {
        if (!ms->symtab)
            ms->symtab = tm_symtab_new(ms->mod);
        if (ms->symtab)
            r->at.function = readable_name(tm_symtab_lookup(ms->symtab, pc));
    }
    if (l) {
        Dwarf_Addr bias;
        const char *f = dwfl_lineinfo(l, NULL, &r->at.line, NULL, NULL, NULL);

        r->at.file = absolute_file(dwfl_module_addrdie(ms->mod, pc, &bias), f);
    }
    if (!r->at.file || r->at.line <= 0) {
        free(r->at.file);
        r->at.file = NULL;
        r->at.line = 0;
    }
}


static int grow_index(modsym *ms)
{
    size_t n = ms->nslots ? 2 * ms->nslots : 1024;
    uint64_t *keys = calloc(n, sizeof *keys);
    uint32_t *slots = calloc(n, sizeof *slots);

    if (!keys || !slots) {
        free(keys);
        free(slots);
        return -1;
    }
    for (size_t i = 0; i < ms->nslots; i++) {
        size_t h;

        if (!ms->keys[i])
            continue;
        for (h = tm_mix64(ms->keys[i]) & (n - 1); keys[h]; h = (h + 1) & (n - 1))
            ;
        keys[h] = ms->keys[i];
        slots[h] = ms->slots[i];
    }
    free(ms->keys);
    free(ms->slots);
    ms->keys = keys;
    ms->slots = slots;
    ms->nslots = n;
    return 0;
}

/* The result for 'offset' of 'ms', looked up when new; NULL on ENOMEM. */
static const result *cached_lookup(modsym *ms, uint64_t offset)
{
    uint64_t key = offset + 1;
    size_t h = 0;

    if (offset == UINT64_MAX)
        key = 0; /* cannot be a key: looked up every time below */
    if (key && 2 * (ms->nresults + 1) > ms->nslots && grow_index(ms))
        return NULL;
    if (key) {
        for (h = tm_mix64(key) & (ms->nslots - 1); ms->keys[h]; h = (h + 1) & (ms->nslots - 1))
            if (ms->keys[h] == key)
                return &ms->results[ms->slots[h]];
    }
    if (ms->nresults == ms->capresults) {
        size_t ncap = ms->capresults ? 2 * ms->capresults : 256;
        result *nv = realloc(ms->results, ncap * sizeof *nv);

        if (!nv)
            return NULL;
        ms->results = nv;
        ms->capresults = ncap;
    }
    lookup(ms, offset, &ms->results[ms->nresults]);
    if (key) {
        ms->keys[h] = key;
        ms->slots[h] = (uint32_t)ms->nresults;
    }
    return &ms->results[ms->nresults++];
}

/* --- the cache --- */

tm_symcache *tm_symcache_new(void)
{
    return calloc(1, sizeof(tm_symcache));
}

void tm_symcache_free(tm_symcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nmods; i++) {
        modsym *ms = c->mods[i];

        for (size_t r = 0; r < ms->nresults; r++)
            result_free(&ms->results[r]);
        free(ms->results);
        free(ms->keys);
        free(ms->slots);
        tm_symtab_free(ms->symtab); /* before the Dwfl its names live in */
        tm_scopetab_free(ms->scopes);
        close_module(ms);
        free(ms->warning);
        free(ms->path);
        free(ms->build_id);
        free(ms);
    }
    free(c->mods);
    free(c);
}

/* Writes 'r' into the frame object: the keys and their order as
 * symbolize has always written them. Returns 1 when something was added. */
static int apply(const result *r, json_t *frame)
{
    if (r->ninlined) {
        json_t *inl = json_array();

        for (size_t i = 0; i < r->ninlined; i++)
            json_array_append_new(
                inl, location(r->inlined[i].function, r->inlined[i].file, r->inlined[i].line));
        json_object_set_new(frame, "inlined", inl);
    }
    set_str(frame, "function", r->at.function);
    if (r->at.file) {
        set_str(frame, "file", r->at.file);
        json_object_set_new(frame, "line", json_integer(r->at.line));
    }
    return r->ninlined || r->at.function || r->at.file;
}

static int init_debuginfo_path(tm_error *err)
{
    if (!debuginfo_path) {
        const char *env = getenv("TRACEMEM_DEBUGINFO_PATH");

        debuginfo_path = strdup(env && *env ? env : DEFAULT_DEBUGINFO_PATH);
        if (!debuginfo_path)
            return tm__error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int tm_symcache_preload(tm_symcache *c, const char *path)
{
    char id[130];
    modsym *ms;
    Dwarf_Addr bias;

    if (init_debuginfo_path(NULL) || path[0] != '/')
        return -1;
    for (size_t i = 0; i < c->nmods; i++)
        if (strcmp(c->mods[i]->path, path) == 0)
            return 0;
    if (grow_mods(c) || !(ms = calloc(1, sizeof *ms)))
        return -1;
    if (!(ms->path = strdup(path)) || open_file(path, path, ms, id) || !(ms->build_id = strdup(id))) {
        close_module(ms);
        free(ms->path);
        free(ms);
        return -1;
    }
    c->mods[c->nmods++] = ms;
    /* what the first look-up would load: the debug file, its sections
     * (inflated when compressed), the symbol table */
    dwfl_module_getdwarf(ms->mod, &bias);
    ms->symtab = tm_symtab_new(ms->mod);
    return 0;
}

int tm_symbolize_cached(tm_snapshot *snap, int force, tm_symcache *cache, FILE *warn, size_t *added,
                        tm_error *err)
{
    json_t *frames = json_object_get(snap->root, "frames");
    modsym **mods;
    size_t n = 0;
    int rc = 0;

    if (added)
        *added = 0;
    if (snap->symbolized && !force)
        return 0;
    if ((rc = init_debuginfo_path(err)))
        return rc;
    if (!(mods = calloc(snap->nmodules + 1, sizeof *mods)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];
        modsym *ms;
        const result *r;

        if (f->module < 0 || f->loc.function || f->loc.file)
            continue;
        if (!(ms = mods[f->module]) && !(ms = mods[f->module] = cache_module(cache, &snap->modules[f->module]))) {
            rc = tm__error_set(err, -ENOMEM, "out of memory");
            goto out_free;
        }
        warn_module(snap, ms, warn);
        if (!ms->dwfl)
            continue;
        if (!(r = cached_lookup(ms, f->offset))) {
            rc = tm__error_set(err, -ENOMEM, "out of memory");
            goto out_free;
        }
        n += apply(r, json_array_get(frames, i));
    }
    if (added)
        *added = n;
    if (!snap->symbolized) {
        json_object_set_new(snap->root, "symbolized", json_true());
        snap->symbolized = 1;
    }
    if (n)
        rc = tm__snapshot_reload_frames(snap, err);
out_free:
    free(mods);
    return rc;
}

int tm_symbolize(tm_snapshot *snap, int force, FILE *warn, tm_error *err)
{
    tm_symcache *c = tm_symcache_new();
    int rc;

    if (!c)
        return tm__error_set(err, -ENOMEM, "out of memory");
    rc = tm_symbolize_cached(snap, force, c, warn, NULL, err);
    tm_symcache_free(c);
    return rc;
}
