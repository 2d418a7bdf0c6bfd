/* python.c - is the program tracemem run starts a CPython interpreter?
 *
 * CPython serves small objects from its own arenas (pymalloc), so under
 * the shim a Python program's peak is under-reported several times and
 * its objects have no stacks of their own; PYTHONMALLOC=malloc sends them
 * to malloc. run sets it for an interpreter unless the user did.
 *
 * An interpreter is an ELF file that defines Py_BytesMain or Py_Main in
 * its dynamic symbols (python3, statically linked with libpython) or
 * needs a libpython shared library (python3 built --enable-shared,
 * uwsgi and other embedders). A script is judged by its "#!" line,
 * "/usr/bin/env python3" included. A wrapper named like an interpreter
 * (pyenv's shims are shell scripts called python3) counts as one.
 */
#include "config.h"

#include "builtin.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 'name' searched in $PATH as execvp() does, into 'out'; 0 or -1. */
static int path_lookup(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH");

    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return access(out, X_OK);
    }
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");

        if ((size_t)snprintf(out, len, "%.*s%s%s", (int)n, path, n ? "/" : "", name) < len &&
            access(out, X_OK) == 0)
            return 0;
        path += n + (path[n] == ':');
    }
    return -1;
}

static int dynamic_says_python(Elf *elf)
{
    Elf_Scn *scn = NULL;
    GElf_Shdr sh;

    while ((scn = elf_nextscn(elf, scn))) {
        Elf_Data *data;

        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_DYNAMIC) ||
            !(data = elf_getdata(scn, NULL)) || !sh.sh_entsize)
            continue;
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            const char *name;

            if (sh.sh_type == SHT_DYNSYM) {
                GElf_Sym sym;

                if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
                    continue;
                name = elf_strptr(elf, sh.sh_link, sym.st_name);
                if (name && (strcmp(name, "Py_BytesMain") == 0 || strcmp(name, "Py_Main") == 0))
                    return 1;
            } else {
                GElf_Dyn dyn;

                if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag != DT_NEEDED)
                    continue;
                name = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
                if (name && strncmp(name, "libpython", 9) == 0)
                    return 1;
            }
        }
    }
    return 0;
}

static int elf_is_python(int fd)
{
    Elf *elf;
    int yes;

    elf_version(EV_CURRENT);
    if (!(elf = elf_begin(fd, ELF_C_READ_MMAP, NULL)))
        return 0;
    yes = elf_kind(elf) == ELF_K_ELF && dynamic_says_python(elf);
    elf_end(elf);
    return yes;
}

/* The interpreter of a "#!" line in 'head' into 'out' ("/usr/bin/env
 * python3" gives python3, looked up later); 0 or -1. */
static int shebang(char *head, char *out, size_t len)
{
    char *p = head + 2, *word, *save = NULL;

    head[strcspn(head, "\n")] = '\0';
    if (!(word = strtok_r(p, " \t", &save)))
        return -1;
    if (strcmp(strrchr(word, '/') ? strrchr(word, '/') + 1 : word, "env") == 0)
        while ((word = strtok_r(NULL, " \t", &save)) && (word[0] == '-' || strchr(word, '=')))
            ; /* env -S, env VAR=value */
    if (!word)
        return -1;
    snprintf(out, len, "%s", word);
    return 0;
}

/* "python", "python3", "python3.11", "python3.12d": what pyenv's and
 * virtualenv's wrappers (shell scripts, symlinks) are called. */
static int python_name(const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    if (strncmp(base, "python", 6) != 0)
        return 0;
    base += 6;
    base += strspn(base, "0123456789.");
    return !*base || strcmp(base, "d") == 0 || strcmp(base, "m") == 0;
}

int tm__is_cpython(const char *prog)
{
    char path[PATH_MAX], next[PATH_MAX], head[256];

    snprintf(next, sizeof next, "%s", prog);
    for (int depth = 0; depth < 4; depth++) { /* scripts run by scripts */
        ssize_t n;
        int fd, yes;

        if (path_lookup(next, path, sizeof path) || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return 0;
        n = read(fd, head, sizeof head - 1);
        if (n >= 4 && memcmp(head, "\177ELF", 4) == 0) {
            yes = elf_is_python(fd);
            close(fd);
            return yes;
        }
        close(fd);
        if (n < 3 || head[0] != '#' || head[1] != '!')
            return python_name(next);
        if (python_name(next))
            return 1; /* a wrapper script named python3 (pyenv's shims) */
        head[n] = '\0';
        if (shebang(head, next, sizeof next))
            return 0;
    }
    return 0;
}
