/* quote.h - making strings from the input safe to show on a terminal.
 *
 * File names, function names, module paths and type names come from
 * snapshots and command lines, and may hold any byte. Before they reach
 * a terminal (error messages, text output) every control character
 * (0x01-0x1f and 0x7f) is written as a C escape: \n, \t, \r, else \xNN
 * (ESC is \x1b). Other bytes, backslashes included, are kept, so names
 * without control characters look exactly as before. JSON output needs
 * none of this (jansson escapes), nor does a suppressions file
 * (leaks.c writes its own escapes, which the reader reads back).
 */
#ifndef TM_REPORT_QUOTE_H
#define TM_REPORT_QUOTE_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when 'c' is a control character that tm_quote() escapes. */
static inline int tm_is_control(unsigned char c)
{
    return (c > 0 && c < 0x20) || c == 0x7f;
}

/* 's' when it holds no control character; else 's' quoted into 'buf' of
 * 'cap' bytes (cut short at a whole escape when it does not fit).
 * 's' NULL gives NULL. */
const char *tm_quote(const char *s, char *buf, size_t cap);

/* Writes 's' quoted to 'fp' (nothing for NULL), and only the first 'len'
 * bytes for tm_fputn_quoted(). */
void tm_fputs_quoted(const char *s, FILE *fp);
void tm_fputn_quoted(const char *s, size_t len, FILE *fp);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_QUOTE_H */
